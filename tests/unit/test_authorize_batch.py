"""The batched evaluation path (``authorize_batch``: one native Cedar call per partition)
decides exactly as the single path (``authorize``, one item at a time): the same ``Decision``
for every item of a mixed batch (actions, resources, contexts, explicit and implicit denies,
SCP levels, a boundary, a resource policy, oracle facts, variables, the clock, duplicates,
GetCallerIdentity), with the decision cache cold, warm or off; cache hits skip evaluation and
misses are stored; and the public authorize vectors, each as a batch with variants."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import authz.cedar.policyset as policyset
from authz.backend import request_context
from authz.engine.decision import Decision, EvalDecision
from authz.engine.snapshot import Snapshot, authorize, authorize_batch, build_snapshot
from authz.errors import RepositoryError
from tests.cases.loader import load_cases
from tests.cases.test_repo_vectors import _SKIP_CONTEXT, materialize_authorize

ACCOUNT = "111122223333"
OTHER = "444455556666"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
V = "2012-10-17"
Item = tuple[str, str, Mapping[str, object] | None]


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": V, "Statement": list(statements)}


IDENTITY = _doc(
    {"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"},
    {
        "Sid": "Home",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::home/${aws:username}/*",
    },
    {
        "Sid": "Jobs",
        "Effect": "Allow",
        "Action": "sqs:*",
        "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    },
    {  # `?` in a StringLike value: an oracle fact
        "Sid": "Tagged",
        "Effect": "Allow",
        "Action": "dynamodb:GetItem",
        "Resource": "*",
        "Condition": {"StringLike": {"aws:RequestTag/team": "te?m"}},
    },
    {  # the clock: never cached
        "Sid": "Until2100",
        "Effect": "Allow",
        "Action": "dynamodb:Query",
        "Resource": "*",
        "Condition": {"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}},
    },
    {
        "Sid": "NoSecrets",
        "Effect": "Deny",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::*/secret/*",
    },
    {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
    {"Sid": "Kms", "Effect": "Allow", "Action": "kms:*", "Resource": "*"},
)
BOUNDARY = _doc(
    {"Effect": "Allow", "Action": ["s3:*", "sqs:*", "dynamodb:*", "sns:*"], "Resource": "*"}
)
SCP_ROOT = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
SCP_OU = _doc(
    {"Effect": "Allow", "Action": ["s3:*", "sqs:*", "dynamodb:*", "kms:*"], "Resource": "*"},
    {"Sid": "NoQueueDelete", "Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"},
)
BUCKET = _doc(
    {
        "Sid": "AliceWrites",
        "Effect": "Allow",
        "Principal": {"AWS": ALICE},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::shared/*",
    },
    {
        "Sid": "NoDeletes",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteObject",
        "Resource": "arn:aws:s3:::shared/*",
    },
)


def write_repo(root: Path) -> Path:
    account = root / "accounts" / ACCOUNT
    _write(account / "account.json", {"Alias": "test"})
    _write(account / "policies/boundary.json", {"PolicyName": "boundary", "Document": BOUNDARY})
    user = {
        "UserName": "alice",
        "UserPolicyList": [{"PolicyName": "app", "PolicyDocument": IDENTITY}],
        "PermissionsBoundary": {
            "PermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/boundary"
        },
    }
    _write(account / "users/alice.json", user)
    _write(
        account / "resources/shared.json", {"ResourceArn": "arn:aws:s3:::shared", "Policy": BUCKET}
    )
    _write(root / f"accounts/{OTHER}/account.json", {"Alias": "other"})
    org = {
        "Id": "o-test",
        "Policies": [{"Id": "p-root", "Document": SCP_ROOT}, {"Id": "p-ou", "Document": SCP_OU}],
        "Root": {
            "Id": "r-root",
            "PolicyIds": ["p-root"],
            "Children": [{"Id": "ou-1", "PolicyIds": ["p-ou"], "Accounts": [ACCOUNT]}],
        },
    }
    _write(root / "organization.json", org)
    return root


def mixed_items() -> list[Item]:
    tls = {"aws:SecureTransport": "true"}
    items: list[Item] = [
        ("s3:GetObject", "arn:aws:s3:::data/a", tls),  # allowed
        ("s3:GetObject", "arn:aws:s3:::data/secret/a", tls),  # explicit deny (identity)
        ("s3:GetObject", "arn:aws:s3:::data/a", {"aws:SecureTransport": "false"}),  # TLS deny
        ("s3:GetObject", "arn:aws:s3:::data/a", None),  # missing context
        ("s3:ListBucket", "arn:aws:s3:::data", tls),
        ("s3:PutObject", "arn:aws:s3:::home/alice/x", tls),  # ${aws:username}
        ("s3:PutObject", "arn:aws:s3:::home/bob/x", tls),  # implicit deny
        ("s3:PutObject", "arn:aws:s3:::shared/x", tls),  # resource policy
        ("s3:DeleteObject", "arn:aws:s3:::shared/x", tls),  # explicit deny (resource)
        ("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q", {"aws:SourceIp": "10.1.2.3"}),
        ("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q", {"aws:SourceIp": "8.8.8.8"}),
        ("sqs:DeleteQueue", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q", {"aws:SourceIp": "10.0.0.1"}),
        (
            "dynamodb:GetItem",
            f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/t",
            {"aws:RequestTag/team": "team"},
        ),
        (
            "dynamodb:GetItem",
            f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/t",
            {"aws:RequestTag/team": "tame"},
        ),
        ("dynamodb:Query", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/t", request_context({})),
        ("kms:Decrypt", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1", tls),  # boundary denies
        ("sns:Publish", f"arn:aws:sns:eu-west-1:{ACCOUNT}:t", tls),  # SCP denies
        ("ec2:RunInstances", "*", tls),
        (
            "s3:GetObject",
            f"arn:aws:s3:::data/{'x' * 300}",
            {"aws:SourceIp": ["10.0.0.1", "1.2.3.4"]},
        ),
        ("sts:GetCallerIdentity", "*", None),
        ("s3:GetObject", "arn:aws:s3:::data/a", tls),  # duplicate of the first item
    ]
    # many requests to a few partitions, some repeated
    items += [("s3:GetObject", f"arn:aws:s3:::data/k{i % 7}", tls) for i in range(20)]
    items += [
        (
            "sqs:ReceiveMessage",
            f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q{i}",
            {"aws:SourceIp": f"10.0.{i}.1"},
        )
        for i in range(10)
    ]
    return items


def single(snapshot: Snapshot, caller_arn: str, items: list[Item]) -> list[Decision]:
    caller = snapshot.caller(caller_arn)
    return [authorize(snapshot, caller, a, r, c) for a, r, c in items]


@pytest.mark.parametrize("cache_size", [0, 65_536])
def test_a_mixed_batch_decides_as_the_single_path(tmp_path: Path, cache_size: int) -> None:
    root = write_repo(tmp_path / "repo")
    items = mixed_items()
    one = build_snapshot(root, git=False, decision_cache_size=cache_size)
    expected = single(one, ALICE, items)
    assert {d.decision for d in expected} == set(EvalDecision)  # the batch is mixed
    many = build_snapshot(root, git=False, decision_cache_size=cache_size)
    assert many.revision == one.revision
    caller = many.caller(ALICE)
    assert authorize_batch(many, caller, items) == expected  # cold cache
    assert authorize_batch(many, caller, items) == expected  # warm cache: hits
    reordered = items[::-1] + items[:5]
    assert authorize_batch(many, caller, reordered) == expected[::-1] + expected[:5]


def test_cache_hits_skip_evaluation_and_misses_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_repo(tmp_path / "repo")
    # dynamodb: its partition reads the clock (never cached); the rest is all cacheable
    items = [i for i in mixed_items() if not i[0].startswith("dynamodb:")]
    snapshot = build_snapshot(root, git=False)
    caller = snapshot.caller(ALICE)
    warm = items[:10]
    single(snapshot, ALICE, warm)  # seen once: not kept yet (admission, authz.engine.cache)
    single(snapshot, ALICE, warm)  # the single path fills the cache for these
    calls: list[int] = []
    native = policyset._BATCH
    assert native is not None

    def counting(requests: list[object], *args: object) -> object:
        calls.append(len(requests))
        return native(requests, *args)

    monkeypatch.setattr(policyset, "_BATCH", counting)
    before = snapshot.cache_stats()
    first = authorize_batch(snapshot, caller, items)
    after = snapshot.cache_stats()
    assert after["decision_hits"] - before["decision_hits"] >= len(warm)
    assert calls and sum(calls) < len(items) * 3  # grouped: far fewer requests than items
    assert max(calls) > 1  # at least one partition answered several items in one call
    calls.clear()
    authorize_batch(snapshot, caller, items)  # the misses' second evaluation: stored
    calls.clear()
    again = authorize_batch(snapshot, caller, items)
    assert again == first and not calls  # every miss was stored: all hits now
    fresh = build_snapshot(root, git=False, decision_cache_size=0)
    assert first == single(fresh, ALICE, items)


def test_a_failing_native_batch_falls_back_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_repo(tmp_path / "repo")
    items = mixed_items()
    expected = single(build_snapshot(root, git=False, decision_cache_size=0), ALICE, items)
    native = policyset._BATCH
    assert native is not None

    def fails_on_batches(requests: list[object], *args: object) -> object:
        if len(requests) > 1:
            raise RuntimeError("boom")
        return native(requests, *args)

    monkeypatch.setattr(policyset, "_BATCH", fails_on_batches)
    snapshot = build_snapshot(root, git=False, decision_cache_size=0)
    assert authorize_batch(snapshot, snapshot.caller(ALICE), items) == expected


@pytest.mark.parametrize("case", load_cases("authorize"))
def test_authorize_vectors_as_batches(tmp_path: Path, case: dict[str, Any]) -> None:
    principal, context = materialize_authorize(tmp_path, case)
    try:
        one = build_snapshot(tmp_path, git=False)
    except RepositoryError as err:
        if {p.code for p in err.problems} == {"MalformedPolicyDocument"}:
            pytest.skip(f"the repository refuses this document: {err.problems[0].message}")
        raise
    request = case["request"]
    action, resource = request["action"], request["resource"]["arn"]
    context = {k: v for k, v in context.items() if k.lower() not in _SKIP_CONTEXT}
    service = action.split(":")[0]
    items: list[Item] = [
        (action, resource, context),
        (action, resource, {}),
        (f"{service}:SomethingElse", resource, context),
        (action, resource, context),
        (action, "*", context),
        ("sts:GetCallerIdentity", "*", None),
    ]
    expected = single(one, principal, items)
    assert expected[0].decision.case_name == case["expected"]["decision"]
    many = build_snapshot(tmp_path, git=False)
    assert authorize_batch(many, many.caller(principal), items) == expected
