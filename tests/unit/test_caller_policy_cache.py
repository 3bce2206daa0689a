"""Caller-supplied policies never enter a snapshot's repository partition cache: simulation
inputs and session policies are compiled into the evaluator's own byte-bounded LRU."""

from __future__ import annotations

import json
from pathlib import Path

from authz.engine.evaluate import Evaluator
from authz.engine.simulate import simulate_custom_policy, simulate_principal_policy
from authz.engine.snapshot import build_snapshot

ROOT = Path(__file__).resolve().parents[2]
BOB = "arn:aws:iam::111122223333:user/Bob"


def _policy(tag: str, statements: int = 5) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"S{tag}x{i}",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::bucket-{tag}/{i}/*",
                }
                for i in range(statements)
            ],
        }
    )


def test_simulate_principal_policy_inputs_stay_out_of_the_repository_cache() -> None:
    snapshot = build_snapshot(ROOT / "policies", git=False)
    request = {
        "PolicySourceArn": BOB,
        "ActionNames": ["s3:GetObject"],
        "ResourceArns": ["arn:aws:s3:::bob-scratch/k"],
    }
    simulate_principal_policy(snapshot, request)  # the repository's own partitions
    shared = snapshot.evaluator.cache_stats()["size"]
    for n in range(20):
        out = simulate_principal_policy(
            snapshot,
            {
                **request,
                "PolicyInputList": [_policy(f"p{n}")],
                "ResourceArns": [f"arn:aws:s3:::bucket-p{n}/1/k"],
            },
        )
        assert out["EvaluationResults"][0]["EvalDecision"] in ("allowed", "implicitDeny")
    stats = snapshot.evaluator.cache_stats()
    assert stats["size"] == shared  # nothing of the callers' in the shared cache
    assert 0 < stats["caller_size"] <= 20


def test_caller_policy_cache_is_bounded_in_bytes() -> None:
    evaluator = Evaluator(caller_cache_bytes=2 * 1024 * 1024)
    for n in range(40):
        simulate_custom_policy(
            {
                "PolicyInputList": [_policy(f"c{n}", 40)],
                "ActionNames": ["s3:GetObject"],
                "ResourceArns": [f"arn:aws:s3:::bucket-c{n}/1/k"],
                "CallerArn": BOB,
            },
            evaluator=evaluator,
        )
    stats = evaluator.cache_stats()
    assert stats["size"] == 0
    assert 0 < stats["caller_bytes"] <= 2 * 1024 * 1024
    assert stats["caller_evictions"] > 0


def test_session_policies_stay_out_of_the_repository_cache() -> None:
    from authz.engine.snapshot import authorize
    from authz.iam.model import PolicyType
    from authz.iam.parse import parse_policy

    snapshot = build_snapshot(ROOT / "policies", git=False)
    caller = snapshot.caller("arn:aws:sts::111122223333:assumed-role/auditor/s1")
    authorize(snapshot, caller, "s3:GetObject", "arn:aws:s3:::bucket-x/1/k")
    shared = snapshot.evaluator.cache_stats()["size"]
    for n in range(10):
        policy = parse_policy(_policy(f"s{n}"), PolicyType.SESSION, name="session-policy")
        authorize(snapshot, caller, "s3:GetObject", f"arn:aws:s3:::bucket-s{n}/1/k",
                  session_policies=(policy,))  # fmt: skip
    stats = snapshot.evaluator.cache_stats()
    assert stats["size"] == shared
    assert stats["caller_size"] == 10
