"""One native Cedar call for several partitions (``authz.cedar.merged.MergedSet``): every
member's ``LayerResult`` read from the merged answer equals the member's own call
(``Partition.decide``), for generated multi-layer policies (forbids in one member beside permits
in another, the same statement ids in several members, conditions with ``has`` guards, IfExists
and Null on keys only one member reads), for evaluation errors (renumbered to the member's own
policy ids), and through the ``Evaluator`` (one native call per distinct Authorize in the
example repository, the same decisions as without merging, single and batched).

Each comparison asserts that the merged answer was used (``attributed`` is not None), so a
silent fall back to the members' own calls cannot make it pass."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as hst

import authz.cedar.policyset as policyset
from authz.cedar.context import RequestFacts
from authz.cedar.merged import MergedSet
from authz.cedar.policyset import LayerResult, Partition
from authz.cedar.translate import translate_policies
from authz.engine.decision import Layer
from authz.engine.evaluate import ALL_LAYERS, Evaluator
from authz.engine.snapshot import authorize, build_snapshot
from authz.errors import MalformedPolicyDocument
from authz.iam.model import AuthRequest, PolicyLayers, PolicyType, normalize_context
from authz.iam.parse import parse_policy
from tests.cases.convert import layers_for, request_of
from tests.cases.loader import load_cases
from tests.differential import pools
from tests.differential.strategies import contexts, policies_and_requests, policies_of

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
PIDS = (ALICE, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")
V = "2012-10-17"
EXAMPLE = Path(__file__).resolve().parents[2] / "policies"


def _partition(
    doc: dict[str, Any], ptype: PolicyType = PolicyType.IDENTITY, *, service: str = "s3"
) -> Partition:
    # every member's policy is named `p` in layer `identity`: members share statement ids
    policy = parse_policy(doc, ptype, name="p")
    return Partition(translate_policies((policy,), "identity", service=service))


def _facts(action: str, resource: str, context: dict[str, Any]) -> RequestFacts:
    return RequestFacts(action.lower(), resource, normalize_context(context), PIDS, PIDS[:1])


def _compare(
    members: Sequence[Partition], requests: Sequence[RequestFacts]
) -> list[tuple[LayerResult, ...]]:
    """Asserts the merged answer is attributed and equals the members' own calls; returns
    the own results."""
    merged = MergedSet(members)
    assert merged.usable
    expected = []
    for req in requests:
        own = tuple(m.decide(req) for m in members)
        got = merged.attributed(req)
        assert got is not None, req
        assert got == own, req
        expected.append(own)
    assert merged.decide_many(list(requests)) == expected  # batched, with duplicates
    assert merged.decide_many([*requests, *requests]) == expected * 2
    return expected


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": V, "Statement": list(statements)}


def test_a_forbid_in_one_member_hides_no_permit_of_another() -> None:
    deny = _partition(_doc({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}))
    allow = _partition(
        _doc(
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
        )
    )
    results = _compare(
        [deny, allow],
        [
            _facts("s3:GetObject", "arn:aws:s3:::b/k", {}),
            _facts("s3:PutObject", "arn:aws:s3:::b/k", {}),
            _facts("s3:ListBucket", "arn:aws:s3:::b", {}),
        ],
    )
    get = results[0]
    assert get[0].explicit_deny and get[1].allowed and get[1].matched == ("identity:p:#0",)


def test_members_with_the_same_statement_ids_keep_their_own_matches() -> None:
    first = _partition(
        _doc({"Sid": "S", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    )
    second = _partition(
        _doc(
            {"Sid": "S", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
            {
                "Sid": "T",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::x/*",
            },
        )
    )
    results = _compare(
        [first, second],
        [
            _facts("s3:GetObject", "arn:aws:s3:::b/k", {}),
            _facts("s3:PutObject", "arn:aws:s3:::b/k", {}),
            _facts("s3:GetObject", "arn:aws:s3:::x/k", {}),
        ],
    )
    assert [r.allowed for r in results[0]] == [True, False]
    assert [r.allowed for r in results[1]] == [False, True]
    assert results[2][1].matched == ("identity:p:T",)


def _when(key: str, condition: dict[str, Any], effect: str = "Allow") -> dict[str, Any]:
    return {
        "Effect": effect,
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": condition,
    }


def test_keys_only_one_member_reads_do_not_change_the_other() -> None:
    key = "aws:SourceVpc"
    members = [
        _partition(_doc(_when(key, {"Null": {key: "true"}}))),  # absent: context.keys
        _partition(_doc(_when(key, {"StringEquals": {key: "vpc-1"}}))),  # has "s.<key>"
        _partition(_doc(_when(key, {"StringNotEqualsIfExists": {key: "vpc-2"}}, "Deny"))),
        _partition(_doc(_when(key, {"NumericLessThanIfExists": {key: "5"}}))),  # has "num."
        _partition(_doc(_when(key, {"ForAnyValue:StringLike": {key: "vpc-?"}}))),  # oracle
        _partition(_doc(_when(key, {"Null": {"s3:prefix": "false"}}))),
    ]
    contexts_ = [
        {},
        {key: "vpc-1"},
        {key: "vpc-2"},
        {key: "3"},
        {key: ["vpc-1", "x"]},
        {"s3:prefix": "a"},
    ]
    requests = [_facts("s3:GetObject", "arn:aws:s3:::b/k", c) for c in contexts_]
    results = _compare(members, requests)
    assert results[0][0].allowed and not results[1][0].allowed  # Null: only when absent
    assert results[1][1].allowed and not results[0][1].allowed
    assert results[3][3].allowed and results[0][3].allowed and not results[1][3].allowed


def _unguarded(part: Partition) -> Partition:
    """The same partition with its ``has`` guards removed: an absent key is an error."""
    statements = tuple(
        replace(st, body=tuple(re.sub(r'context has "[^"]+" && ', "", b) for b in st.body))
        for st in part.translation.statements
    )
    return Partition(replace(part.translation, statements=statements))


def test_evaluation_errors_go_to_their_member_with_its_own_policy_ids() -> None:
    plain = _partition(
        _doc(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        )
    )
    numeric = {"NumericLessThan": {"s3:max-keys": "10"}}
    failing = _unguarded(
        _partition(
            _doc(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": numeric},
                {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": numeric},
            )
        )
    )
    requests = [
        _facts(a, "arn:aws:s3:::b/k", c)
        for a in ("s3:GetObject", "s3:DeleteObject", "s3:ListBucket")
        for c in ({}, {"s3:max-keys": "3"}, {"s3:max-keys": "30"})
    ]
    results = _compare([plain, failing, _unguarded(plain)], requests)
    errored = results[0][1]  # GetObject, no max-keys: policy1 and policy2 of `failing` fail
    assert not errored.allowed and not errored.explicit_deny
    assert errored.matched == ("identity:p:#0",)
    assert [e.split(":")[0] for e in errored.errors] == [
        "error while evaluating policy `policy1`",
        "error while evaluating policy `policy2`",
    ]
    assert not results[0][0].errors and results[0][0].allowed


def test_a_merged_answer_that_names_no_policy_falls_back_to_the_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    members = [
        _partition(_doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
        _partition(_doc({"Effect": "Deny", "Action": "s3:Get*", "Resource": "*"})),
    ]
    merged = MergedSet(members)
    req = _facts("s3:GetObject", "arn:aws:s3:::b/k", {})
    own = tuple(m.decide(req) for m in members)
    for answer in (
        '{"decision":"NoDecision","diagnostics":{"errors":["failed to build request: x"]}}',
        '{"decision":"Deny","diagnostics":{"reason":[],"errors":["something else"]}}',
        '{"decision":"Allow","diagnostics":{"reason":["policy7"],"errors":[]}}',
    ):
        assert merged.split(answer) is None
        monkeypatch.setattr(MergedSet, "_answers", lambda self, r, a=answer: [a] * len(r))
        assert merged.decide(req) == own
    monkeypatch.setattr(MergedSet, "_answers", lambda self, r: [None] * len(r))  # call failed
    assert merged.decide_many([req, req]) == [own, own]


# -- generated policies ---------------------------------------------------------------------

_ACTION = "s3:GetObject"
_RESOURCE = "arn:aws:s3:::bucket-a/key"
_SCOPE = {
    "actions": (*pools.ACTION_PATTERNS, *(_ACTION,) * 30),
    "resources": (*pools.RESOURCE_PATTERNS, *(_RESOURCE,) * 30),
}


@hst.composite
def _members(draw: hst.DrawFn) -> list[tuple[dict[str, Any], PolicyType, bool]]:
    """2-4 policies (identity or resource), a quarter of them without ``has`` guards (an
    absent key is then an evaluation error)."""
    out = []
    for _ in range(draw(hst.integers(2, 4))):
        kind = draw(hst.sampled_from(("identity", "identity", "resource")))
        ptype = PolicyType.RESOURCE if kind == "resource" else PolicyType.IDENTITY
        doc = draw(policies_of(kind=kind, managed=True, **_SCOPE))
        out.append((doc, ptype, draw(hst.integers(0, 3)) == 0))
    return out


_CONTEXT_ATTRIBUTE = re.compile(r'context(?: has |\[)"((?:[^"\\]|\\.)*)"')
_CONTEXT_FIELD = re.compile(r"context\.(\w+)(\.contains\(\"((?:[^\"\\]|\\.)*)\"\))?")


def _reads_only_its_own_plan(part: Partition) -> None:
    """Every context attribute the partition's Cedar reads is one its own plan sends, and the
    shared lists are only tested for the partition's own names: what makes the union of
    plans safe (``authz.cedar.merged``, "Context")."""
    plan = part.plan
    sent = {name for _, _, name in plan.slots} | set(plan.flags)
    for st in part.translation.statements:
        text = st.scope()
        for name in _CONTEXT_ATTRIBUTE.findall(text):
            assert name in sent, (name, text)
        for field, contains, item in _CONTEXT_FIELD.findall(text):
            if field == "keys":
                assert contains and item in plan.keys, text
            elif field == "oracle":
                assert contains and item in part.facts.facts, text
            else:
                assert field in plan.flags, (field, text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_members(), hst.lists(contexts(), min_size=1, max_size=4), hst.data())
def test_generated_members_answer_as_their_own_calls(
    docs: list[tuple[dict[str, Any], PolicyType, bool]],
    ctxs: list[dict[str, Any]],
    data: hst.DataObject,
) -> None:
    parts = []
    for doc, ptype, unguarded in docs:
        try:
            part = _partition(doc, ptype)
        except Exception:  # a generated document the parser refuses (rare)
            continue
        _reads_only_its_own_plan(part)
        parts.append(_unguarded(part) if unguarded else part)
    natives = [p for p in parts if p.native]
    if len(natives) < 2:
        return
    actions = (_ACTION, _ACTION, _ACTION, "s3:PutObject", "s3:ListBucket")
    requests = [
        _facts(
            data.draw(hst.sampled_from(actions)),
            data.draw(hst.sampled_from((_RESOURCE, _RESOURCE, "arn:aws:s3:::other/k"))),
            c,
        )
        for c in ctxs
    ]
    _compare(natives, requests)


# -- through the evaluator ------------------------------------------------------------------


def _count_native(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    native = policyset._BATCH
    assert native is not None

    def counting(requests: list[object], *args: object) -> object:
        calls.append(len(requests))
        return native(requests, *args)

    monkeypatch.setattr(policyset, "_BATCH", counting)
    return calls


def test_the_example_repository_makes_one_native_call_per_authorize(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merged = build_snapshot(EXAMPLE, git=False, decision_cache_size=0)
    plain = replace(  # every partition its own call
        build_snapshot(EXAMPLE, git=False, decision_cache_size=0),
        evaluator=Evaluator(merged_cache_bytes=0),
    )
    caller = "arn:aws:iam::111122223333:user/Bob"
    questions = [("s3:GetObject", f"arn:aws:s3:::example-reports/q/{i}.csv") for i in range(4)] + [
        ("s3:PutObject", "arn:aws:s3:::example-reports/x"),
        ("s3:DeleteBucket", "arn:aws:s3:::example-reports"),
    ]
    calls = _count_native(monkeypatch)
    for action, resource in questions:
        expected = authorize(plain, plain.caller(caller), action, resource)
        calls.clear()
        assert authorize(merged, merged.caller(caller), action, resource) == expected
    calls.clear()
    authorize(merged, merged.caller(caller), "s3:GetObject", "arn:aws:s3:::example-reports/new")
    assert calls == [1]  # the bucket policy, identity and boundary in one call
    calls.clear()
    authorize(plain, plain.caller(caller), "s3:GetObject", "arn:aws:s3:::example-reports/new2")
    assert calls == [1, 1, 1]  # one call each without merging


def _both(
    layers: PolicyLayers, req: AuthRequest, trust: bool, transient: frozenset[Layer] = frozenset()
) -> tuple[Evaluator, Any, Any]:
    """(the merging evaluator, its decision, the decision of one without merged sets)."""
    merging = Evaluator(merge_sighting=1)
    plain = Evaluator(merged_cache_bytes=0, caller_cache_bytes=0)
    got = merging.decide(layers, req, trust=trust, transient=transient)
    return merging, got, plain.decide(layers, req, trust=trust, transient=transient)


def test_every_authorize_vector_decides_the_same_with_one_merged_call() -> None:
    merged = 0
    for param in load_cases("authorize"):
        case = param.values[0]
        trust = bool(case.get("trust"))
        try:
            layers = layers_for(case["policies"], trust=trust)
        except MalformedPolicyDocument:
            continue
        req = request_of(case["request"])
        decisions = []
        for transient in (frozenset(), ALL_LAYERS):
            merging, got, expected = _both(layers, req, trust, transient)
            assert got == expected, case["id"]
            stats = merging.cache_stats()
            merged += stats["merged_size" if not transient else "merged_caller_size"] > 0
            decisions.append(expected)
        batch = Evaluator(merge_sighting=1).decide_many([(layers, req, trust)] * 3)
        assert batch == [decisions[0]] * 3, case["id"]
    assert merged >= 50  # 27 of 145 vectors have several layers that call Cedar (x2 caches)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(policies_and_requests(), hst.booleans())
def test_generated_inputs_decide_the_same_with_one_merged_call(
    pair: tuple[dict[str, Any], dict[str, Any]], caller_supplied: bool
) -> None:
    policies, request = pair
    try:
        layers = layers_for(policies)
    except MalformedPolicyDocument:
        assume(False)
        return
    req = request_of(request)
    transient = ALL_LAYERS if caller_supplied else frozenset()
    merging, got, expected = _both(layers, req, False, transient)
    assert got == expected
    stats = merging.cache_stats()
    event(f"merged: {stats['merged_size'] + stats['merged_caller_size'] > 0}")
