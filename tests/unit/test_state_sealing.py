"""Sealing of secrets at rest: the key file (created 0600 only when asked, never over an
existing one, several keys for rotation) and what a wrong key or tampered data gives."""

from __future__ import annotations

import logging
import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from authz.state.sealing import Sealer, SealError, new_key_line


def test_round_trip_and_tokens_differ(tmp_path: Path) -> None:
    sealer = Sealer.from_key_file(tmp_path / "state.key", create=True)
    one, two = sealer.seal(b"wJalrXUtnFEMI"), sealer.seal(b"wJalrXUtnFEMI")
    assert one != two  # a fresh IV each time: equal secrets are not visibly equal
    assert b"wJalrXUtnFEMI" not in one.encode()
    assert sealer.unseal(one) == sealer.unseal(two) == b"wJalrXUtnFEMI"


def test_created_key_file_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.key"
    token = Sealer.from_key_file(path, create=True).seal(b"secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    again = Sealer.from_key_file(path, create=True)  # exists: used, not replaced
    assert path.read_bytes() == before
    assert again.unseal(token) == b"secret"


def test_missing_key_file_without_create_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(SealError, match=r"state key file `.*absent\.key` does not exist"):
        Sealer.from_key_file(path, create=False)
    assert not path.exists()  # never created for a shared database


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "state.key"
    sealers: list[Sealer] = []

    def make() -> None:
        sealers.append(Sealer.from_key_file(path, create=True))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    token = sealers[0].seal(b"x")
    assert all(s.unseal(token) == b"x" for s in sealers)
    assert len(path.read_bytes().split()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.key"]  # no temp files left


def test_wrong_key_and_tampering_raise_seal_error(tmp_path: Path) -> None:
    sealer = Sealer.from_key_file(tmp_path / "a.key", create=True)
    other = Sealer.from_key_file(tmp_path / "b.key", create=True)
    token = sealer.seal(b"secret")
    with pytest.raises(SealError, match="cannot be opened"):
        other.unseal(token)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    for bad in (tampered, token[:20], "", "not base64 ☃"):
        with pytest.raises(SealError):
            sealer.unseal(bad)


def test_rotation_first_key_seals_every_key_unseals(tmp_path: Path) -> None:
    old_path, path = tmp_path / "old.key", tmp_path / "rotated.key"
    old = Sealer.from_key_file(old_path, create=True)
    old_token = old.seal(b"before rotation")
    path.write_bytes(b"# rotated\n" + new_key_line() + b"\n" + old_path.read_bytes())
    rotated = Sealer.from_key_file(path, create=False)
    assert rotated.key_count == 2
    assert rotated.unseal(old_token) == b"before rotation"
    new_token = rotated.reseal(old_token)
    assert rotated.unseal(new_token) == b"before rotation"
    with pytest.raises(SealError):
        old.unseal(new_token)  # sealed under the new (first) key


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "holds no key"),
        (b"# only a comment\n\n", "holds no key"),
        (b"not-a-key\n", "line 1: not a Fernet key"),
        (Fernet.generate_key() + b"\nshort\n", "line 2: not a Fernet key"),
    ],
)
def test_bad_key_files_are_refused_by_name(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "state.key"
    path.write_bytes(content)
    with pytest.raises(SealError, match=problem) as caught:
        Sealer.from_key_file(path, create=True)  # create never replaces a bad file
    assert str(path) in caught.value.message
    assert path.read_bytes() == content


def test_key_file_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SealError, match="is not a file"):
        Sealer.from_key_file(tmp_path, create=False)


def test_oversized_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.key"
    path.write_bytes(b"#" * (70 * 1024))
    with pytest.raises(SealError, match="larger than"):
        Sealer.from_key_file(path, create=False)


def test_world_readable_key_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.key"
    path.write_bytes(new_key_line())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="authz.state.sealing"):
        Sealer.from_key_file(path, create=False)
    assert "chmod 600" in caplog.text
    assert path.read_text().strip() not in caplog.text  # never the key
