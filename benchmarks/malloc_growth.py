"""What grew between two tracemalloc snapshots of ``benchmarks/malloc_probe.py``.

    python benchmarks/malloc_growth.py OLD.snap NEW.snap [--top 15] [--group traceback|lineno]

Prints the allocation sites whose live bytes grew most from OLD to NEW (both traced from the
same start, so a site that grows is memory allocated after warm-up and still held).
"""

from __future__ import annotations

import argparse
import tracemalloc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--group", choices=("traceback", "lineno", "filename"), default="traceback")
    args = p.parse_args(argv)
    old = tracemalloc.Snapshot.load(args.old)
    new = tracemalloc.Snapshot.load(args.new)
    total_old = sum(s.size for s in old.statistics("filename"))
    total_new = sum(s.size for s in new.statistics("filename"))
    print(f"traced: {total_old / 2**20:.1f} MB -> {total_new / 2**20:.1f} MB")
    for stat in new.compare_to(old, args.group)[: args.top]:
        print(f"\n{stat.size_diff / 2**10:+.1f} KiB ({stat.count_diff:+d} blocks),"
              f" now {stat.size / 2**10:.1f} KiB in {stat.count} blocks")  # fmt: skip
        for line in stat.traceback.format(limit=6, most_recent_first=True):
            print("   ", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
