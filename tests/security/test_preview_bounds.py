"""Attacks on the change preview: asking PreviewReload for unbounded work, calling it in a loop
to keep the server building repositories, and handing ``authz diff`` a huge request file. Each
is refused at the door with an error that names the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from authz import errors
from authz.cli import main
from tests.integration.e2e.harness import ServerFactory


def test_preview_work_is_bounded(start_server: ServerFactory, example_repo: Path) -> None:
    env = start_server(example_repo)
    with env.client(env.example_admin()) as client:  # authz:PreviewReload
        with pytest.raises(errors.ValidationError, match="max_requests must be between 1 and"):
            client.preview_reload(max_requests=10**9)
        with pytest.raises(errors.ValidationError, match="max_seconds must be between"):
            client.preview_reload(max_seconds=86400)
        assert client.preview_reload(max_requests=5).requests_replayed <= 5


def test_a_preview_loop_is_throttled(start_server: ServerFactory, example_repo: Path) -> None:
    env = start_server(example_repo, reload_rpc_per_second=0.1, reload_rpc_burst=2)
    with env.client(env.example_admin()) as client:  # authz:PreviewReload
        client.preview_reload()
        client.preview_reload()
        with pytest.raises(errors.Throttling, match="PreviewReload shares the Reload rate"):
            client.preview_reload()
        with pytest.raises(errors.Throttling):
            client.reload()  # the same bucket: a preview loop cannot starve reload accounting


def test_a_huge_request_file_is_refused_unread(
    tmp_path: Path, example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "audit.jsonl"
    with huge.open("wb") as out:
        out.truncate(9 * 1024 * 1024)  # sparse: larger than the 8 MiB limit
    code = main(
        ["diff", "--repo", str(example_repo), "--candidate", str(example_repo),
         "--requests", str(huge)]
    )  # fmt: skip
    assert code == 2
    assert "is larger than 8388608 bytes" in capsys.readouterr().err
