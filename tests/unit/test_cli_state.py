"""``authz state``: key generation (and, below, migration of the JSON stores)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from authz import cli
from authz.state.sealing import Sealer


def test_keygen_writes_a_private_key_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.key"
    assert cli.main(["state", "keygen", "--key-file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = Sealer.from_key_file(path, create=False).seal(b"x")
    before = path.read_bytes()
    assert path.read_text().strip() not in capsys.readouterr().out  # never printed
    assert cli.main(["state", "keygen", "--key-file", str(path)]) == 2
    assert "exists" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert Sealer.from_key_file(path, create=False).unseal(token) == b"x"
