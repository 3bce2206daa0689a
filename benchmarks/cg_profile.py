"""A callgrind dump as Markdown: instructions per call by object (shared library) and the top
functions by own instructions — how ``results/grpc-instr-profile-*.md`` are written.

    python benchmarks/cg_profile.py DUMP --calls 200 --title "..." --command "..." > OUT.md

``DUMP`` is one segment kept by ``grpc_instr.py --keep DIR`` (e.g. ``DIR/cg.out.2``, the
plaintext-secret segment) or ``peer_instr.py --keep DIR``, ``--calls`` the calls it holds;
``--event I1mr`` (a ``--cache-sim`` dump) breaks down first-level instruction cache misses
instead of instructions. Reads ``callgrind_annotate``'s
exclusive per-function counts; a function without a named object is inlined interpreter code.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess

_LINE = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[(.+)\])?$")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--title", default="Where a whole `authz serve` spends a call")
    parser.add_argument("--command", default="")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--event",
        default="Ir",
        help="the event to break down (a --cache-sim dump also has I1mr, D1mr, D1mw, ...)",
    )
    args = parser.parse_args()
    text = subprocess.run(["callgrind_annotate", "--threshold=100", f"--show={args.event}",
                           f"--sort={args.event}", args.dump],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    unit = "instructions" if args.event == "Ir" else f"`{args.event}`"
    total = 0
    by_object: collections.Counter[str] = collections.Counter()
    functions: list[tuple[int, str]] = []
    for line in text.splitlines():
        found = _LINE.match(line)
        if not found:
            continue
        count, name, obj = int(found.group(1).replace(",", "")), found.group(2), found.group(3)
        if name == "PROGRAM TOTALS":
            total = count
            continue
        where = obj or "(no object named: inlined interpreter code)"
        by_object[where.rsplit("/", 1)[-1]] += count
        functions.append((count, name))
    per = args.calls
    out = [f"# {args.title}", ""]
    if args.command:
        out += [args.command, ""]
    out += [f"Total per call: {total // per:,} {unit}.", "",
            "| object | per call | share |", "|---|---:|---:|"]  # fmt: skip
    for obj, count in by_object.most_common():
        if count * 1000 >= total:
            out.append(f"| `{obj}` | {count // per:,} | {100 * count / total:.1f} % |")
    out += ["", f"Top functions by own (exclusive) {unit}:", "",
            "| per call | share | function |", "|---:|---:|---|"]  # fmt: skip
    for count, name in sorted(functions, reverse=True)[: args.top]:
        out.append(f"| {count // per:,} | {100 * count / total:.1f} % | `{name}` |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
