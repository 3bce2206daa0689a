"""Audit log faults (issue 12): a deleted directory, rotation by rename, write errors and a full
disk. No event is lost silently: each is written as a whole line or counted (and reported once
per interval, not once per event), and closing never hangs on a failing file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from authz.client import AccessKeyCredentials, AuthzClient
from authz.server import AuthzServer
from authz.server.audit import AuditLog, AuditRecord
from tests.integration import faultkit as fk
from tests.integration.fakes import ALICE_KEY

DEV_FULL = Path("/dev/full")


def _record(i: int) -> AuditRecord:
    return AuditRecord(datetime.now(UTC), "GetStatus", f"req-{i}", None, None, None)


def _lines(path: Path) -> list[dict[str, object]]:
    """Every line parsed: a torn line fails here."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines()]


def _ids(*paths: Path) -> list[str]:
    return [str(e["requestID"]) for p in paths for e in _lines(p)]


class _Drops:
    def __init__(self) -> None:
        self.by_reason: dict[str, int] = {}

    def __call__(self, reason: str, count: int) -> None:
        self.by_reason[reason] = self.by_reason.get(reason, 0) + count


def _submit(audit: AuditLog, start: int, count: int) -> None:
    for i in range(start, start + count):
        assert audit.submit(_record(i))


def _flushed(audit: AuditLog, total: int) -> bool:
    return fk.wait_until(lambda: audit.written + audit.dropped >= total, 5)


def test_deleted_directory_is_recreated_and_the_log_reopened(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    path.parent.mkdir()
    audit = AuditLog(path, check_interval=0.05)
    try:
        _submit(audit, 0, 5)
        assert _flushed(audit, 5)
        shutil.rmtree(path.parent)  # an operator's cleanup, or a volume remounted
        time.sleep(0.1)
        _submit(audit, 5, 5)
        assert _flushed(audit, 10)
    finally:
        audit.close()
    assert _ids(path) == [f"req-{i}" for i in range(5, 10)]
    assert audit.dropped == 0 and audit.written == 10
    assert path.stat().st_mode & 0o777 == 0o600


def test_rotation_by_rename_is_followed(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, check_interval=0.05)
    try:
        _submit(audit, 0, 5)
        assert _flushed(audit, 5)
        path.rename(tmp_path / "audit.jsonl.1")  # logrotate without copytruncate
        time.sleep(0.1)
        _submit(audit, 5, 5)
        assert _flushed(audit, 10)
        (tmp_path / "audit.jsonl").rename(tmp_path / "audit.jsonl.2")
        audit.request_reopen()  # SIGUSR1: reopen at once, no need to wait for the check
        _submit(audit, 10, 1)
        assert _flushed(audit, 11)
    finally:
        audit.close()
    rotated = [tmp_path / "audit.jsonl.1", tmp_path / "audit.jsonl.2", path]
    assert _ids(*rotated) == [f"req-{i}" for i in range(11)]
    assert audit.dropped == 0


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (every write: ENOSPC)")
def test_write_errors_are_counted_reported_once_and_close_is_prompt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drops = _Drops()
    caplog.set_level(logging.ERROR, logger="authz.server.audit")
    audit = AuditLog(DEV_FULL, on_drop=drops, report_interval=60)
    _submit(audit, 0, 2000)
    assert _flushed(audit, 2000)
    started = time.monotonic()
    audit.close(timeout=2)
    assert time.monotonic() - started < 2.5  # at 0b9b4d1 SIGTERM then took 20 s
    assert audit.written == 0 and audit.dropped == 2000
    assert drops.by_reason == {"disk_full": 2000}
    reports = [r for r in caplog.records if r.name == "authz.server.audit"]
    assert 1 <= len(reports) <= 2  # the first at once, the rest summed at close
    assert not any(r.exc_info for r in reports)  # no traceback per event
    assert "2000" in reports[-1].getMessage() or len(reports) == 2


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_loses_nothing_silently_and_leaves_no_torn_line(tiny_disk: Path) -> None:
    path = tiny_disk / "audit.jsonl"
    drops = _Drops()
    audit = AuditLog(path, on_drop=drops, report_interval=60)
    total = 0
    for burst in range(40):  # ~300 bytes an event: the 64 KiB fill up part-way
        _submit(audit, total, 25)
        total += 25
        assert _flushed(audit, total), burst
    started = time.monotonic()
    audit.close(timeout=2)
    assert time.monotonic() - started < 2.5
    written = _lines(path)  # every line whole
    assert len(written) == audit.written > 0
    assert audit.dropped == total - audit.written > 0
    assert drops.by_reason.get("disk_full", 0) == audit.dropped
    assert path.read_bytes().endswith(b"\n")


def test_a_file_left_inside_a_line_continues_on_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"eventName":"Whole"}\n{"eventName":"Torn', encoding="utf-8")
    audit = AuditLog(path)
    _submit(audit, 0, 1)
    assert _flushed(audit, 1)
    audit.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1] == '{"eventName":"Torn'  # the crash's leftover stays on its own line
    assert json.loads(lines[2])["requestID"] == "req-0"


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (every write: ENOSPC)")
def test_server_shutdown_is_prompt_while_the_audit_disk_fails(
    make_server: Callable[..., AuthzServer],
) -> None:
    server = make_server(audit_path=str(DEV_FULL))
    with AuthzClient(f"127.0.0.1:{server.port}", AccessKeyCredentials(*ALICE_KEY)) as client:
        for _ in range(50):
            client.authorize("s3:GetObject", "arn:aws:s3:::b")
    started = time.monotonic()
    server.shutdown(grace=1)
    assert time.monotonic() - started < 4
    dropped = server.metrics.registry.get_sample_value(
        "authz_audit_dropped_events_total", {"reason": "disk_full"}
    )
    assert dropped == 50


def test_audit_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    audit.close()
    assert os.stat(path).st_mode & 0o777 == 0o600
