"""The report of ``benchmarks/state_bench.py``: ratios are computed within each round (never
across rounds), every round is listed, and the PostgreSQL CPU share counts the whole process
tree of the server (its backends are children of the postmaster)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from tests.benchscripts import load

ROOT = Path(__file__).resolve().parents[2]


def _state_bench() -> ModuleType:
    return load("state_bench")


def _run(rps: float) -> dict[str, object]:
    return {"rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "errors": {}, "server_cpu_us": 500.0}


def test_ratios_are_per_round_and_every_round_is_reported() -> None:
    sb = _state_bench()
    rounds = [
        {"round": n + 1, "results": {sc: {"file": _run(f), "sqlite": _run(s),
                                          "postgresql": _run(p)} for sc in sb.SCENARIOS}}
        for n, (f, s, p) in enumerate([(1000, 900, 800), (500, 500, 250), (2000, 1000, 1000)])
    ]  # fmt: skip
    replicas = [
        {"round": n + 1, "results": {sc: {"one": _run(one), "three": _run(three)}
                                     for sc in sb.SCENARIOS}}
        for n, (one, three) in enumerate([(1000, 1500), (1000, 1200), (500, 900)])
    ]  # fmt: skip
    report = {"rounds": rounds, "replica_rounds": replicas}
    summary = sb.summary(report)
    assert summary["authorize: sqlite / file req/s"] == {
        "per_round": [0.9, 1.0, 0.5],
        "median": 0.9,
    }
    assert summary["assume-role: postgresql / file req/s"]["per_round"] == [0.8, 0.5, 0.5]
    assert summary["authorize: three replicas / one req/s"] == {
        "per_round": [1.5, 1.2, 1.8],
        "median": 1.5,
    }
    report.update(
        summary=summary,
        command="python benchmarks/state_bench.py",
        revisions={"file": "a" * 40, "sqlite": "b" * 40, "postgresql": "b" * 40},
        cpus=2,
        loadavg_start=[0.1, 0.1, 0.1],
        loadavg_end=[0.5, 0.2, 0.1],
        load={"connections": 6, "streams": 8, "warmup_s": 1, "duration_s": 5},
    )
    text = sb.markdown(report, "stamp")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "| file |" in line]
    assert len(rows) == 3 * len(sb.SCENARIOS)  # every round, every scenario
    assert "0.9, 1.0, 0.5" in text and "aaaaaaaaaaaa" in text


def _own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_process_tree_cpu_counts_living_and_finished_children() -> None:
    """A PostgreSQL backend is a child of the postmaster: its CPU counts while it runs, and
    after it has exited (through the parent's cutime/cstime)."""
    sb = _state_bench()
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < {}: pass\n"
    parent_code = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {burn.format(0.4)!r}])\n"  # finished, reaped
        f"child = subprocess.Popen([sys.executable, '-c', {burn.format(30)!r}])\n"  # running
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        first = sb.tree_cpu_seconds(parent.pid)
        assert first >= 0.35  # the finished child's 0.4 s
        # The running child's CPU counts: wait (bounded) until it has burnt 0.2 s by its own
        # account, however busy the machine, then the tree must have grown at least as much.
        # (A fixed sleep failed on a loaded machine: the child got less than 0.2 s of 0.5.)
        child_before = _own_cpu_seconds(child)
        deadline = time.monotonic() + 30
        while _own_cpu_seconds(child) - child_before < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        burnt = _own_cpu_seconds(child) - child_before
        assert burnt >= 0.2
        assert sb.tree_cpu_seconds(parent.pid) - first >= burnt - 0.02  # one tick each side
        assert sb.tree_cpu_seconds(2**22 + 1) == 0.0  # no such process
    finally:
        with contextlib.suppress(NameError, ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
