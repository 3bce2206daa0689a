"""Micro benchmarks: in-process decisions, context building and the decision cache, each next
to the bare cedarpy call on a pre-parsed policy set in the same run.

- 10-statement principal (the load generator's ``bench`` user) vs the harness's 10-statement
  pre-parsed set (``benchmarks/harness/harness_policy.py``), distinct requests;
- a ReadOnlyAccess principal vs one cedarpy call on the whole pre-parsed ReadOnlyAccess set
  (target: ≤ 3×);
- a role decision in repositories of 10 and 10,000 roles (target: ≤ 1.5× growth);
- a decision-cache hit; building a partition's Cedar context.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import cedarpy
import harness_policy  # type: ignore[import-not-found]  # benchmarks/harness, on sys.path
import pytest
from conftest import ACCOUNT, READ_ONLY

from authz.bench import authz_server
from authz.cedar.context import RequestFacts, build_context
from authz.cedar.policyset import Partition
from authz.cedar.translate import translate_policies
from authz.engine.snapshot import Snapshot, authorize, build_snapshot
from authz.iam.model import PolicyType
from authz.iam.parse import parse_policy

ROUNDS = 30
ITERATIONS = 50
SOURCE_IP = {"aws:SourceIp": "10.0.1.1", "aws:SecureTransport": "true"}


def _mark(benchmark: Any, group: str, role: str) -> None:
    benchmark.group = group
    benchmark.extra_info["role"] = role


def _run(benchmark: Any, fn: Any, rounds: int = ROUNDS, iterations: int = ITERATIONS) -> None:
    benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=2)


@pytest.fixture(scope="module")
def bench_snapshot(workdir: Path) -> Snapshot:
    root = workdir / "bench-repo"
    if not root.exists():
        authz_server.write_repo(root)
    return build_snapshot(root, git=False)


def _distinct(snapshot: Snapshot) -> Any:
    """authorize() on a request never asked before (no decision-cache hit)."""
    from authz.bench.api_scenarios import authorize_request
    from authz.server.servicers.authorizer import context_from_wire

    caller = snapshot.caller(authz_server.USER_ARN)
    counter = itertools.count()

    def decide() -> object:
        r = authorize_request(next(counter))
        return authorize(snapshot, caller, r.action, r.resource, context_from_wire(r.context))

    return decide


def _bare_harness() -> Any:
    policy_set, entities = harness_policy.parse()
    pool = harness_policy.request_pool()
    counter = itertools.count()

    def decide() -> object:
        return cedarpy.is_authorized(pool[next(counter) % len(pool)], policy_set, entities)

    return decide


def test_bare_cedar_10_statements(benchmark: Any) -> None:
    _mark(benchmark, "decision-10-statements", "baseline")
    _run(benchmark, _bare_harness())


def test_decision_10_statements(benchmark: Any, bench_snapshot: Snapshot) -> None:
    _mark(benchmark, "decision-10-statements", "subject")
    _run(benchmark, _distinct(bench_snapshot))


def test_decision_cache_hit(benchmark: Any, bench_snapshot: Snapshot) -> None:
    _mark(benchmark, "decision-10-statements", "subject")
    caller = bench_snapshot.caller(authz_server.USER_ARN)
    args = (bench_snapshot, caller, "s3:GetObject", "arn:aws:s3:::bucket-a/k", SOURCE_IP)
    assert authorize(*args).allowed
    _run(benchmark, lambda: authorize(*args))


def test_context_building(benchmark: Any, bench_snapshot: Snapshot) -> None:
    _mark(benchmark, "decision-10-statements", "subject")
    caller = bench_snapshot.caller(authz_server.USER_ARN)
    authorize(bench_snapshot, caller, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:jobs-1", {})
    part = next(p for k, p, _size in bench_snapshot.evaluator._cache.items() if k[1] == "sqs")
    facts = RequestFacts(
        "sqs:sendmessage",
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs-1",
        {"aws:sourceip": "10.0.1.1", "aws:securetransport": "true"},
        (),
        (),
    )
    _run(benchmark, lambda: json.dumps(build_context(part.plan, facts, [])))


# -- ReadOnlyAccess ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def read_only_snapshot(workdir: Path) -> Snapshot:
    if not READ_ONLY.exists():
        pytest.skip("managed-policy corpus missing")
    root = workdir / "read-only-repo"
    if not root.exists():
        authz_server.write_repo(root)
        (root / "aws-managed").mkdir()
        shutil.copy(READ_ONLY, root / "aws-managed" / "ReadOnlyAccess.json")
        user = root / "accounts" / ACCOUNT / "users" / "reader.json"
        arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
        user.write_text(
            json.dumps(
                {
                    "UserName": "reader",
                    "AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess", "PolicyArn": arn}],
                }
            )
        )
    return build_snapshot(root, git=False)


READ_ONLY_REQUESTS = [
    ("s3:GetObject", "arn:aws:s3:::bucket/key-{i}"),
    ("ec2:DescribeInstances", "*"),
    ("dynamodb:GetItem", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/t{{i}}"),
    ("s3:PutObject", "arn:aws:s3:::bucket/key-{i}"),
]


def test_bare_cedar_read_only_access(benchmark: Any) -> None:
    if not READ_ONLY.exists():
        pytest.skip("managed-policy corpus missing")
    _mark(benchmark, "decision-read-only-access", "baseline")
    doc = json.loads(READ_ONLY.read_text())["Document"]
    translation = translate_policies([parse_policy(doc, PolicyType.MANAGED)], "identity")
    part = Partition(translation)  # the whole policy, pre-parsed (PolicySet + Entities)
    requests = []
    for i in range(64):
        action, resource = READ_ONLY_REQUESTS[i % len(READ_ONLY_REQUESTS)]
        resource = resource.format(i=i)
        facts = RequestFacts(action.lower(), resource, {}, (), ())
        context = build_context(part.plan, facts, [])
        requests.append(
            {
                "principal": {"type": "Iam::Principal", "id": "caller"},
                "action": {"type": "Iam::Action", "id": action.lower()},
                "resource": {"type": "Iam::Resource", "id": resource},
                "context": context,
            }
        )
    counter = itertools.count()
    policy_set, entities = part._policy_set, part._entities
    assert policy_set is not None and entities is not None

    def decide() -> object:
        return cedarpy.is_authorized(requests[next(counter) % 64], policy_set, entities)

    _run(benchmark, decide, rounds=15, iterations=20)


def test_decision_read_only_access(benchmark: Any, read_only_snapshot: Snapshot) -> None:
    _mark(benchmark, "decision-read-only-access", "subject")
    caller = read_only_snapshot.caller(f"arn:aws:iam::{ACCOUNT}:user/reader")
    counter = itertools.count()

    def decide() -> object:
        i = next(counter)
        action, resource = READ_ONLY_REQUESTS[i % len(READ_ONLY_REQUESTS)]
        return authorize(read_only_snapshot, caller, action, resource.format(i=i), {})

    assert decide() is not None
    _run(benchmark, decide, rounds=15, iterations=20)


# -- repository scale --------------------------------------------------------------------------


def _role_decisions(snapshot: Snapshot) -> Any:
    """Distinct requests by sessions of the roles ``app-00000`` … ``app-00009`` (the same
    roles and policies in every generated repository, so only the repository size differs;
    warm partitions)."""
    roles = sorted(snapshot.repository.roles_by_arn.values(), key=lambda r: r.name)
    sample = roles[:10]
    callers = [
        snapshot.caller(f"arn:aws:sts::{r.account}:assumed-role/{r.name}/bench") for r in sample
    ]
    counter = itertools.count()

    def decide() -> object:
        i = next(counter)
        ctx = {"aws:SourceIp": "10.1.2.3"}
        return authorize(snapshot, callers[i % 10], "s3:GetObject", f"arn:aws:s3:::b/k{i}", ctx)

    for _ in range(30):
        decide()
    return decide


def test_decision_10_roles(benchmark: Any, scale_repos: dict[int, Path]) -> None:
    _mark(benchmark, "decision-repo-scale", "baseline")
    _run(benchmark, _role_decisions(build_snapshot(scale_repos[10], git=False)))


def test_decision_10000_roles(benchmark: Any, scale_repos: dict[int, Path]) -> None:
    _mark(benchmark, "decision-repo-scale", "subject")
    _run(benchmark, _role_decisions(build_snapshot(scale_repos[10000], git=False)))
