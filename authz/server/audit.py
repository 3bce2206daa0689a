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

Back-pressure: the queue is bounded (``max_queue``). When it is full the event is **dropped**,
counted in ``authz_audit_dropped_events_total``, and the RPC proceeds: auditing never slows or
fails a decision. ``close()`` drains what is queued, within a timeout.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
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

SECRET_FIELDS = frozenset({"secretAccessKey", "sessionToken", "tokenCode"})
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


def _open_private(path: str | Path) -> TextIO:
    """Open the audit file for appending; a file created here is mode 0600 (owner only): the
    log names principals, resources and decisions. An existing file keeps its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return open(fd, "a", encoding="utf-8", buffering=1)


class AuditLog:
    """Bounded queue + writer thread. ``on_drop`` is called once per dropped event."""

    def __init__(
        self,
        sink: TextIO | str | Path,
        *,
        max_queue: int = 10_000,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self._own_sink = isinstance(sink, str | Path)
        self._sink: TextIO = _open_private(sink) if isinstance(sink, str | Path) else sink
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue(maxsize=max_queue)
        self._on_drop = on_drop
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="authz-audit", daemon=True)
        self._thread.start()

    def submit(self, record: AuditRecord) -> bool:
        """Enqueue without blocking; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()
            return False
        return True

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            if record is None:
                return
            try:
                line = json.dumps(build_event(record), default=str, separators=(",", ":"))
                self._sink.write(line + "\n")
                self._sink.flush()
            except Exception:  # the audit thread must survive one bad record
                _log.exception("audit event could not be written")

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (waiting at most ``timeout``), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            _log.warning("audit queue still full at close; remaining events are lost")
        self._thread.join(timeout)
        if self._own_sink:
            self._sink.close()
