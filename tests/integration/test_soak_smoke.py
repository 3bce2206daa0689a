"""A short slice of ``make soak``: ``benchmarks/soak.py`` runs a real ``authz serve`` subprocess
on a generated repository, changes it while serving open-loop Authorize load on 127.0.0.1, and
reports per-minute latency, errors, RSS, threads and descriptors. The slice proves the harness
works end to end and that reloads under load cost no request (the full 10-minute run's figures
are committed in benchmarks/results)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_with_reloads_has_no_errors(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "soak", "--seconds", "15"]
    argv += ["--roles", "1000", "--rate", "60", "--change-every", "4", "--out", str(tmp_path)]
    argv += ["--malloc-probe", "3"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, cwd=ROOT, check=False)
    results = sorted(tmp_path.glob("soak-*.json"))
    assert results, done.stdout + done.stderr
    result = json.loads(results[0].read_text())
    assert (tmp_path / results[0].name.replace(".json", ".md")).exists()
    assert result["overall"]["errors"] == {}, result["overall"]
    assert result["overall"]["requests"] >= 0.8 * 15 * 60
    assert result["changes"] >= 3
    assert result["reloads"]["reload_activated"] >= 1 + 2  # the start, and most changes
    assert result["reloads"]["reload_failed"] == 0
    minute = result["minutes"][0]
    assert minute["rss_mb"] > 0 and minute["threads"] > 0 and minute["fds"] > 0
    # the allocator probe ran inside the server: pymalloc's arenas and glibc's heap sampled
    assert minute["pymalloc_arenas"] > 0 and minute["pymalloc_live_mb"] > 1, minute
    assert minute["glibc_heap_mb"] > 0, minute
    # 15 s: fewer than three whole change cycles in the second half, too few to judge the trend
    assert result["rss_flat"] is None and result["met"] is False
    assert result["server_samples"][-1]["cpu_s"] > 0  # the server's CPU, sampled


def _load(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        del sys.modules[name]
    return module


def test_flat_rss_is_judged_on_the_second_half_slope() -> None:
    soak = _load("soak")

    def samples(rss_at: Any) -> list[dict[str, float]]:  # every 5 s for 10 minutes
        return [{"t": t, "rss_mb": rss_at(t)} for t in range(0, 601, 5)]

    def sawtooth(t: float) -> float:  # a reload every 30 s: +-2 MB around 180, no trend
        return 180 + 4 * ((t % 30) / 30) - 2

    flat = soak.rss_flatness(samples(sawtooth), 600, 30)
    assert flat["rss_flat"] is True and abs(flat["rss_second_half_mb_per_minute"]) < 0.005
    assert flat["rss_second_half_cycles"] == 10  # the whole 30-s cycles from 300 s to 600 s
    # +0.1 MB a minute (6 MB an hour) on the same sawtooth: not flat
    creeping = soak.rss_flatness(samples(lambda t: sawtooth(t) + 0.1 * t / 60), 600, 30)
    assert creeping["rss_flat"] is False
    assert abs(creeping["rss_second_half_mb_per_minute"] - 0.1) < 0.005
    # warm-up: a steep first half that then stays put is flat
    warm = soak.rss_flatness(samples(lambda t: sawtooth(t) + min(t, 300) / 10), 600, 30)
    assert warm["rss_flat"] is True
    assert soak.rss_flatness(samples(sawtooth)[:2], 600, 30) == {"rss_flat": None}


def test_the_probe_reads_pymalloc_and_sees_it_off_under_pythonmalloc_malloc() -> None:
    probe = _load("malloc_probe")
    code = "import sys; sys._debugmallocstats()"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    stats = probe.parse_pymalloc(printed.stderr)
    assert stats["arenas_current"] > 0
    assert stats["arena_bytes"] == stats["total_bytes"] > 0
    assert 0 < stats["allocated_bytes"] < stats["total_bytes"]
    assert stats["arenas_highwater"] >= stats["arenas_current"]
    here = probe.sample()
    assert here["pymalloc"]["arenas_current"] > 0 and here["glibc"]["uordblks"] > 0
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert probe.parse_pymalloc(off.stderr) == {}


def test_a_server_log_with_errors_outlives_the_run(tmp_path: Path) -> None:
    soak = _load("soak")
    quiet, failed = tmp_path / "quiet.log", tmp_path / "failed.log"
    quiet.write_text("2026-12-06 INFO authz.reload activated\n")
    failed.write_text("2026-12-06 ERROR authz.edge INTERNAL\nTraceback (most recent call last):\n")
    out = tmp_path / "out"
    assert soak.keep_server_log(quiet, out, "soak-x") is None
    assert soak.keep_server_log(tmp_path / "missing.log", out, "soak-y") is None
    kept = soak.keep_server_log(failed, out, "soak-z")
    assert kept == out / "soak-z-server.log" and "Traceback" in kept.read_text()
