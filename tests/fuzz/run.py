"""``make fuzz``: every fuzz target (tests/fuzz/targets.py) with a large budget, in parallel
worker processes, then one report: inputs run, crashes, mismatches, inputs over their time
bound and the slowest input, printed and written to ``benchmarks/results/fuzz-<date>.json``.
Exit status 1 when anything was found.

    python -m tests.fuzz.run [--differential N] [--policy N] [--rpc N] [--repo N]
                             [--jobs 2] [--seed S] [--out benchmarks/results]

The differential budget counts compared cases (requests decided by both sides; each generated
policy set carries 2-4 requests); it is split between the authorize and trust generators
(3:1). A mismatch is also written as a case file in tests/cases/data (the first few per
process) to review and keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

TARGETS = ("authorize", "trust", "policy", "rpc", "repo")


def run_task(name: str, budget: int, seed: int) -> dict[str, Any]:
    """One worker task: ``budget`` inputs of target ``name`` from ``seed``."""
    from tests.fuzz.engine import Tally, drive
    from tests.fuzz.targets import BOUNDS, target

    strategy, check = target(name)
    if name == "rpc":
        from tests.fuzz import rpc

        rpc.start()  # the server starts outside the timed inputs
    tally = Tally(name, BOUNDS[name])
    drive(tally, strategy, check, budget, seed, count_cases=name in ("authorize", "trust"))
    if name == "rpc":
        from tests.fuzz import rpc

        rpc.close()
    return asdict(tally)


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(target, budget) tasks, cut so that ``jobs`` processes finish at about the same time."""
    budgets = {
        "authorize": args.differential * 3 // 4,
        "trust": args.differential - args.differential * 3 // 4,
        "policy": args.policy,
        "rpc": args.rpc,
        "repo": args.repo,
    }
    pieces = {"authorize": 12, "trust": 4, "policy": 2, "rpc": 2, "repo": 2}
    tasks = []
    for name in TARGETS:
        total, count = budgets[name], pieces[name]
        if total <= 0:
            continue
        count = min(count, total)
        for i in range(count):
            share = total // count + (1 if i < total % count else 0)
            tasks.append((name, share))
    # the slow-per-input targets first, so they do not finish last on one core
    order = {"repo": 0, "rpc": 1, "policy": 2, "trust": 3, "authorize": 4}
    return sorted(tasks, key=lambda t: order[t[0]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--differential", type=int, default=100_000)
    parser.add_argument("--policy", type=int, default=8_000)
    parser.add_argument("--rpc", type=int, default=4_000)
    parser.add_argument("--repo", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    tasks = plan(args)
    print(f"fuzz: seed {seed}, {len(tasks)} tasks on {args.jobs} processes", flush=True)
    started, load_before = time.monotonic(), os.getloadavg()
    from tests.fuzz.engine import Tally
    from tests.fuzz.targets import BOUNDS

    totals = {name: Tally(name, BOUNDS[name]) for name in TARGETS}
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(run_task, name, budget, seed + 1000 * i)
            for i, (name, budget) in enumerate(tasks)
        ]
        for future in futures:
            result = Tally(**future.result())
            totals[result.target].merge(result)
            print(
                f"  {result.target:<9} {result.inputs:>7} inputs {result.cases:>7} cases"
                f"  {result.seconds:7.1f} s"
                f"  crashes {result.crashes}  mismatches {result.mismatches}"
                f"  over bound {result.over_bound}",
                flush=True,
            )
    duration = time.monotonic() - started
    report = _report(totals, seed, duration, load_before, args)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = args.out / f"fuzz-{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    _print(report, path)
    found = report["totals"]
    return 1 if found["crashes"] or found["mismatches"] or found["over_bound"] else 0


def _report(
    totals: dict[str, Any],
    seed: int,
    duration: float,
    load_before: tuple[float, float, float],
    args: argparse.Namespace,
) -> dict[str, Any]:
    targets = {name: asdict(t) for name, t in totals.items()}
    slowest = max(totals.values(), key=lambda t: t.slowest_seconds)
    differential = sum(totals[n].cases for n in ("authorize", "trust"))
    slowest_wall = max(t.slowest_wall_seconds for t in totals.values())
    return {
        "command": "make fuzz (python -m tests.fuzz.run " + " ".join(sys.argv[1:]) + ")",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "jobs": args.jobs,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "duration_seconds": round(duration, 1),
        "bounds_seconds": {name: t.bound_seconds for name, t in totals.items()},
        "totals": {
            "inputs": sum(t.inputs for t in totals.values()),
            "cases_checked": sum(t.cases + t.rejected for t in totals.values()),
            "differential_cases_compared": differential,
            "rejected_as_documented": sum(t.rejected for t in totals.values()),
            "crashes": sum(t.crashes for t in totals.values()),
            "mismatches": sum(t.mismatches for t in totals.values()),
            "over_bound": sum(t.over_bound for t in totals.values()),
            "slowest_cpu_seconds": round(slowest.slowest_seconds, 4),
            "slowest_wall_seconds": round(slowest_wall, 4),
            "slowest_target": slowest.target,
            "slowest_input": slowest.slowest_input,
        },
        "targets": targets,
    }


def _print(report: dict[str, Any], path: Path) -> None:
    t = report["totals"]
    print(
        f"fuzz: {t['inputs']} generated inputs, {t['cases_checked']} cases checked "
        f"({t['differential_cases_compared']} differential cases "
        f"compared, {t['rejected_as_documented']} rejected as documented) in "
        f"{report['duration_seconds']} s\n"
        f"      crashes {t['crashes']}, mismatches {t['mismatches']}, over the time bound "
        f"{t['over_bound']}\n"
        f"      slowest input {t['slowest_cpu_seconds']} s CPU ({t['slowest_target']}; slowest "
        f"wall time {t['slowest_wall_seconds']} s): "
        f"{t['slowest_input'][:300]}\n"
        f"      written to {path}",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
