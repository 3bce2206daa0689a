"""Where does memory go over hundreds of reloads: a leak, or the allocator?

    python benchmarks/reload_memory.py --roles 10000 --reloads 300 [--mode incremental|full]
        [--distinct N] [--tracemalloc] [--json benchmarks/results/reload-memory-<stamp>.json]

In one process, like ``authz serve`` (collector tuned and the start-up heap frozen after the
first snapshot), a ``Reloader`` on a generated repository activates ``--reloads`` revisions,
each a one-file change, with a few Authorize calls on every snapshot. ``full`` rebuilds from
scratch each time (what every reload did before reloads became incremental); ``incremental``
is today's reload. Every ``--every`` reloads it records RSS, Python's own live allocation
(``tracemalloc``, when enabled: it doubles the cost), the number of objects the collector
tracks, and RSS again after ``malloc_trim(0)`` (glibc returns free heap pages to the kernel).

``--distinct N`` adds the soak's traffic between reloads: N Authorize calls on distinct
resources per snapshot (they fill the snapshot's decision cache and memos, which the next
reload drops), and every sample records ``sys.getallocatedblocks()`` (Python's live blocks).

Reading the result: Python-allocated bytes flat while RSS climbs, and ``malloc_trim`` giving
the climb back, is the allocator keeping freed pages (fragmentation), not a leak. Python bytes
or tracked objects climbing with the reload count is a leak; the top ``tracemalloc`` growth
sites then say where.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authz.engine.reload import Reloader
from authz.engine.snapshot import authorize, build_snapshot
from authz.server.app import tune_collector
from benchmarks.gen_repo import generate

OPERATOR = "arn:aws:iam::100000000000:user/operator"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _type_counts() -> Counter[str]:
    return Counter(type(o).__name__ for o in gc.get_objects())


def malloc_trim() -> bool:
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def change(repo: Path, n: int) -> None:
    """One role file rewritten atomically with a new tag: a new revision."""
    path = sorted((repo / "accounts/100000000000/roles").glob("*.json"))[n % 7]
    doc = json.loads(path.read_text())
    doc["Tags"] = [{"Key": "generation", "Value": str(n)}]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def exercise(reloader: Reloader, n: int) -> None:
    snap = reloader.holder.current
    caller = snap.caller(OPERATOR)
    roles = len(snap.repository.accounts["100000000000"].roles)
    for i in range(20):
        j = i % roles  # the same requests on every snapshot: growth is the reloads' own
        role = f"arn:aws:iam::100000000000:role/team{j % 25}/app-{j:05d}"
        authorize(snap, caller, "sts:AssumeRole", role)
        as_role = snap.caller(role)
        authorize(snap, as_role, "s3:GetObject", f"arn:aws:s3:::app-{j:05d}-data/x")


def traffic(reloader: Reloader, n: int, count: int) -> None:
    """``count`` Authorize calls with resources never asked before (as the soak's load)."""
    snap = reloader.holder.current
    caller = snap.caller(OPERATOR)
    actions = ("s3:GetObject", "dynamodb:GetItem", "sqs:SendMessage", "kms:Decrypt")
    for k in range(count):
        resource = f"arn:aws:s3:::soak-{k % 997}/object-{n}-{k}"
        authorize(snap, caller, actions[k % len(actions)], resource)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="reload-memory-"))
    repo = work / "repo"
    generate(repo, args.roles)
    if args.mode == "full":
        reloader = Reloader(repo, git=False, builder=lambda r: build_snapshot(r, git=False))
    else:
        reloader = Reloader(repo, git=False)
    reloader.start()
    exercise(reloader, 0)
    tune_collector()  # as authz serve: the first snapshot frozen, thresholds raised
    if args.tracemalloc:
        tracemalloc.start(12)
    base_trace = tracemalloc.take_snapshot() if args.tracemalloc else None
    samples: list[dict[str, Any]] = []
    types_before = _type_counts()
    started = time.perf_counter()
    for n in range(1, args.reloads + 1):
        change(repo, n)
        time.sleep(0.001)
        outcome = reloader.reload()
        assert outcome is not None and outcome.ok and outcome.changed, outcome
        exercise(reloader, n)
        traffic(reloader, n, args.distinct)
        if n % args.every == 0 or n == 1:
            sample: dict[str, Any] = {"reload": n, "rss_mb": round(rss_mb(), 2)}
            sample["python_blocks"] = sys.getallocatedblocks()
            sample["gc_counts"] = list(gc.get_count())
            sample["gc_tracked"] = len(gc.get_objects())
            if args.tracemalloc:
                current, _ = tracemalloc.get_traced_memory()
                sample["python_mb"] = round(current / 2**20, 2)
            sample["rss_after_collect_mb"] = (gc.collect(), round(rss_mb(), 2))[1]
            sample["rss_after_trim_mb"] = (malloc_trim(), round(rss_mb(), 2))[1]
            sample["seconds"] = round(time.perf_counter() - started, 1)
            samples.append(sample)
            print(json.dumps(sample), file=sys.stderr, flush=True)
    top: list[str] = []
    if base_trace is not None:
        diff = tracemalloc.take_snapshot().compare_to(base_trace, "traceback")
        top = [
            f"{d.size_diff / 1024:+.1f} KiB {d.count_diff:+d} blocks at "
            + " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in list(d.traceback)[::-1][:5])
            for d in diff[:10]
        ]
    gc.collect()
    grown = _type_counts()
    grown.subtract(types_before)
    first, last = samples[0], samples[-1]
    span = max(1, last["reload"] - first["reload"])
    per = {
        key: round((last[key] - first[key]) * 1024 / span, 2)
        for key in ("rss_mb", "rss_after_collect_mb", "rss_after_trim_mb", "python_mb")
        if key in first
    }
    return {
        "mode": args.mode,
        "roles": args.roles,
        "reloads": args.reloads,
        "growth_kib_per_reload": per,
        "gc_tracked_per_reload": round((last["gc_tracked"] - first["gc_tracked"]) / span, 1),
        "python_blocks_per_reload": round(
            (last["python_blocks"] - first["python_blocks"]) / span, 1
        ),
        "distinct_per_reload": args.distinct,
        "samples": samples,
        "tracemalloc_top_growth": top,
        "tracked_types_grown": [f"{name} {count:+d}" for name, count in grown.most_common(8)],
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--roles", type=int, default=10000)
    p.add_argument("--reloads", type=int, default=300)
    p.add_argument("--every", type=int, default=25)
    p.add_argument("--mode", choices=("incremental", "full"), default="incremental")
    p.add_argument("--distinct", type=int, default=0, help="distinct Authorize per snapshot")
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
