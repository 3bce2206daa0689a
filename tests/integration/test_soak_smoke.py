"""A short slice of ``make soak``: ``benchmarks/soak.py`` runs a real ``authz serve`` subprocess
on a generated repository, changes it while serving open-loop Authorize load on 127.0.0.1, and
reports per-minute latency, errors, RSS, threads and descriptors. The slice proves the harness
works end to end and that reloads under load cost no request (the full 10-minute run's figures
are committed in benchmarks/results)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_with_reloads_has_no_errors(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "soak", "--seconds", "15"]
    argv += ["--roles", "1000", "--rate", "60", "--change-every", "4", "--out", str(tmp_path)]
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


def test_a_server_log_with_errors_outlives_the_run(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("soak", ROOT / "benchmarks" / "soak.py")
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = soak  # its dataclasses look their module up
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(soak)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        del sys.modules["soak"]
    quiet, failed = tmp_path / "quiet.log", tmp_path / "failed.log"
    quiet.write_text("2026-12-06 INFO authz.reload activated\n")
    failed.write_text("2026-12-06 ERROR authz.edge INTERNAL\nTraceback (most recent call last):\n")
    out = tmp_path / "out"
    assert soak.keep_server_log(quiet, out, "soak-x") is None
    assert soak.keep_server_log(tmp_path / "missing.log", out, "soak-y") is None
    kept = soak.keep_server_log(failed, out, "soak-z")
    assert kept == out / "soak-z-server.log" and "Traceback" in kept.read_text()
