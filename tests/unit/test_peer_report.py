"""The one report of ``make bench-load`` (``benchmarks/peer_bench.py``) folds in the other runs
of the same ``make``: here the whole-server instruction counts of ``benchmarks/peer_instr.py``,
whose harness ÷ authz ratio is issue 15's per-core target measured without the host's noise."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from tests.benchscripts import load

ROOT = Path(__file__).resolve().parents[2]


def _peer_bench() -> ModuleType:
    return load("peer_bench")


def test_the_instruction_counts_of_the_same_run_are_in_the_report(tmp_path: Path) -> None:
    counts = {
        "benchmark": "peer-instr",
        "command": "python benchmarks/peer_instr.py --calls 200",
        "servers": {
            "authz": {"segments": [], "per_call": {"echo": 400_000, "distinct": 1_000_000}},
            "cedar": {"segments": [], "per_call": {"echo": 350_000, "distinct": 800_000}},
        },
        "ratios": {
            "echo_authz_over_harness": 1.143,
            "distinct_authz_over_harness": 1.25,
            "distinct_harness_over_authz": 0.8,
            "authz_distinct_above_echo": 600_000,
            "harness_distinct_above_echo": 450_000,
        },
        "git": "abc1234",
    }
    path = tmp_path / "peer-instr-x.json"
    path.write_text(json.dumps(counts))
    pb = _peer_bench()
    inc = pb.included(path)
    assert inc["kind"] == "instructions" and inc["per_call"]["cedar"]["distinct"] == 800_000
    lines = pb.included_markdown({"included": [inc]})
    text = "\n".join(lines)
    assert "code abc1234" in text
    assert "| distinct Authorize / Decide | 1,000,000 | 800,000 | **0.80** (target 0.9) |" in text
    assert "| echo | 400,000 | 350,000 | 0.88 |" in text
    assert "| above the echo | 600,000 | 450,000 | |" in text


def test_cache_misses_of_a_cache_sim_count_are_in_the_report() -> None:
    """``peer_instr.py --cache-sim`` (the committed run that explains the wall-clock gap)."""
    path = ROOT / "benchmarks" / "results" / "peer-instr-20261207-062551.json"
    pb = _peer_bench()
    inc = pb.included(path)
    ea, eh = inc["events"]["authz"]["distinct"], inc["events"]["cedar"]["distinct"]
    text = "\n".join(pb.included_markdown({"included": [inc]}))
    row = (
        f"| first-level instruction cache misses, distinct | {ea['I1mr']:,} | {eh['I1mr']:,} "
        f"| {eh['I1mr'] / ea['I1mr']:.2f} |"
    )
    assert row in text
    assert "first-level data cache read misses, distinct" in text
    assert ea["I1mr"] > eh["I1mr"] > 0  # what the README says the run shows


def test_a_result_is_written_under_its_name_and_time(tmp_path: Path) -> None:
    from authz.bench.report import write_result

    path = write_result(tmp_path / "new", "peer-instr", {"ratios": {"x": 1}})
    assert path.parent == tmp_path / "new"
    assert path.name.startswith("peer-instr-") and path.suffix == ".json"
    assert len(path.stem.removeprefix("peer-instr-")) == len("20261207-035238")
    assert path.read_text() == json.dumps({"ratios": {"x": 1}}, indent=2) + "\n"


def test_the_sampled_cpu_time_of_the_same_run_is_in_the_report(tmp_path: Path) -> None:
    """``peer_perf.py`` (where each side's CPU time goes under load) folds into the report by
    shared object, per call and per batch item, with the difference."""
    side = {
        "sampled_cpu_us_per_req": 600.0,
        "by_object_us_per_req": {"libpython: interpreter and C API": 250.0, "kernel": 80.0},
        "symbols_us_per_req": {},
    }
    other = {
        "sampled_cpu_us_per_req": 400.0,
        "by_object_us_per_req": {"libpython: interpreter and C API": 130.0, "kernel": 80.5},
        "symbols_us_per_req": {},
    }
    batch_a = dict(side, sampled_cpu_us_per_req=9000.0)
    batch_h = dict(other, sampled_cpu_us_per_req=8000.0)
    doc = {
        "benchmark": "peer-perf",
        "git": "abc1234",
        "summary": {
            "distinct": {"authz": side, "harness": other},
            "batch": {"authz": batch_a, "harness": batch_h},
        },
    }
    path = tmp_path / "peer-perf-x.json"
    path.write_text(json.dumps(doc))
    pb = _peer_bench()
    inc = pb.included(path)
    assert inc["kind"] == "perf"
    text = "\n".join(pb.included_markdown({"included": [inc]}))
    assert "code abc1234" in text
    assert "| distinct | libpython: interpreter and C API | 250.0 | 130.0 | +120.0 |" in text
    assert "| distinct | kernel | 80.0 | 80.5 | -0.5 |" in text
    assert "| distinct | **all** | **600.0** | **400.0** | **+200.0** |" in text
    assert "| batch (per item) | **all** | **90.0** | **80.0** | **+10.0** |" in text


def test_a_skipped_profile_says_why(tmp_path: Path) -> None:
    path = tmp_path / "peer-perf-y.json"
    path.write_text(json.dumps({"benchmark": "peer-perf", "git": "x", "skipped": "no perf"}))
    pb = _peer_bench()
    text = "\n".join(pb.included_markdown({"included": [pb.included(path)]}))
    assert "Skipped: no perf" in text


def test_perf_report_rows_are_read_by_object_and_symbol() -> None:
    """The parser of ``perf report -F period,dso,sym -t TAB`` (comments and headers skipped,
    the ``[.]``/``[k]`` marks dropped, rows of one symbol summed)."""
    module = load("peer_perf")
    text = (
        "# Samples: 4K of event 'cpu-clock'\n"
        "#       Period\tShared Object\tSymbol\n"
        " 3000000    \tlibpython3.11.so.1.0\t[.] _PyEval_EvalFrameDefault\n"
        " 1000000    \t[kernel.kallsyms]\t[k] futex_wake\n"
        " 2000000    \tlibpython3.11.so.1.0\t[.] _PyEval_EvalFrameDefault\n"
        "\n"
    )
    rows = module.parse_report(text)
    assert rows == {
        ("libpython3.11.so.1.0", "_PyEval_EvalFrameDefault"): 5_000_000,
        ("[kernel.kallsyms]", "futex_wake"): 1_000_000,
    }
    by_object, by_symbol = module.per_request(rows, 1000.0)  # 1,000 requests
    assert by_object == {"libpython: interpreter and C API": 5.0,
                         "kernel: syscalls, scheduling, TCP": 1.0}  # fmt: skip
    assert by_symbol["libpython: _PyEval_EvalFrameDefault"] == 5.0
