"""What the fuzz suite found (issue 10 item 8), as the attacks they are, against a real server
on 127.0.0.1: a 12-digit epoch date — a year past 9999 — in a Date condition or in the request
context. On 0b9b4d1 ``datetime.fromtimestamp`` raised ValueError on them: the policy literal
failed its whole layer closed and the context value was unreadable, both wrong denies (this
test fails there on its first call). Both are valid dates to IAM and compare as such (the
reference evaluator, spec §4.4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from authz._gen.authz.v1 import authorizer_pb2
from tests.integration.e2e.harness import ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111122223333"
KEY = "s3:object-lock-retain-until-date"  # an S3 condition key of type Date
FAR = "999999999999"  # epoch seconds: year 33658


def _allow(action: str, operator: str, value: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": action,
                "Resource": "arn:aws:s3:::locked/*",
                "Condition": {operator: {KEY: value}},
            }
        ],
    }


def _repo(root: Path) -> tuple[Path, str]:
    repo = RepoBuilder()
    user = repo.user(
        ACCOUNT,
        "dana",
        inline=[
            _allow("s3:GetObject", "DateGreaterThan", "2020-01-01T00:00:00Z"),
            _allow("s3:PutObject", "DateLessThan", FAR),
        ],
    )
    return repo.write(root / "repo"), user


def test_far_epoch_dates_decide_instead_of_crashing(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    root, user = _repo(tmp_path)
    env = start_server(root)
    with env.client(env.access_key(user)) as client:
        # the caller's far-future value in the context: later than 2020 (was a deny)
        got = client.authorize("s3:GetObject", "arn:aws:s3:::locked/a", context={KEY: FAR})
        assert got.decision == authorizer_pb2.DECISION_ALLOWED, got
        # a far-future literal in the policy: 2021 is before it (was a fail-closed deny)
        got = client.authorize(
            "s3:PutObject", "arn:aws:s3:::locked/a", context={KEY: "2021-06-01T00:00:00Z"}
        )
        assert got.decision == authorizer_pb2.DECISION_ALLOWED, got
        # and the far value is not before itself
        got = client.authorize("s3:PutObject", "arn:aws:s3:::locked/a", context={KEY: FAR})
        assert got.decision == authorizer_pb2.DECISION_IMPLICIT_DENY, got
        # the server is still healthy
        assert client.get_caller_identity().arn == user
