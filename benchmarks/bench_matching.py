"""Wildcard matching worst cases (issue 10): the product's matcher (``authz.iam.glob``), the
backtracking regex it replaced (small sizes only: it is exponential), and Cedar's own ``like``
(cedarpy), which is the greedy two-pointer algorithm: len(value) × (longest literal run after a
``*``), holding the GIL. Every round is reported, not only the best.

    .venv/bin/python benchmarks/bench_matching.py [--rounds 5] [--out benchmarks/results]

Writes ``<out>/matching.json``. Bounded: about half a minute on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

from authz.cedar.pattern import CEDAR_LIKE_MAX_RUN
from authz.iam.glob import glob_match

MIB = 1 << 20


def _rounds(call: Callable[[], object], rounds: int) -> dict[str, Any]:
    seconds = []
    result: object = None
    for _ in range(rounds):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return {
        "result": result,
        "ms_min": round(min(seconds) * 1000, 3),
        "ms_max": round(max(seconds) * 1000, 3),
        "ms_rounds": [round(s * 1000, 3) for s in seconds],
    }


def _glob_cases() -> list[tuple[str, str, str]]:
    return [
        ('"*a"x1000 + "?b" vs "a" x 1 MiB (issue 10)', "*a" * 1000 + "?b", "a" * MIB),
        ('"*a"x1000 + "?b" vs "a" x (1 MiB-2) + "xb"', "*a" * 1000 + "?b", "a" * (MIB - 2) + "xb"),
        ('"*" + "a"x1000 + "?b*" vs "a" x 1 MiB', "*" + "a" * 1000 + "?b*", "a" * MIB),
        ('"*" + "a?"x500 + "b*" vs "a" x 1 MiB', "*" + "a?" * 500 + "b*", "a" * MIB),
        ('"*/*/??.csv" vs "/" x 1 MiB', "*/*/??.csv", "/" * MIB),
        ('"*/*/??.csv" vs "/" x 40,000 (issue 10: 5-8 s)', "*/*/??.csv", "/" * 40_000),
        ('"*a?b*" vs "ab" x 512 Ki (slowest known shape)', "*a?b*", "ab" * (MIB // 2)),
        ('"*a?b*" vs "ab" x 1 Ki (2,048: the ARN limit)', "*a?b*", "ab" * 1024),
        ('"*a?b*" vs "ab" x 2 Ki (4,096: the context-value limit)', "*a?b*", "ab" * 2048),
    ]


def _regex(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body + r"\Z", re.DOTALL)


def _cedar_like(pattern: str, value: str) -> Callable[[], object]:
    policy = f'permit(principal, action, resource) when {{ context.s like "{pattern}" }};'
    request = {
        "principal": 'U::"a"',
        "action": 'A::"a"',
        "resource": 'R::"a"',
        "context": {"s": value},
    }
    return lambda: cedarpy.is_authorized(request, policy, []).decision.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rounds = args.rounds
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cedarpy": getattr(cedarpy, "__version__", "?"),
        "loadavg": os.getloadavg(),
        "rounds": rounds,
        "command": "python benchmarks/bench_matching.py",
    }
    report["glob"] = {
        label: _rounds(lambda p=p, v=v: glob_match(p, v), rounds) for label, p, v in _glob_cases()
    }
    report["backtracking_regex_replaced"] = {
        f'"*a"x10 + "?b" vs "a" x {n}': _rounds(
            lambda n=n: _regex("*a" * 10 + "?b").match("a" * n) is not None, 1
        )
        for n in (16, 20, 24)
    }
    like = {
        f'"*" + "a"x{m} + "b" vs "a" x {n}': _rounds(
            _cedar_like("*" + "a" * m + "b", "a" * n), 1 if m * n > 10**8 else rounds
        )
        for m, n in ((64, 2048), (64, 4096), (64, MIB), (1000, 4096), (1000, 100_000), (1000, MIB))
    }
    like['"*a"x1000 + "b" vs "a" x 1 MiB'] = _rounds(
        _cedar_like("*a" * 1000 + "b", "a" * MIB), rounds
    )
    report["cedar_like"] = like
    report["cedar_like_max_run"] = CEDAR_LIKE_MAX_RUN
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "matching.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    for section in ("glob", "backtracking_regex_replaced", "cedar_like"):
        for label, figures in report[section].items():
            print(
                f"{section:28} {label:52} {figures['ms_min']:>10.3f} ms (max {figures['ms_max']})"
            )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
