"""The audit log (events, no secrets, drop-when-full) and the JSON logger (no tokens)."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from authz import errors
from authz.client import AuthzClient, SessionCredentials
from authz.server import AuthzServer, callctx
from authz.server.audit import AuditLog, AuditRecord
from authz.server.logs import JsonFormatter
from tests.integration.fakes import ALICE_KEY, ENFORCER_KEY, ROLE_ARN, SESSION_KEY, FakeBackend


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_log_has_events_and_no_secrets(
    server: AuthzServer,
    client: AuthzClient,
    enforcer: AuthzClient,
    backend: FakeBackend,
    target: str,
    audit_path: Path,
) -> None:
    assumed = client.assume_role(ROLE_ARN, "s1", token_code="123456", serial_number="mfa")
    token = assumed.credentials.session_token
    expiration = assumed.credentials.expiration.ToDatetime(tzinfo=UTC)
    with AuthzClient(target, SessionCredentials(token, expiration, *SESSION_KEY)) as session_client:
        session_client.authorize("s3:GetObject", "arn:aws:s3:::b", request_id="req-audit-1")
    enforcer.authorize("s3:DeleteObject", "arn:aws:s3:::b", session_token=token)
    with pytest.raises(errors.AccessDenied):
        client.assume_role("arn:aws:iam::111122223333:role/other", "s2")
    server.shutdown(grace=1)  # flushes the audit queue

    text = audit_path.read_text()
    for secret in (ALICE_KEY[1], ENFORCER_KEY[1], token, "session-secret-DO-NOT-LOG", "123456"):
        assert secret not in text
    events = _events(audit_path)
    assert [e["eventName"] for e in events] == [
        "AssumeRole",
        "Authorize",
        "Authorize",
        "AssumeRole",
    ]
    assume, allowed, on_behalf, refused = events
    assert assume["userIdentity"] == {
        "type": "IAMUser",
        "arn": "arn:aws:iam::111122223333:user/alice",
        "principalId": "AIDAalice",
        "accountId": "111122223333",
        "accessKeyId": ALICE_KEY[0],
    }
    assert assume["requestParameters"]["roleArn"] == ROLE_ARN
    assert assume["requestParameters"]["serialNumber"] == "mfa"
    assert assume["responseElements"]["credentials"]["accessKeyId"] == "ASIAFAKE0000000001"
    assert assume["revision"] == "rev-1"
    assert allowed["requestID"] == "req-audit-1" and allowed["decision"] == "DECISION_ALLOWED"
    assert allowed["userIdentity"]["type"] == "AssumedRole"
    assert on_behalf["decision"] == "DECISION_EXPLICIT_DENY"
    assert "sessionToken" not in on_behalf["requestParameters"]
    assert refused["errorCode"] == "AccessDenied" and refused["responseElements"] is None
    assert "eventTime" in refused and refused["errorMessage"].startswith("User: ")


class _BlockingSink(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def write(self, text: str) -> int:
        self.gate.wait(5)
        return super().write(text)


def test_audit_queue_full_drops_and_counts() -> None:
    sink = _BlockingSink()
    dropped: list[int] = []
    audit = AuditLog(sink, max_queue=1, on_drop=lambda reason, n: dropped.extend([n]))
    record = AuditRecord(datetime.now(UTC), "GetStatus", "r", None, None, None)
    accepted = [audit.submit(record) for _ in range(5)]
    assert accepted.count(False) >= 3 and audit.dropped == len(dropped) == accepted.count(False)
    sink.gate.set()
    audit.close(timeout=2)
    assert len(sink.getvalue().splitlines()) == accepted.count(True)


def test_json_logs_carry_request_id_and_no_tokens() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("authz.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with callctx.bound("req-7", None):
            logger.info("got Bearer abc.def header and token eyJhbGciOi.eyJzdWIi.sig")
            logger.info("secret", extra={"detail": "secret_access_key=xyz123"})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert all(line["request_id"] == "req-7" for line in lines)
    text = stream.getvalue()
    assert "abc.def" not in text and "eyJzdWIi" not in text and "xyz123" not in text
