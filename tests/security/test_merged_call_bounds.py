"""Merged policy sets (one native Cedar call for a request's layers, ``authz.cedar.merged``) are
keyed by what callers choose too: a session policy travels in the caller's token, a simulation
input in the request. The attack: a caller cycles through fresh session policies so that every
request builds a new merged set (memory and parse work). It must stay within the caller-policy
byte bound, never reach the repository's merged cache, and decide as without merging; a
combination seen once builds nothing by default."""

from __future__ import annotations

from authz.engine.decision import Layer
from authz.engine.evaluate import Evaluator
from authz.iam.model import AuthRequest, Caller, CallerKind, PolicyLayers, PolicyType
from authz.iam.parse import parse_policy

ACCOUNT = "111111111111"
CALLER = Caller(
    CallerKind.ASSUMED_ROLE,
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s",
    account=ACCOUNT,
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
)
IDENTITY = parse_policy(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
    },
    PolicyType.IDENTITY,
    name="reader",
)
BOUND = 1024 * 1024


def _session(i: int) -> PolicyLayers:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::bucket/{i}/{'x' * 200}/*",
            }
        ],
    }
    session = parse_policy(doc, PolicyType.SESSION, name="session")
    return PolicyLayers(identity=(IDENTITY,), session=(session,))


def _ask(evaluator: Evaluator, layers: PolicyLayers, i: int) -> object:
    request = AuthRequest(CALLER, "s3:GetObject", f"arn:aws:s3:::bucket/{i}/k")
    return evaluator.decide(layers, request, transient=frozenset({Layer.SESSION}))


def test_fresh_session_policies_stay_within_the_caller_policy_bound() -> None:
    attacked = Evaluator(caller_cache_bytes=BOUND, merge_sighting=1)
    plain = Evaluator(merged_cache_bytes=0, caller_cache_bytes=0)
    peak = 0
    for i in range(120):
        layers = _session(i)
        assert _ask(attacked, layers, i) == _ask(plain, layers, i)
        stats = attacked.cache_stats()
        peak = max(peak, stats["merged_caller_bytes"])
        assert stats["merged_caller_bytes"] + stats["caller_bytes"] <= 2 * BOUND
        assert stats["merged_size"] == 0  # never the repository's merged cache
    assert peak > 0 and attacked.cache_stats()["merged_caller_size"] < 120  # evicted


def test_a_combination_asked_once_builds_no_merged_set() -> None:
    # the default: built on the second request. Sightings are counted by the members' ids: room
    # for all 50 sessions' partitions, so that none is evicted and its id reused by a later one
    # (which counts as a second sighting and builds one set early, as ``_merged_set`` says; how
    # soon an address is reused depends on the heap, and compiled code, ``authz.native``, met it)
    evaluator = Evaluator(caller_cache_bytes=4 * BOUND)
    for i in range(50):
        _ask(evaluator, _session(i), i)
    assert evaluator.cache_stats()["merged_caller_size"] == 0
    layers = _session(7)
    _ask(evaluator, layers, 7)
    _ask(evaluator, layers, 7)
    assert evaluator.cache_stats()["merged_caller_size"] == 1
