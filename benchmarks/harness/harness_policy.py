"""The fixed workload of the baseline harnesses: a 10-statement Cedar policy set shaped like
authz's translated IAM statements (one policy per statement, ``like`` on the action name and
resource ARN, guarded context keys), its action-group entities, and a pool of distinct
requests. Parsed once at start-up (pre-parsed ``PolicySet`` / ``Entities``); imports nothing
from authz so the harnesses stay a baseline independent of the project's code.
"""

from __future__ import annotations

from typing import Any

import cedarpy

ACCOUNT = "111122223333"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/bench-role"
POOL_SIZE = 1000

_SERVICES = ["s3", "dynamodb", "sqs", "sns", "kms"]
_VERBS = ["get", "put", "list", "delete", "describe"]

POLICIES = f"""
@id("identity:App:0")
permit (principal, action, resource) when {{
  (action in Iam::Action::"g:s3read" || context.iam_action like "s3:list*") &&
  context.res_arn like "arn:aws:s3:::bucket-a/*" }};
@id("identity:App:1")
permit (principal, action, resource) when {{
  context.iam_action like "dynamodb:get*" &&
  context.res_arn like "arn:aws:dynamodb:*:{ACCOUNT}:table/orders*" }};
@id("identity:App:2")
permit (principal, action, resource) when {{
  context.iam_action like "sqs:*" && context.res_arn like "arn:aws:sqs:*:{ACCOUNT}:jobs-*" &&
  (context has "aws:sourceip" && context["aws:sourceip"].isInRange(ip("10.0.0.0/8"))) }};
@id("identity:App:3")
permit (principal, action, resource) when {{
  context.iam_action like "sns:publish" && context.res_arn like "arn:aws:sns:*:{ACCOUNT}:*" }};
@id("identity:App:4")
permit (principal, action, resource) when {{
  context.iam_action like "kms:describe*" || context.iam_action like "kms:list*" }};
@id("identity:App:5")
forbid (principal, action, resource) when {{
  context.iam_action like "s3:delete*" && context.res_arn like "arn:aws:s3:::bucket-a/locked/*" }};
@id("identity:App:6")
forbid (principal, action, resource) when {{
  context has "aws:securetransport" && context["aws:securetransport"] == false }};
@id("identity:App:7")
permit (principal, action, resource) when {{
  context.iam_action like "s3:put*" && context.res_arn like "arn:aws:s3:::bucket-b/*" &&
  (context has "s3:x-amz-acl" && context["s3:x-amz-acl"] == "private") }};
@id("identity:App:8")
permit (principal, action, resource) when {{
  context.iam_action like "dynamodb:query" && context.res_arn like "*:table/orders/index/*" }};
@id("trust:bench-role:0")
permit (principal, action, resource) when {{
  principal in Iam::Account::"{ACCOUNT}" && action == Iam::Action::"sts:assumerole" }};
"""

ENTITIES: list[dict[str, Any]] = [
    {"uid": {"type": "Iam::Action", "id": "g:s3read"}, "attrs": {}, "parents": []},
    {
        "uid": {"type": "Iam::Action", "id": "s3:getobject"},
        "attrs": {},
        "parents": [{"type": "Iam::Action", "id": "g:s3read"}],
    },
    {"uid": {"type": "Iam::Account", "id": ACCOUNT}, "attrs": {}, "parents": []},
    {
        "uid": {"type": "Iam::Role", "id": ROLE_ARN},
        "attrs": {},
        "parents": [{"type": "Iam::Account", "id": ACCOUNT}],
    },
]


def parse() -> tuple[Any, Any]:
    """The pre-parsed (PolicySet, Entities) handles."""
    import json

    return cedarpy.PolicySet.from_str(POLICIES), cedarpy.Entities.from_json_str(
        json.dumps(ENTITIES)
    )


def _resource(service: str, i: int) -> str:
    return {
        "s3": f"arn:aws:s3:::bucket-{'ab'[i % 2]}/key-{i}",
        "dynamodb": f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders-{i}",
        "sqs": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs-{i}",
        "sns": f"arn:aws:sns:eu-west-1:{ACCOUNT}:topic-{i}",
        "kms": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{i}",
    }[service]


def request_pool() -> list[dict[str, Any]]:
    """``POOL_SIZE`` distinct Authorize-shaped requests (about half allowed)."""
    pool = []
    for i in range(POOL_SIZE):
        service = _SERVICES[i % len(_SERVICES)]
        action = f"{service}:{_VERBS[(i // 5) % len(_VERBS)]}object"
        resource = _resource(service, i)
        pool.append(
            {
                "principal": {"type": "Iam::User", "id": f"arn:aws:iam::{ACCOUNT}:user/u{i}"},
                "action": {"type": "Iam::Action", "id": action},
                "resource": {"type": "Iam::Resource", "id": resource},
                "context": {
                    "iam_action": action,
                    "res_arn": resource,
                    "aws:sourceip": {"__extn": {"fn": "ip", "arg": f"10.0.{i % 256}.1"}},
                    "aws:securetransport": True,
                },
            }
        )
    return pool


def assume_role_request(index: int) -> dict[str, Any]:
    """A trust-policy decision: a role session of the account asks for sts:AssumeRole."""
    return {
        "principal": {"type": "Iam::Role", "id": ROLE_ARN},
        "action": {"type": "Iam::Action", "id": "sts:assumerole"},
        "resource": {"type": "Iam::Resource", "id": f"{ROLE_ARN}#{index}"},
        "context": {"iam_action": "sts:assumerole", "res_arn": ROLE_ARN},
    }
