"""The audit log: one CloudTrail-like JSON object per line for every ``authz.v1`` RPC.

Owns the event shape and its writer. The hot path only enqueues the raw call (method, request
and response messages, identity, outcome); a background thread turns it into JSON and writes it.

    {"eventVersion": "1.0", "eventTime": ..., "eventSource": "authz", "eventName": "AssumeRole",
     "eventID": ..., "requestID": ..., "sourceIPAddress": ..., "userAgent": ...,
     "userIdentity": {"type", "principalId", "arn", "accountId", "accessKeyId"?},
     "requestParameters": {...}, "responseElements": {...} | null,
     "errorCode"?: ..., "errorMessage"?: ..., "revision"?: ..., "decision"?: ...}

Secrets never reach the file: the fields ``secretAccessKey``, ``sessionToken`` and
``tokenCode`` are dropped wherever they occur in parameters or response elements, and the
caller's own credentials (metadata) are never part of an event.

Guarantees (docs/operations.md, "Audit log"):

- **No silent loss.** Every event is either written or counted in
  ``authz_audit_dropped_events_total{reason}`` (``queue_full``: the bounded queue was full;
  ``write_error`` / ``disk_full``: the write failed; ``encode_error``; ``shutdown``: still
  queued when the close timeout ran out), and reported in one log line per interval (not one
  per event). The RPC proceeds either way: auditing never slows or fails a decision.
- **Whole lines.** A batch of lines is appended with ``write(2)`` on an ``O_APPEND``
  descriptor; a write that fails part-way is truncated back (when no other writer appended
  meanwhile), else the next write starts on a fresh line. A file that ends inside a line when
  opened is continued on a fresh line too.
- **Reopen.** The path is checked every second: a file rotated by rename, deleted, or whose
  directory was removed is reopened (the directory recreated, mode 0700); SIGUSR1 reopens at
  once. The file is created with mode 0600.
- **Bounded shutdown.** ``close()`` waits at most its timeout; writes never block on a flush
  of buffered data (there is none), and failing writes fail fast.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from authz.iam.model import CallerKind
from authz.server.ports import Identity

_log = logging.getLogger("authz.server.audit")

SECRET_FIELDS = frozenset({"secretAccessKey", "sessionToken", "tokenCode", "webIdentityToken"})
# Responses too large or too public to be worth recording.
_OMIT_RESPONSE = frozenset({"GetSigningKeys"})

_IDENTITY_TYPE = {
    CallerKind.USER: "IAMUser",
    CallerKind.ROOT: "Root",
    CallerKind.ROLE: "Role",
    CallerKind.ASSUMED_ROLE: "AssumedRole",
    CallerKind.FEDERATED_USER: "FederatedUser",
    CallerKind.SERVICE: "AWSService",
    CallerKind.ANONYMOUS: "Unknown",
    CallerKind.WEB_IDENTITY: "WebIdentityUser",
}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What the edge hands over per RPC; converted to JSON off the request thread."""

    time: datetime
    method: str  # e.g. "AssumeRole"
    request_id: str
    identity: Identity | None
    request: Message | None
    response: Message | None
    error_code: str | None = None
    error_message: str | None = None
    peer: str = ""
    user_agent: str = ""


def scrub(value: Any) -> Any:
    """Drop secret fields anywhere in a JSON-like structure."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _user_identity(ident: Identity | None) -> dict[str, Any]:
    if ident is None:
        return {"type": "Unknown"}
    caller = ident.caller
    out: dict[str, Any] = {"type": _IDENTITY_TYPE.get(caller.kind, "Unknown"), "arn": caller.arn}
    if caller.unique_id:
        out["principalId"] = caller.unique_id
    if caller.account:
        out["accountId"] = caller.account
    if ident.access_key_id:
        out["accessKeyId"] = ident.access_key_id
    return out


def _to_dict(message: Message | None) -> dict[str, Any] | None:
    if message is None:
        return None
    return scrub(MessageToDict(message))  # type: ignore[no-any-return]


def build_event(record: AuditRecord) -> dict[str, Any]:
    """The CloudTrail-like event for one record (no secrets)."""
    event: dict[str, Any] = {
        "eventVersion": "1.0",
        "eventTime": record.time.astimezone(UTC).isoformat(timespec="milliseconds"),
        "eventSource": "authz",
        "eventName": record.method,
        "eventID": str(uuid.uuid4()),
        "requestID": record.request_id,
        "sourceIPAddress": record.peer,
        "userAgent": record.user_agent,
        "userIdentity": _user_identity(record.identity),
        "requestParameters": _to_dict(record.request),
        "responseElements": None,
    }
    response = _to_dict(record.response)
    if response is not None and record.method not in _OMIT_RESPONSE:
        event["responseElements"] = response
    if response is not None:
        if response.get("revision"):
            event["revision"] = response["revision"]
        if "decision" in response:
            event["decision"] = response["decision"]
    if record.error_code:
        event["errorCode"] = record.error_code
        event["errorMessage"] = record.error_message or ""
    return event


DropHook = Callable[[str, int], None]

# Why events were not written, as reported in ``authz_audit_dropped_events_total{reason}``.
QUEUE_FULL = "queue_full"
WRITE_ERROR = "write_error"
DISK_FULL = "disk_full"
ENCODE_ERROR = "encode_error"
SHUTDOWN = "shutdown"

_BATCH = 512  # events joined into one write


class AuditLog:
    """Bounded queue + writer thread; see the module docstring for the guarantees.

    ``sink`` is a path (the production case: reopened after rotation or deletion, written with
    whole-line ``write(2)`` calls on an ``O_APPEND`` descriptor) or an open text stream (tests).
    ``on_drop(reason, count)`` is called for every event that is not written."""

    def __init__(
        self,
        sink: TextIO | str | Path,
        *,
        max_queue: int = 10_000,
        on_drop: DropHook | None = None,
        report_interval: float = 10.0,
        check_interval: float = 1.0,
    ) -> None:
        self._path = Path(sink) if isinstance(sink, str | Path) else None
        self._stream = None if isinstance(sink, str | Path) else sink
        self._fd = -1
        self._torn = False  # the file may end inside a line: start the next write on a fresh one
        if self._path is not None:
            self._fd = self._open(self._path)  # start-up: an unusable path is an error here
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue(maxsize=max_queue)
        self._on_drop = on_drop
        self._report_interval = report_interval
        self._check_interval = check_interval
        self._lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self._unreported: dict[str, int] = {}
        self._last_error = ""
        self._last_report = -float("inf")
        self._last_check = time.monotonic()
        self._reopen = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="authz-audit", daemon=True)
        self._thread.start()

    # -- the request side ----------------------------------------------------------------------

    def submit(self, record: AuditRecord) -> bool:
        """Enqueue without blocking; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._dropped(QUEUE_FULL, 1, "the audit queue is full")
            return False
        return True

    def request_reopen(self) -> None:
        """Reopen the file before the next write (SIGUSR1 after an external rotation; a
        rotation by rename or a deleted file is also noticed within ``check_interval``)."""
        self._reopen.set()

    # -- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=min(self._report_interval, 1.0))
            except queue.Empty:
                if self._stop.is_set():
                    return
                self._report(force=False)
                continue
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in batch if r is not None]
            if records:
                self._write_records(records)
            self._report(force=False)
            if self._stop.is_set() and self._queue.empty():
                return

    def _write_records(self, records: list[AuditRecord]) -> None:
        lines: list[str] = []
        for record in records:
            try:
                lines.append(json.dumps(build_event(record), default=str, separators=(",", ":")))
            except Exception as err:  # one bad record must not stop the others
                self._dropped(ENCODE_ERROR, 1, f"{type(err).__name__}: {err}")
        if not lines:
            return
        text = "\n".join(lines) + "\n"
        if self._stream is not None:
            try:
                self._stream.write(text)
                self._stream.flush()
            except Exception as err:
                self._dropped(WRITE_ERROR, len(lines), f"{type(err).__name__}: {err}")
                return
        elif not self._write_file(text.encode("utf-8"), len(lines)):
            return
        with self._lock:
            self.written += len(lines)

    def _write_file(self, data: bytes, count: int) -> bool:
        """Append whole lines; on failure nothing of them stays (or the next write starts on a
        fresh line), and all ``count`` are counted as dropped."""
        self._check_file()
        if self._fd < 0:
            self._fd = self._try_open()
            if self._fd < 0:
                self._dropped(WRITE_ERROR, count, self._last_error)
                return False
        if self._torn:
            data = b"\n" + data
        fd, written = self._fd, 0
        try:
            size = os.fstat(fd).st_size
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError as err:
            if written:
                self._torn = not _truncate_back(fd, size, written)
            reason = DISK_FULL if err.errno in (errno.ENOSPC, errno.EDQUOT) else WRITE_ERROR
            self._dropped(reason, count, f"{err.strerror or err} ({self._path})")
            return False
        self._torn = False
        return True

    def _check_file(self) -> None:
        """Reopen when asked, or when the path no longer names the open file (rotated by
        rename, deleted, its directory removed). At most every ``check_interval`` seconds."""
        now = time.monotonic()
        if not self._reopen.is_set() and now - self._last_check < self._check_interval:
            return
        self._last_check = now
        assert self._path is not None
        if not self._reopen.is_set() and self._fd >= 0:
            try:
                on_disk = os.stat(self._path)
                mine = os.fstat(self._fd)
                if (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino):
                    return
            except OSError:
                pass
        self._reopen.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._fd = self._try_open()
        if self._fd >= 0:
            _log.warning("audit log reopened", extra={"path": str(self._path)})

    def _try_open(self) -> int:
        assert self._path is not None
        try:
            if not self._path.parent.exists():
                self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                _log.warning("audit log directory recreated", extra={"path": str(self._path)})
            return self._open(self._path)
        except OSError as err:
            self._last_error = f"cannot open the audit log `{self._path}`: {err.strerror or err}"
            return -1

    def _open(self, path: Path) -> int:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._torn = _ends_inside_line(path, os.fstat(fd).st_size)
        return fd

    # -- accounting ----------------------------------------------------------------------------

    def _dropped(self, reason: str, count: int, error: str) -> None:
        with self._lock:
            self.dropped += count
            self._unreported[reason] = self._unreported.get(reason, 0) + count
            self._last_error = error
        if self._on_drop is not None:
            self._on_drop(reason, count)
        self._report(force=False)

    def _report(self, *, force: bool) -> None:
        """One log line per ``report_interval`` at most, summing what was not written."""
        with self._lock:
            now = time.monotonic()
            if not self._unreported or (
                not force and now - self._last_report < self._report_interval
            ):
                return
            counts, self._unreported = self._unreported, {}
            self._last_report = now
            error = self._last_error
        _log.error(
            "audit events not written: %d (%s); last error: %s",
            sum(counts.values()),
            ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
            error,
            extra={"dropped": counts},
        )

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued within ``timeout`` seconds, then stop. Never blocks longer:
        events still queued then are counted as dropped (``shutdown``)."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # wake the writer
        self._thread.join(timeout)
        if self._thread.is_alive():
            left = self._queue.qsize()
            if left:
                self._dropped(SHUTDOWN, left, "the audit writer did not finish in time")
        else:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self._report(force=True)


def _ends_inside_line(path: Path, size: int) -> bool:
    if not size:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.pread(fd, 1, size - 1) != b"\n"
    finally:
        os.close(fd)


def _truncate_back(fd: int, size: int, written: int) -> bool:
    """Remove a partial batch (``written`` bytes appended after ``size``) if nobody else has
    appended since; True when the file ends on a whole line again."""
    try:
        if os.fstat(fd).st_size == size + written:
            os.ftruncate(fd, size)
            return True
    except OSError:
        pass
    return False
