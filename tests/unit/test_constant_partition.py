"""A partition whose statements are all unconditional answers without a native call
(``Partition.constant``): the answer must be exactly what Cedar gives for any request, and a
partition with any test in it must not be constant. Partitions are per service prefix, so a
statement can be unconditional in one (``NotAction: iam:*`` in the ``s3`` partition) and not
in another; ``expected`` is the ``s3`` partition's."""

from __future__ import annotations

from typing import Any

import pytest

from authz.cedar.context import RequestFacts
from authz.cedar.policyset import Partition
from authz.cedar.translate import translate_policies
from authz.iam.model import PolicyType
from authz.iam.parse import parse_policy

ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
# (name, policy type, layer, statements, expected constant: None or (allowed, deny, matched))
CASES: list[tuple[str, PolicyType, str, list[dict[str, Any]], Any]] = [
    ("FullAWSAccess", PolicyType.SCP, "scp", [ALLOW_ALL], (True, False, ("scp:p:#0",))),
    (
        "two unconditional allows",
        PolicyType.IDENTITY,
        "identity",
        [
            {**ALLOW_ALL, "Sid": "B"},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*", "Sid": "A"},
        ],
        (True, False, ("identity:p:A", "identity:p:B")),
    ),
    (
        "an unconditional deny wins",
        PolicyType.SCP,
        "scp",
        [ALLOW_ALL, {"Effect": "Deny", "Action": "*", "Resource": "*", "Sid": "Stop"}],
        (False, True, ("scp:p:Stop",)),
    ),
    (
        "a condition",
        PolicyType.SCP,
        "scp",
        [
            ALLOW_ALL,
            {
                **ALLOW_ALL,
                "Sid": "C",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            },
        ],
        None,
    ),
    (
        "the service's own wildcard",
        PolicyType.IDENTITY,
        "identity",
        [{"Effect": "Allow", "Action": "S3:*", "Resource": "*"}],
        (True, False, ("identity:p:#0",)),
    ),
    ("a resource", PolicyType.SCP, "scp", [{**ALLOW_ALL, "Resource": "arn:aws:s3:::b/*"}], None),
    ("an action", PolicyType.SCP, "scp", [{**ALLOW_ALL, "Action": "s3:Get*"}], None),
    (
        "NotAction",
        PolicyType.SCP,
        "scp",
        [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}],
        None,
    ),
    (
        "NotAction of another service",
        PolicyType.SCP,
        "scp",
        [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
        (True, False, ("scp:p:#0",)),
    ),
    (
        "a principal",
        PolicyType.RESOURCE,
        "resource",
        [{**ALLOW_ALL, "Principal": {"AWS": "arn:aws:iam::111111111111:user/alice"}}],
        None,
    ),
]
REQUESTS = [
    ("s3:getobject", "arn:aws:s3:::b/k", {}),
    ("iam:createuser", "arn:aws:iam::111111111111:user/x", {"aws:requestedregion": "us-east-1"}),
    ("ec2:runinstances", "*", {"aws:requestedregion": "eu-west-1"}),
]
ALICE = ("arn:aws:iam::111111111111:user/alice", "111111111111")


@pytest.mark.parametrize(("name", "ptype", "layer", "statements", "expected"), CASES)
def test_constant_partitions_answer_as_cedar_does(
    name: str, ptype: PolicyType, layer: str, statements: list[dict[str, Any]], expected: Any
) -> None:
    policy = parse_policy({"Version": "2012-10-17", "Statement": statements}, ptype, name="p")
    constants = 0
    for action, resource, context in REQUESTS:
        part = Partition(translate_policies((policy,), layer, service=action.split(":")[0]))
        facts = RequestFacts(action, resource, context, ALICE, ALICE[:1])
        request = part.request(facts)
        if request is None:  # no statement of this partition's service
            assert part.constant is None and not len(part)
            continue
        by_cedar = part.decide_one(request)
        assert part.decide(facts) == by_cedar, (name, action)  # constant or not
        if part.constant is not None:
            constants += 1
            assert part.constant == by_cedar, (name, action)
        if action.startswith("s3:"):
            if expected is None:
                assert part.constant is None, name
            else:
                assert part.constant is not None, name
                allowed, deny, matched = expected
                assert part.constant.allowed == allowed and part.constant.explicit_deny == deny
                assert part.constant.matched == matched
    if expected is not None:
        assert constants >= 1
