"""Every public ``assume_role`` vector again, through the AWS-compatible endpoint: the case's
AWS parameters sent by boto3 (Query protocol, SigV4 by botocore, client-side parameter
validation off so that the server judges every value), the AWS error code and HTTP status
from the XML error document, the session then used over HTTP (GetCallerIdentity) and over
gRPC (the case's Authorize follow-ups, signed with the session's secret).

Repositories and caller credentials are built exactly as for the gRPC run
(``test_assume_role_vectors.CaseRun``). Callers of type ``service`` authenticate by mTLS
client certificate, which the HTTP endpoint does not map to principals (it knows SigV4
only): those cases are skipped with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from authz.client.credentials import AccessKeyCredentials, SessionCredentials
from tests.cases.loader import load_cases
from tests.integration.e2e.harness import E2EServer, Pki, ServerFactory
from tests.integration.e2e.test_assume_role_vectors import (
    _DECISIONS,
    CannotExpress,
    CaseRun,
)


def boto_sts(env: E2EServer, creds: Any, forwarded_for: str | None) -> Any:
    if isinstance(creds, AccessKeyCredentials):
        keys = {"aws_access_key_id": creds.key_id, "aws_secret_access_key": creds.secret}
    else:
        assert isinstance(creds, SessionCredentials)
        keys = {
            "aws_access_key_id": creds.access_key_id,
            "aws_secret_access_key": creds.secret,
            "aws_session_token": creds.token,
        }
    assert env.server.aws is not None
    client = boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{env.server.aws.port}",
        region_name="us-east-1",
        config=botocore.config.Config(
            parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}
        ),
        **keys,
    )
    if forwarded_for is not None:  # the case's aws:SourceIp, from a trusted proxy

        def add_header(request: Any, **_: Any) -> None:
            request.headers["X-Forwarded-For"] = forwarded_for

        client.meta.events.register("before-sign.sts.*", add_header)
    return client


def check_error(expected: Mapping[str, Any], error: botocore.exceptions.ClientError) -> None:
    code = error.response["Error"]["Code"]
    message = error.response["Error"]["Message"]
    codes = expected.get("error_code_any_of") or [expected["error_code"]]
    assert code in codes, f"{code}: {message}"
    if expected.get("http_status"):
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == expected["http_status"]
    pattern = expected.get("message_pattern")
    if pattern:
        assert re.search(pattern, message), message


def check_success(expected: Mapping[str, Any], response: Any, called_at: datetime) -> None:
    user = expected["assumed_role_user"]
    assert response["AssumedRoleUser"] == {
        "Arn": user["Arn"],
        "AssumedRoleId": user["AssumedRoleId"],
    }
    creds = response["Credentials"]
    assert re.match(expected["credentials"]["access_key_id_pattern"], creds["AccessKeyId"])
    assert creds["SecretAccessKey"] and creds["SessionToken"]
    lifetime = (creds["Expiration"].astimezone(UTC) - called_at).total_seconds()
    assert abs(lifetime - expected["credentials"]["duration_seconds"]) <= 5, lifetime
    if "source_identity" in expected:
        assert response.get("SourceIdentity") == expected["source_identity"]
    if expected.get("packed_policy_size_present"):
        assert "PackedPolicySize" in response


@pytest.mark.parametrize("case", load_cases("assume_role"))
def test_assume_role_vector_over_http(
    case: dict[str, Any], start_server: ServerFactory, pki: Pki, tmp_path: Path
) -> None:
    run = CaseRun(case)
    if case["caller"]["type"] == "service":
        pytest.skip("an mTLS service principal: the HTTP endpoint authenticates SigV4 only")
    try:
        repo = run.build(tmp_path / "repo")
    except CannotExpress as why:
        pytest.fail(f"{case['id']} cannot be expressed end to end: {why}")
    env = start_server(repo, aws_listen="127.0.0.1:0", **run.server_options(pki))
    sts = boto_sts(env, run.credentials(env), run.forwarded_for)
    expected = case["expected"]
    called_at = datetime.now(UTC)
    try:
        response = sts.assume_role(**case["params"])
    except botocore.exceptions.ClientError as error:
        assert expected["outcome"] == "error", f"unexpected {error.response['Error']}"
        check_error(expected, error)
        return
    assert expected["outcome"] == "success", f"expected {expected.get('error_code')}"
    check_success(expected, response, called_at)
    creds = response["Credentials"]
    session = SessionCredentials(creds["SessionToken"], creds["Expiration"],
                                 creds["AccessKeyId"], creds["SecretAccessKey"])  # fmt: skip
    if "caller_identity" in expected:
        identity = boto_sts(env, session, None).get_caller_identity()
        found = {k: identity[k] for k in ("Arn", "UserId", "Account")}
        assert found == expected["caller_identity"]
    with env.client(session) as as_session:
        for followup in case.get("followups", ()):
            decided = as_session.authorize(
                followup["action"], followup["resource"]["arn"], context=followup.get("context")
            )
            want = followup["expected"]["decision"]
            assert decided.decision == _DECISIONS[want], (followup["action"], decided.reason)
