"""Shared fixtures of the micro benchmarks and the hook that writes their ratios.

Every benchmark sets ``benchmark.group`` and ``benchmark.extra_info["role"]``: ``baseline``
(the bare building block: a cedarpy call on a pre-parsed set, a PyJWT sign, ``json.loads``)
or ``subject`` (authz's own path). At the end of the session each subject's time is divided
by its group's baseline (minimum times; medians beside them) and written to
``benchmarks/results/micro-<YYYYmmdd-HHMMSS>.json`` (``AUTHZ_BENCH_OUT`` overrides the
directory). Targets (issue 6) are checked there too: ``met`` is true / false / absent.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "harness"))  # harness_policy: the bare baseline
sys.path.insert(0, str(ROOT))  # benchmarks.gen_repo

from tests.cases.loader import managed_policies_dir  # noqa: E402

CORPUS = managed_policies_dir()  # the in-repository corpus (tests/data), unpacked once
READ_ONLY = CORPUS / "ReadOnlyAccess.json"
ACCOUNT = "111122223333"

# (group, subject name, max ratio) — the targets of issue 6 that micro benchmarks measure.
TARGETS = {
    "decision-read-only-access": ("test_decision_read_only_access", 3.0),
    "decision-repo-scale": ("test_decision_10000_roles", 1.5),
}


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("micro")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def scale_repos(workdir: Path) -> dict[int, Path]:
    """Synthetic repositories of 10, 1,000 and 10,000 roles (``benchmarks/gen_repo.py``)."""
    from benchmarks.gen_repo import generate

    repos = {}
    for roles in (10, 1000, 10000):
        repos[roles] = workdir / f"repo-{roles}"
        generate(repos[roles], roles)
    return repos


def _us(bench: dict[str, Any], stat: str) -> float:
    return round(float(bench["stats"][stat]) * 1e6, 2)


def ratios(benchmarks: list[dict[str, Any]]) -> dict[str, Any]:
    """Per group: every benchmark's min and median, and each subject's ratio to the baseline.
    ``ratios`` divide the *minimum* times (other work on a shared machine only ever adds
    time, so the minimum is the steadiest estimate); ``median_ratios`` are beside them."""
    groups: dict[str, dict[str, Any]] = {}
    for bench in benchmarks:
        group = groups.setdefault(bench["group"] or bench["name"], {"min_us": {}, "median_us": {}})
        group["min_us"][bench["name"]] = _us(bench, "min")
        group["median_us"][bench["name"]] = _us(bench, "median")
        if bench["extra_info"].get("role") == "baseline":
            group["baseline"] = bench["name"]
    for name, group in groups.items():
        base = group.get("baseline")
        if base is None:
            continue
        for stat, key in (("min_us", "ratios"), ("median_us", "median_ratios")):
            base_us = group[stat][base]
            group[key] = {
                subject: round(us / base_us, 3)
                for subject, us in group[stat].items()
                if subject != base and base_us > 0
            }
        target = TARGETS.get(name)
        if target is not None and target[0] in group["ratios"]:
            group["target"] = {"subject": target[0], "max_ratio": target[1]}
            group["met"] = group["ratios"][target[0]] <= target[1]
    return groups


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bs = getattr(session.config, "_benchmarksession", None)
    if bs is None or not bs.benchmarks or getattr(bs, "disabled", False):
        return
    done = [b.as_dict(include_data=False) for b in bs.benchmarks if not b.has_error]
    if not done:
        return
    out = Path(os.environ.get("AUTHZ_BENCH_OUT", ROOT / "benchmarks" / "results"))
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report: dict[str, Any] = {
        "created_at": stamp,
        "environment": {
            "cpus": os.cpu_count(),
            "loadavg": list(os.getloadavg()),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "groups": ratios(done),
    }
    path = out / f"micro-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"micro benchmark ratios: {path}")
        for name, group in report["groups"].items():
            for subject, ratio in group.get("ratios", {}).items():
                met = (
                    group.get("met") if subject == group.get("target", {}).get("subject") else None
                )
                flag = "" if met is None else (" (target met)" if met else " (target MISSED)")
                reporter.write_line(f"  {name}: {subject} = {ratio}x {group['baseline']}{flag}")
