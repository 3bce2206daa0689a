"""Reach: the differential generators produce every feature the issue names (issue 10 item 8),
proved by drawing examples with a fixed seed and finding each feature among them, and the
product's parser accepts most of what they produce (a generator whose output is rejected tests
nothing). A feature missing here means the differential test can no longer find bugs there."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from tests.differential import pools as p
from tests.differential.compare import is_rejected
from tests.differential.strategies import policies_and_requests, trust_policies_and_requests

Json = dict[str, Any]
DRAWS = 300


def _principal_kinds(policies: Json) -> set[str]:
    """The keys of every Principal/NotPrincipal object, and unique-id AWS entries."""
    found: set[str] = set()
    for doc in [policies.get("resource")]:
        if not doc:
            continue
        statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        for statement in statements:
            for element in ("Principal", "NotPrincipal"):
                value = statement.get(element)
                if isinstance(value, dict):
                    found |= set(value)
                    aws = value.get("AWS", [])
                    for entry in aws if isinstance(aws, list) else [aws]:
                        if entry[:4] in ("AIDA", "AROA"):
                            found.add("unique-id")
    return found


def _documents(policies: Json) -> list[Json]:
    docs = list(policies.get("identity") or []) + list(policies.get("session") or [])
    docs += [d for group in policies.get("groups") or [] for d in group]
    docs += [d for level in policies.get("scp") or [] for d in level]
    docs += [d for d in (policies.get("resource"), policies.get("permissions_boundary")) if d]
    return docs


def features(policies: Json, request: Json) -> set[str]:
    """The named features one generated example exercises."""
    found = {f"principal:{k}" for k in _principal_kinds(policies)}
    text = json.dumps([policies, request]).lower()
    for key in (
        "aws:principalorgid",
        "aws:requesttag/",
        "aws:resourcetag/",
        "aws:multifactorauthage",
        "aws:epochtime",
        "aws:tokenissuetime",
    ):
        if key in text:
            found.add(key)
    if policies.get("groups"):
        found.add("groups")
    if request["principal"].get("user_id"):
        found.add("caller:unique-id")
    for partition in ("aws-cn", "aws-us-gov"):
        if f'"arn:{partition}:' in text:
            found.add(f"partition:{partition}")
    found.add(f"service:{request['action'].split(':')[0].lower()}")
    accounts = {a for a in p.ACCOUNTS if a in text}
    if len(accounts) > 2:
        found.add("accounts>2")
    for doc in _documents(policies):
        statements = doc["Statement"]
        if isinstance(statements, list) and len(statements) > 2:
            found.add("statements>2")
    if len(policies.get("identity") or []) > 2:
        found.add("policies>2")
    return found


WANTED = {
    "principal:Federated",
    "principal:CanonicalUser",
    "principal:unique-id",
    "caller:unique-id",
    "groups",
    "aws:principalorgid",
    "aws:requesttag/",
    "aws:resourcetag/",
    "aws:multifactorauthage",
    "aws:epochtime",
    "aws:tokenissuetime",
    "partition:aws-cn",
    "partition:aws-us-gov",
    "service:sqs",
    "service:dynamodb",
    "service:lambda",
    "service:sns",
    "accounts>2",
    "statements>2",
    "policies>2",
}


def _draw(strategy: Any, count: int) -> list[tuple[Json, Json]]:
    drawn: list[tuple[Json, Json]] = []

    @seed(20261206)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(pair: tuple[Json, Json]) -> None:
        drawn.append(pair)

    collect()
    return drawn


def test_generators_reach_every_named_feature() -> None:
    counts: Counter[str] = Counter()
    for pair in _draw(policies_and_requests(), DRAWS):
        counts.update(features(*pair))
    missing = sorted(WANTED - set(counts))
    assert not missing, f"never generated in {DRAWS} draws: {missing}"


def test_trust_generator_reaches_principal_forms() -> None:
    counts: Counter[str] = Counter()
    for pair in _draw(trust_policies_and_requests(), DRAWS // 2):
        counts.update(features(*pair))
    wanted = {"principal:Federated", "principal:unique-id", "principal:AWS", "principal:Service"}
    assert wanted <= set(counts), sorted(wanted - set(counts))


def test_most_generated_documents_parse() -> None:
    """The product's parser accepts at least 80 % of the generated policy sets."""
    for strategy, trust in (
        (policies_and_requests(), False),
        (trust_policies_and_requests(), True),
    ):
        drawn = _draw(strategy, 150)
        rejected = sum(is_rejected(policies, trust) for policies, _ in drawn)
        assert rejected <= 0.2 * len(drawn), (trust, rejected, len(drawn))
