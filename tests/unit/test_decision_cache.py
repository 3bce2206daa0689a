"""The per-snapshot decision cache: hits on repeats, keys projected onto the context keys the
evaluated partitions read, bypass for time-varying keys, a fresh cache per snapshot (reload),
correctness against uncached evaluation, and concurrent use."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from authz.backend import clock_keys, request_context
from authz.engine.cache import DecisionCache, request_shape
from authz.engine.decision import Decision, EvalDecision
from authz.engine.snapshot import Snapshot, authorize, build_snapshot
from authz.iam.model import Caller, CallerKind, PolicyType
from authz.iam.parse import parse_policy
from authz.server.ports import CallOrigin

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
V = "2012-10-17"
STATEMENTS: list[dict[str, Any]] = [
    {  # reads aws:SecureTransport
        "Sid": "S3OverTls",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::data/*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    },
    {  # reads the clock
        "Sid": "TableUntil2100",
        "Effect": "Allow",
        "Action": "dynamodb:GetItem",
        "Resource": "*",
        "Condition": {"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}},
    },
    {"Sid": "Queues", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
]


def write_repo(root: Path, statements: list[dict[str, Any]]) -> Path:
    account = root / "accounts" / ACCOUNT
    (account / "users").mkdir(parents=True)
    (account / "account.json").write_text(json.dumps({"Alias": "test"}))
    user = {
        "UserName": "alice",
        "UserPolicyList": [
            {"PolicyName": "p", "PolicyDocument": {"Version": V, "Statement": statements}}
        ],
    }
    (account / "users" / "alice.json").write_text(json.dumps(user))
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo", STATEMENTS)


@pytest.fixture
def snap(repo: Path) -> Snapshot:
    return build_snapshot(repo, git=False)


def decide(snap: Snapshot, action: str, resource: str, context: Mapping[str, Any]) -> Decision:
    return authorize(snap, snap.caller(ALICE), action, resource, context)


def stats(snap: Snapshot) -> tuple[int, int, int]:
    s = snap.cache_stats()
    return s["decision_hits"], s["decision_misses"], s["decision_bypassed"]


def test_a_question_is_kept_from_its_second_evaluation_and_then_hits(snap: Snapshot) -> None:
    """Admission (``authz.engine.cache``): the first evaluation of a shape leaves only its
    hash; the second is stored; from the third on the question is a hit."""
    ask = ("s3:GetObject", "arn:aws:s3:::data/a", {"aws:SecureTransport": "true"})
    once = decide(snap, *ask)
    assert once.allowed and stats(snap) == (0, 1, 0)
    assert snap.cache_stats()["decision_deferred"] == 1
    assert snap.cache_stats()["decision_size"] == 0
    second = decide(snap, *ask)
    assert snap.cache_stats()["decision_size"] == 1
    again = decide(snap, *ask)
    assert second.allowed and again is second
    assert again.revision == snap.revision
    assert stats(snap) == (1, 2, 0) and snap.cache_stats()["decision_deferred"] == 1


def test_the_doorkeeper_is_bounded_and_forgets_when_full() -> None:
    """A flood of shapes asked once cannot grow the doorkeeper past its bound: it starts over
    when full, and a shape seen before that counts as new."""
    cache = DecisionCache(size=8)
    caller = Caller(CallerKind.USER, ALICE, ACCOUNT)
    shapes = [request_shape(caller, "s3:GetObject", f"r{i}") for i in range(9)]
    for shape in shapes:
        assert shape is not None
        cache.put(shape, {}, frozenset(), Decision(EvalDecision.ALLOWED))
    assert cache.stats()["deferred"] == 9 and cache.stats()["size"] == 0
    assert len(cache._door) == 1  # full at 8: cleared, then the ninth
    assert shapes[0] is not None and shapes[8] is not None
    cache.put(shapes[0], {}, frozenset(), Decision(EvalDecision.ALLOWED))  # forgotten: deferred
    cache.put(shapes[8], {}, frozenset(), Decision(EvalDecision.ALLOWED))  # remembered: kept
    assert cache.stats()["deferred"] == 10 and cache.stats()["size"] == 1


def test_a_referenced_key_change_is_a_miss(snap: Snapshot) -> None:
    obj = "arn:aws:s3:::data/a"
    assert decide(snap, "s3:GetObject", obj, {"aws:SecureTransport": "true"}).allowed
    assert not decide(snap, "s3:GetObject", obj, {"aws:SecureTransport": "false"}).allowed
    absent = decide(snap, "s3:GetObject", obj, {})
    assert not absent.allowed and "aws:securetransport" in absent.missing_context
    assert stats(snap) == (0, 3, 0)
    # key spelling does not matter; each variant is now cached
    assert decide(snap, "s3:GetObject", obj, {"AWS:SECURETRANSPORT": "false"}).decision == (
        EvalDecision.IMPLICIT_DENY
    )
    assert decide(snap, "s3:GetObject", obj, {}) is absent
    assert stats(snap) == (2, 3, 0)


def test_an_unreferenced_key_does_not_split_the_cache(snap: Snapshot) -> None:
    obj = "arn:aws:s3:::data/a"
    base = {"aws:SecureTransport": "true"}
    decide(snap, "s3:GetObject", obj, request_context(base))  # seen once: not kept yet
    first = decide(snap, "s3:GetObject", obj, request_context(base))
    for ip in ("10.0.0.1", "10.0.0.2"):
        ctx = {**base, "aws:SourceIp": ip, "aws:CurrentTime": f"2030-01-01T00:00:0{ip[-1]}Z"}
        assert decide(snap, "s3:GetObject", obj, ctx) is first
    assert stats(snap) == (2, 2, 0)


def test_a_time_varying_key_bypasses_the_cache(snap: Snapshot) -> None:
    ctx = {"aws:CurrentTime": "2030-01-01T00:00:00Z"}
    assert decide(snap, "dynamodb:GetItem", "arn:aws:dynamodb:::table/t", ctx).allowed
    late = {"aws:CurrentTime": "2200-01-01T00:00:00Z"}
    assert not decide(snap, "dynamodb:GetItem", "arn:aws:dynamodb:::table/t", late).allowed
    assert decide(snap, "dynamodb:GetItem", "arn:aws:dynamodb:::table/t", ctx).allowed
    assert decide(snap, "dynamodb:GetItem", "arn:aws:dynamodb:::table/t", late) is not None
    # two misses (the shape is kept from its second evaluation on), then bypassed
    hits, misses, bypassed = stats(snap)
    assert (hits, misses, bypassed) == (0, 2, 2)
    assert snap.cache_stats()["decision_size"] == 0


def test_a_reload_is_a_new_snapshot_with_an_empty_cache(repo: Path, snap: Snapshot) -> None:
    assert decide(snap, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:q", {}).allowed
    assert decide(snap, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:q", {}).allowed
    statements = [s for s in STATEMENTS if s["Sid"] != "Queues"]
    user = repo / "accounts" / ACCOUNT / "users" / "alice.json"
    doc = json.loads(user.read_text())
    doc["UserPolicyList"][0]["PolicyDocument"]["Statement"] = statements
    user.write_text(json.dumps(doc))
    reloaded = build_snapshot(repo, git=False)
    assert reloaded.revision != snap.revision
    assert reloaded.cache_stats()["decision_size"] == 0
    denied = decide(reloaded, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:q", {})
    assert not denied.allowed and denied.revision == reloaded.revision


def test_cached_answers_equal_uncached_evaluation(repo: Path, snap: Snapshot) -> None:
    plain = build_snapshot(repo, git=False, decision_cache_size=0)
    requests = [
        (action, resource, ctx)
        for action in ("s3:GetObject", "dynamodb:GetItem", "sqs:SendMessage", "kms:Decrypt")
        for resource in ("arn:aws:s3:::data/a", "arn:aws:s3:::other/b", "*")
        for ctx in (
            {},
            {"aws:SecureTransport": "true"},
            {"aws:SecureTransport": "false", "aws:CurrentTime": "2000-01-01T00:00:00Z"},
            {"aws:CurrentTime": "2200-01-01T00:00:00Z"},
        )
    ]
    for _ in range(2):
        for action, resource, ctx in requests:
            got = decide(snap, action, resource, ctx)
            want = decide(plain, action, resource, ctx)
            assert got.decision == want.decision, (action, resource, ctx)
            assert got.matched == want.matched and got.missing_context == want.missing_context
    assert stats(snap)[0] > 0 and plain.cache_stats()["decision_size"] == 0


def test_sessions_are_keyed_by_their_policies_and_tags() -> None:
    caller = Caller(CallerKind.ASSUMED_ROLE, "arn:aws:sts::1:assumed-role/r/s", "1", "arn:r")
    doc = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}'
    policy = parse_policy(doc.replace('"*"}', '"*", "Resource": "*"}'), PolicyType.SESSION)
    base = request_shape(caller, "S3:GetObject", "*")
    assert base == request_shape(caller, "s3:getobject", "*")
    assert request_shape(caller, "s3:GetObject", "*", (policy,)) != base
    assert request_shape(caller, "s3:GetObject", "*", (), {"team": "a"}) != base


def test_context_spellings_of_one_request_share_an_entry(snap: Snapshot) -> None:
    """The cache keys on the normalised context: key case and list vs tuple do not split it."""
    decide(snap, "s3:GetObject", "arn:aws:s3:::data/a", {"AWS:SecureTransport": "true"})
    first = decide(snap, "s3:GetObject", "arn:aws:s3:::data/a", {"AWS:SecureTransport": "true"})
    hits = snap.cache_stats()["decision_hits"]
    again = decide(snap, "s3:GetObject", "arn:aws:s3:::data/a", {"aws:securetransport": "true"})
    assert again is first and snap.cache_stats()["decision_hits"] == hits + 1
    other = decide(snap, "s3:GetObject", "arn:aws:s3:::data/a", {"aws:SecureTransport": "false"})
    assert other.decision != first.decision


def test_concurrent_use_is_safe(snap: Snapshot) -> None:
    contexts = [{"aws:SecureTransport": v} for v in ("true", "false")]
    expected = {
        v["aws:SecureTransport"]: decide(snap, "s3:GetObject", "arn:aws:s3:::data/a", v).decision
        for v in contexts
    }
    failures: list[str] = []

    def worker(n: int) -> None:
        for i in range(300):
            ctx = contexts[(i + n) % 2]
            resource = f"arn:aws:s3:::data/{i % 40}"
            got = decide(snap, "s3:GetObject", resource, ctx).decision
            if got != expected[str(ctx["aws:SecureTransport"])]:
                failures.append(f"{n}:{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    hits, misses, _ = stats(snap)
    assert hits + misses == 8 * 300 + 2 and hits > 0


def test_the_lru_is_bounded() -> None:
    cache = DecisionCache(size=2)
    caller = Caller(CallerKind.USER, ALICE, ACCOUNT)
    for i in range(5):
        shape = request_shape(caller, "s3:GetObject", f"r{i}")
        assert shape is not None
        for _ in range(2):  # kept from its second evaluation on
            cache.put(shape, {}, frozenset(), Decision(EvalDecision.ALLOWED))
    assert cache.stats()["size"] == 2 and cache.stats()["evictions"] == 3


def test_request_context_normalises_and_adds_the_servers_facts() -> None:
    """The clock and (for a call's own origin) the connection come from the server: they
    replace whatever the context holds (callers are refused such keys before this:
    ``authz.iam.context_keys``, tests/security/test_trust_model.py)."""
    current, epoch = clock_keys(0)
    assert (current, epoch) == ("1970-01-01T00:00:00Z", "0")
    ctx = request_context({"aws:SourceIp": "10.0.0.1", "aws:TagKeys": ["a"]})
    assert set(ctx) == {"aws:sourceip", "aws:tagkeys", "aws:currenttime", "aws:epochtime"}
    assert ctx["aws:tagkeys"] == ("a",) and ctx["aws:sourceip"] == "10.0.0.1"  # on behalf
    given = {"AWS:CurrentTime": "2000-01-01T00:00:00Z", "aws:epochtime": "1"}
    ctx = request_context(given)
    assert ctx["aws:currenttime"] != "2000-01-01T00:00:00Z" and ctx["aws:epochtime"] != "1"
    own = request_context({"aws:SourceIp": "10.0.0.1"}, CallOrigin("192.0.2.7", False))
    assert own["aws:sourceip"] == "192.0.2.7" and own["aws:securetransport"] == "false"
    unknown = request_context({"aws:SourceIp": "10.0.0.1"}, CallOrigin(None, True))
    assert "aws:sourceip" not in unknown and unknown["aws:securetransport"] == "true"


def test_only_shapes_that_never_read_the_clock_are_repeatable(snap: Snapshot) -> None:
    """``repeatable`` (what lets the edge answer a repeated Authorize itself): known shapes whose
    evaluations read no time-varying key; unknown shapes and clock readers are not."""
    alice = snap.caller(ALICE)
    obj, table = "arn:aws:s3:::data/a", "arn:aws:dynamodb:::table/t"
    tls = request_shape(alice, "s3:GetObject", obj)
    clock = request_shape(alice, "dynamodb:GetItem", table)
    assert not snap.decisions.repeatable(tls) and not snap.decisions.repeatable(None)
    decide(snap, "s3:GetObject", obj, {"aws:SecureTransport": "true"})
    decide(snap, "dynamodb:GetItem", table, {"aws:CurrentTime": "2030-01-01T00:00:00Z"})
    assert not snap.decisions.repeatable(tls)  # seen once: not kept, so not known yet
    decide(snap, "s3:GetObject", obj, {"aws:SecureTransport": "true"})
    decide(snap, "dynamodb:GetItem", table, {"aws:CurrentTime": "2030-01-01T00:00:00Z"})
    assert snap.decisions.repeatable(tls)
    assert not snap.decisions.repeatable(clock)
