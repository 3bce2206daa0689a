"""The repository partition cache (compiled Cedar) is bounded in bytes as well as entries, and
a reload's snapshot starts with the previous partitions within the same bounds."""

from __future__ import annotations

import json
from pathlib import Path

from authz.engine.snapshot import authorize, build_snapshot

ACCOUNT = "111111111111"
ROLES = 40


def _repo(root: Path) -> Path:
    base = root / "accounts" / ACCOUNT
    (base / "roles").mkdir(parents=True)
    (base / "account.json").write_text(json.dumps({"AccountId": ACCOUNT}))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ],
    }
    for n in range(ROLES):
        inline = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"R{n}S{i}",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::bucket-{n}/{i}/*",
                }
                for i in range(20)
            ],
        }
        doc = {
            "RoleName": f"r{n}",
            "AssumeRolePolicyDocument": trust,
            "RolePolicyList": [{"PolicyName": "own", "PolicyDocument": inline}],
        }
        (base / "roles" / f"r{n}.json").write_text(json.dumps(doc))
    return root


def _touch_every_role(snapshot: object) -> None:
    for n in range(ROLES):
        caller = snapshot.caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/r{n}/s")  # type: ignore[attr-defined]
        decision = authorize(snapshot, caller, "s3:GetObject", f"arn:aws:s3:::bucket-{n}/1/k")  # type: ignore[arg-type]
        assert decision.allowed


def test_partitions_are_bounded_in_bytes(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    roomy = build_snapshot(repo, git=False)
    _touch_every_role(roomy)
    full = roomy.evaluator.cache_stats()
    assert full["evictions"] == 0
    one = full["bytes"] / full["size"]  # what an average partition is charged
    bound = int(one * 10)
    tight = build_snapshot(repo, git=False, partition_cache_bytes=bound)
    _touch_every_role(tight)
    stats = tight.evaluator.cache_stats()
    assert 0 < stats["bytes"] <= bound
    assert stats["size"] < full["size"]
    assert stats["evictions"] > 0


def test_a_reload_adopts_partitions_within_its_own_bounds(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    first = build_snapshot(repo, git=False)
    _touch_every_role(first)
    before = first.evaluator.cache_stats()
    (repo / "accounts" / ACCOUNT / "roles" / "r0.json").write_text(
        (repo / "accounts" / ACCOUNT / "roles" / "r0.json").read_text().replace("own", "mine")
    )
    bound = before["bytes"] // 2
    second = build_snapshot(repo, git=False, previous=first, partition_cache_bytes=bound)
    adopted = second.evaluator.cache_stats()
    assert 0 < adopted["bytes"] <= bound  # the newest half of the previous partitions
    assert adopted["size"] < before["size"]
    hits = adopted["hits"]
    caller = second.caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/r{ROLES - 1}/s")
    authorize(second, caller, "s3:GetObject", f"arn:aws:s3:::bucket-{ROLES - 1}/1/k")
    assert second.evaluator.cache_stats()["hits"] > hits  # reused, not compiled again
