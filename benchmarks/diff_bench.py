"""Benchmark of the change preview (``authz diff`` / PreviewReload) on a synthetic repository.

    python benchmarks/diff_bench.py [--roles 10000] [--rounds 3] [--max-seconds 300]

Generates the repository with ``benchmarks/gen_repo.py``, copies it, and edits the copy the way
a person would: one customer managed policy of the first account gains an action. Each round
builds both snapshots fresh (cold Cedar partitions, as on a reload), generates the requests
(every principal x its policies' actions) and replays them on both, within ``--max-seconds``
(the report says when a round is partial). Writes every round to
``benchmarks/results/diff-<roles>-<UTC time>.json``; one process, bounded, no network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from gen_repo import generate  # noqa: E402

from authz.engine.diff import diff_snapshots, generated_requests  # noqa: E402
from authz.engine.snapshot import build_snapshot  # noqa: E402

EDITED = "accounts/100000000000/policies/s3-read.json"


def _edit(repo: Path) -> None:
    path = repo / EDITED
    doc = json.loads(path.read_text())
    doc["Document"]["Statement"][0]["Action"].append("s3:GetObjectVersion")
    path.write_text(json.dumps(doc))


def one_round(old: Path, new: Path, max_seconds: float) -> dict[str, Any]:
    started = time.perf_counter()
    serving, candidate = build_snapshot(old, git=False), build_snapshot(new, git=False)
    built = time.perf_counter()
    requests = generated_requests((serving, candidate))
    generated = time.perf_counter()
    report = diff_snapshots(serving, candidate, requests, max_seconds=max_seconds)
    return {
        "build_seconds": round(built - started, 3),
        "generate_seconds": round(generated - built, 3),
        "replay_seconds": round(report.seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
        "requests_generated": len(requests),
        "requests_replayed": report.requests,
        "decisions_per_second": round(2 * report.requests / report.seconds, 1)
        if report.seconds
        else None,
        "changed": len(report.changed),
        "complete": report.complete,
        "changed_actions": sorted({c.request.action for c in report.changed}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=10_000, help="roles in the repository")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds")
    parser.add_argument(
        "--max-seconds", type=float, default=300.0, help="replay time budget per round"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="authz-diff-bench-") as tmp:
        old, new = Path(tmp) / "old", Path(tmp) / "new"
        counts = generate(old, args.roles)
        shutil.copytree(old, new)
        _edit(new)
        rounds = []
        for n in range(args.rounds):
            result = one_round(old, new, args.max_seconds)
            rounds.append(result)
            print(f"round {n + 1}: {json.dumps(result)}", flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    doc = {
        "benchmark": "diff",
        "roles": args.roles,
        "repository": counts,
        "edit": f"{EDITED}: + s3:GetObjectVersion",
        "max_seconds": args.max_seconds,
        "command": "python benchmarks/diff_bench.py " + " ".join(argv or sys.argv[1:]),
        "rounds": rounds,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"diff-{args.roles}-{stamp}.json"
    target.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
