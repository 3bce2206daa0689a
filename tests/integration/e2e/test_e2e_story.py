"""The seed's story end to end on the example repository: Bob's access key → AssumeRole `foo`
→ Authorize with the session token over TLS (the bucket policy denies plaintext; the server
knows the transport, the caller does not say it); the audit log records it without a secret."""

from __future__ import annotations

import json
from pathlib import Path

from authz._gen.authz.v1 import authorizer_pb2
from tests.integration.e2e.harness import Pki, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
REPORT = "arn:aws:s3:::example-reports/2024/q1.csv"
DANA = "arn:aws:iam::111122223333:user/Dana"  # may call authz:GetStatus


def test_bob_assumes_foo_and_reads_the_reports(
    start_server: ServerFactory, example_repo: Path, pki: Pki
) -> None:
    env = start_server(example_repo, pki=pki)
    bob = env.access_key(BOB)
    with env.client(env.access_key(DANA)) as operator:
        revision = operator.get_status().revision

    assumed, session = env.assume(bob, FOO, "Bob")
    assert assumed.assumed_role_user.arn == "arn:aws:sts::444455556666:assumed-role/foo/Bob"
    with env.client(session) as client:
        read = client.authorize("s3:GetObject", REPORT)
        delete = client.authorize("s3:DeleteObject", REPORT)

    assert read.decision == authorizer_pb2.DECISION_ALLOWED
    assert read.principal_arn == assumed.assumed_role_user.arn
    assert revision and read.revision == revision == assumed.revision
    assert delete.decision == authorizer_pb2.DECISION_IMPLICIT_DENY
    assert delete.failing_layer == "identity"
    assert "s3:DeleteObject" in delete.reason

    events = env.audit_events(4)
    names = [e["eventName"] for e in events]
    assert names.count("AssumeRole") == 1 and names.count("Authorize") == 2, names
    authorize_events = [e for e in events if e["eventName"] == "Authorize"]
    recorded = {
        e["requestParameters"]["action"]: (e["decision"], e["revision"]) for e in authorize_events
    }
    assert recorded == {
        "s3:GetObject": ("DECISION_ALLOWED", revision),
        "s3:DeleteObject": ("DECISION_IMPLICIT_DENY", revision),
    }
    assert all(e["userIdentity"]["arn"] == assumed.assumed_role_user.arn for e in authorize_events)
    text = env.audit_path.read_text(encoding="utf-8")
    for secret in (bob.secret, assumed.credentials.secret_access_key, session.token):
        assert secret not in text
    # nor any fragment of the token (e.g. its signature), nor a JWS-looking value
    assert session.token.rsplit(".", 1)[-1] not in text
    assert "eyJ" not in json.dumps(events)
