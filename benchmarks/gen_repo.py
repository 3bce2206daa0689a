"""Synthetic policy repositories for scale measurements, and the measurement itself.

    python benchmarks/gen_repo.py generate --roles 10000 --out /tmp/repo10k
    python benchmarks/gen_repo.py measure --sizes 10,1000,10000 [--json OUT]

``generate`` writes a repository with N roles spread over accounts of at most 1,000 roles, an
organization with SCPs, a small pool of customer managed policies and boundaries that roles
reuse (so principals share compiled partitions), inline policies on about a third of the roles
(those identity partitions are per role), users that assume the roles, and one policy test.

``measure`` generates each size into a temporary directory and, in a fresh subprocess per size
(clean RSS), reports: load time (``build_snapshot``), resident memory after loading, the first
decision per principal (lazy Cedar compile; median over a sample of roles), the steady
decision time (warmed principals, distinct resources so every decision is evaluated) and the
decision-cache hit time. One run, all sizes.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

V = "2012-10-17"
ROLES_PER_ACCOUNT = 1000
SERVICES = ["s3", "dynamodb", "sqs", "sns", "logs", "kms", "lambda", "ec2"]
READ = {
    "s3": ["s3:GetObject", "s3:ListBucket"],
    "dynamodb": ["dynamodb:GetItem", "dynamodb:Query"],
    "sqs": ["sqs:ReceiveMessage"],
    "sns": ["sns:ListTopics"],
    "logs": ["logs:GetLogEvents"],
    "kms": ["kms:Decrypt"],
    "lambda": ["lambda:GetFunction"],
    "ec2": ["ec2:Describe*"],
}
WRITE = {
    "s3": ["s3:PutObject"],
    "dynamodb": ["dynamodb:PutItem"],
    "sqs": ["sqs:SendMessage"],
    "sns": ["sns:Publish"],
    "logs": ["logs:PutLogEvents"],
    "kms": ["kms:Encrypt"],
    "lambda": ["lambda:InvokeFunction"],
    "ec2": ["ec2:StartInstances"],
}


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": V, "Statement": list(statements)}


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))


def _managed_pool(account: str) -> dict[str, dict[str, Any]]:
    """A dozen customer managed policies: read and write per service, a few with conditions."""
    pool: dict[str, dict[str, Any]] = {}
    for svc in SERVICES:
        pool[f"{svc}-read"] = _doc(
            {"Sid": "Read", "Effect": "Allow", "Action": READ[svc], "Resource": "*"}
        )
        pool[f"{svc}-write"] = _doc(
            {
                "Sid": "Write",
                "Effect": "Allow",
                "Action": WRITE[svc],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/env": "prod"}},
            },
            {
                "Sid": "NoWriteFromOutside",
                "Effect": "Deny",
                "Action": WRITE[svc],
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}},
            },
        )
    pool["boundary-standard"] = _doc(
        {"Effect": "Allow", "Action": [f"{s}:*" for s in SERVICES], "Resource": "*"}
    )
    pool["boundary-readonly"] = _doc(
        {"Effect": "Allow", "Action": [a for s in SERVICES for a in READ[s]], "Resource": "*"}
    )
    del account
    return pool


def _role(account: str, index: int, rng: random.Random) -> dict[str, Any]:
    svc = SERVICES[index % len(SERVICES)]
    combos = [
        [f"{svc}-read"],
        [f"{svc}-read", f"{svc}-write"],
        [f"{svc}-read", f"{SERVICES[(index // 8) % 8]}-read"],
    ]
    attached = combos[rng.randrange(len(combos))]
    team = f"team{index % 25}"
    trust = _doc(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}
            if index % 3
            else {"Service": "ci.internal"},
        }
    )
    role: dict[str, Any] = {
        "RoleName": f"app-{index:05d}",
        "Path": f"/{team}/",
        "AssumeRolePolicyDocument": trust,
        "MaxSessionDuration": 3600 * (1 + index % 4),
        "AttachedManagedPolicies": [
            {"PolicyName": n, "PolicyArn": f"arn:aws:iam::{account}:policy/{n}"} for n in attached
        ],
        "Tags": [
            {"Key": "team", "Value": team},
            {"Key": "env", "Value": "prod" if index % 2 else "dev"},
        ],
    }
    if index % 3 == 0:
        role["RolePolicyList"] = [
            {
                "PolicyName": "own-bucket",
                "PolicyDocument": _doc(
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": f"arn:aws:s3:::app-{index:05d}-data/*",
                    }
                ),
            }
        ]
    if index % 4 == 0:
        boundary = "boundary-readonly" if index % 8 == 0 else "boundary-standard"
        arn = f"arn:aws:iam::{account}:policy/{boundary}"
        role["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": arn,
        }
    return role


def generate(out: Path, roles: int, *, seed: int = 7) -> dict[str, int]:
    """Write a synthetic repository with ``roles`` roles under ``out``."""
    rng = random.Random(seed)
    accounts = [f"{100000000000 + i:012d}" for i in range(max(1, -(-roles // ROLES_PER_ACCOUNT)))]
    for a, account in enumerate(accounts):
        base = out / "accounts" / account
        _write(base / "account.json", {"Alias": f"synthetic-{a}"})
        for name, doc in _managed_pool(account).items():
            _write(base / "policies" / f"{name}.json", {"PolicyName": name, "Document": doc})
        first, last = a * ROLES_PER_ACCOUNT, min(roles, (a + 1) * ROLES_PER_ACCOUNT)
        for i in range(first, last):
            role = _role(account, i, rng)
            _write(base / "roles" / f"{role['RoleName']}.json", role)
        _write(
            base / "users" / "operator.json",
            {
                "UserName": "operator",
                "UserPolicyList": [
                    {
                        "PolicyName": "assume",
                        "PolicyDocument": _doc(
                            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
                        ),
                    }
                ],
            },
        )
    _write(
        out / "organization.json",
        {
            "Id": "o-synthetic",
            "Policies": [
                {
                    "Id": "p-full",
                    "Name": "FullAWSAccess",
                    "Document": _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                },
                {
                    "Id": "p-regions",
                    "Name": "DenyKmsDeletion",
                    "Document": _doc(
                        {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}
                    ),
                },
            ],
            "Root": {
                "Id": "r-root",
                "Name": "Root",
                "PolicyIds": ["p-full", "p-regions"],
                "Children": [
                    {"Id": "ou-apps", "Name": "Apps", "PolicyIds": ["p-full"], "Accounts": accounts}
                ],
            },
        },
    )
    (out / "tests").mkdir(parents=True, exist_ok=True)
    (out / "tests" / "smoke.yaml").write_text(
        "tests:\n  - name: operator assumes app-00001\n"
        f"    principal: arn:aws:iam::{accounts[0]}:user/operator\n"
        "    action: sts:AssumeRole\n"
        f"    resource: arn:aws:iam::{accounts[0]}:role/team1/app-00001\n"
        "    expect: Allow\n"
    )
    return {"roles": roles, "accounts": len(accounts)}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_one(root: Path, sample: int = 50, steady: int = 2000) -> dict[str, Any]:
    """Measure one generated repository in this process."""
    from authz.engine.snapshot import authorize, build_snapshot, run_repo_tests

    rss0 = _rss_mb()
    started = time.perf_counter()
    snap = build_snapshot(root, git=False)
    load = time.perf_counter() - started
    rss = _rss_mb()
    assert all(r.passed for r in run_repo_tests(snap))
    roles = sorted(snap.repository.roles_by_arn.values(), key=lambda r: r.name)
    rng = random.Random(1)
    picked = rng.sample(roles, min(sample, len(roles)))
    context = {"aws:SourceIp": "10.1.2.3"}
    firsts = []
    requests = []
    for role in picked:
        caller = snap.caller(f"arn:aws:sts::{role.account}:assumed-role/{role.name}/bench")
        svc = role.attached[0].rsplit("/", 1)[-1].split("-")[0]
        action = READ[svc][0]
        t = time.perf_counter()
        authorize(snap, caller, action, "arn:aws:s3:::x/y", context)
        firsts.append(time.perf_counter() - t)
        requests.append((caller, action))
    times = []  # distinct resources: every decision evaluated (no decision-cache hit)
    for i in range(steady):
        caller, action = requests[i % len(requests)]
        t = time.perf_counter()
        authorize(snap, caller, action, f"arn:aws:s3:::x/{i}", context)
        times.append(time.perf_counter() - t)
    cached = []  # the first sample's requests again: decision-cache hits
    for i in range(steady):
        caller, action = requests[i % len(requests)]
        t = time.perf_counter()
        authorize(snap, caller, action, "arn:aws:s3:::x/y", context)
        cached.append(time.perf_counter() - t)
    return {
        "roles": len(roles),
        "load_s": round(load, 3),
        "rss_mb": round(rss, 1),
        "rss_delta_mb": round(rss - rss0, 1),
        "first_decision_ms_median": round(statistics.median(firsts) * 1000, 2),
        "first_decision_ms_max": round(max(firsts) * 1000, 2),
        "steady_decision_us_median": round(statistics.median(times) * 1e6, 1),
        "steady_decision_us_p99": round(sorted(times)[int(len(times) * 0.99)] * 1e6, 1),
        "cached_decision_us_median": round(statistics.median(cached) * 1e6, 1),
        "cache": snap.cache_stats(),
    }


def measure(sizes: list[int]) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "repo"
            t = time.perf_counter()
            generate(root, size)
            gen = time.perf_counter() - t
            code = (
                "import json,sys; from benchmarks.gen_repo import measure_one; "
                "from pathlib import Path; print(json.dumps(measure_one(Path(sys.argv[1]))))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code, str(root)],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[1],
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["generate_s"] = round(gen, 2)
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--roles", type=int, required=True)
    g.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("measure")
    m.add_argument("--sizes", default="10,1000,10000")
    m.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(json.dumps(generate(args.out, args.roles)))
        return 0
    results = measure([int(s) for s in args.sizes.split(",")])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
