"""Benchmark reports: ratios against the baselines of the same run, JSON and Markdown.

Owns what a run writes: ``BenchReport`` collects ``LoadResult``s (each tagged with the server
it ran against), computes every result's ratio to the echo baseline measured on the same
server right before it (the nearest earlier echo entry of that server: the CLI measures one
before every scenario, since the machine's speed drifts within a run), and the
cross-scenario comparisons scenarios ask for
(``Scenario.compare_to``, e.g. harness-sts vs moto). Absolute numbers on a shared 2-core
machine move by tens of percent between runs; the ratios are what to read.

Files: ``<out>/<name>-<YYYYmmdd-HHMMSS>.json`` (everything, including the sparse latency
histograms) and a section appended to ``<out>/summary.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from authz.bench.loadgen import LoadConfig, LoadResult

__all__ = ["BenchReport", "Comparison", "environment", "write_result"]


@dataclass(frozen=True)
class Comparison:
    """``subject`` against ``baseline``: throughput ratio (items/s when both batch) and
    p99 ratio. ``kind`` is ``echo`` (same server) or ``scenario`` (a reference scenario)."""

    subject: str
    baseline: str
    kind: str
    throughput_ratio: float
    p99_ratio: float
    # For scenario comparisons across servers: (subject / its server's echo) ÷ (baseline /
    # its server's echo), which cancels load drift between the two measurements.
    echo_normalized_ratio: float | None = None


@dataclass
class _Entry:
    server: str
    result: LoadResult


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in ("grpcio", "cedarpy", "PyJWT", "moto", "boto3"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def environment(pinned: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the numbers depend on: cores, load average (noise), versions, pinning."""
    return {
        "cpus": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": _versions(),
        "pinning": pinned or {},
    }


@dataclass
class BenchReport:
    name: str
    config: LoadConfig
    env: dict[str, Any] = field(default_factory=environment)
    created_at: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))
    entries: list[_Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, server: str, result: LoadResult) -> None:
        self.entries.append(_Entry(server, result))

    def _echo_before(self, index: int) -> LoadResult | None:
        """The echo measured last before entry ``index`` on the same server."""
        server = self.entries[index].server
        for entry in reversed(self.entries[:index]):
            if entry.server == server and entry.result.scenario == "echo":
                return entry.result
        return None

    def comparisons(self, compare_to: dict[str, tuple[str, ...]]) -> list[Comparison]:
        """Each non-echo result against the echo measured just before it on its server, then
        against the scenarios it names in ``compare_to`` (scenario -> reference scenarios)."""
        found: list[Comparison] = []
        for index, entry in enumerate(self.entries):
            res = entry.result
            if res.scenario == "echo":
                continue
            echo = self._echo_before(index)
            if echo is not None:
                found.append(_compare(res, echo, "echo", items=False))
            for other_name in compare_to.get(res.scenario, ()):
                other_index = self._index(other_name)
                if other_index is None:
                    continue
                other = self.entries[other_index].result
                comp = _compare(res, other, "scenario", items=True)
                other_echo = self._echo_before(other_index)
                if echo is not None and other_echo is not None and comp.throughput_ratio:
                    mine = res.success_rps / echo.success_rps if echo.success_rps else 0.0
                    theirs = (
                        other.success_rps / other_echo.success_rps if other_echo.success_rps else 0
                    )
                    if mine and theirs:
                        per_item = res.items_per_request / other.items_per_request
                        comp = dataclasses.replace(
                            comp, echo_normalized_ratio=mine / theirs * per_item
                        )
                found.append(comp)
        return found

    def _index(self, scenario: str) -> int | None:
        for index in range(len(self.entries) - 1, -1, -1):
            if self.entries[index].result.scenario == scenario:
                return index
        return None

    def to_dict(self, compare_to: dict[str, tuple[str, ...]]) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": self.created_at,
            "environment": self.env,
            "config": asdict(self.config),
            "results": [{"server": e.server, **e.result.to_dict()} for e in self.entries],
            "comparisons": [asdict(c) for c in self.comparisons(compare_to)],
            "notes": self.notes,
        }

    def markdown(self, compare_to: dict[str, tuple[str, ...]]) -> str:
        cfg = self.config
        env = self.env
        shape = (
            f"{cfg.mode} loop, concurrency {cfg.concurrency}, {cfg.connections} connections, "
            f"{cfg.client_procs} client proc(s)"
            + (f", rate {cfg.rate:g}/s" if cfg.mode == "open" else "")
            + f", warm-up {cfg.warmup_s:g}s, {cfg.duration_s:g}s measured"
        )
        lines = [
            f"## {self.created_at} {self.name}",
            "",
            f"{shape}. {env.get('cpus')} CPUs, loadavg at start "
            f"{' '.join(f'{x:.2f}' for x in env.get('loadavg', []))}, pinning "
            f"{json.dumps(env.get('pinning', {}))}.",
            "",
            "| server | scenario | req/s | items/s | p50 ms | p90 ms | p99 ms | p99.9 ms "
            "| errors | client CPU µs/req | server CPU µs/req |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for entry in self.entries:
            lines.append(_row(entry))
        comps = self.comparisons(compare_to)
        if comps:
            lines += [
                "",
                "| subject | against | throughput ratio | echo-normalized | p99 ratio |",
                "|---|---|---:|---:|---:|",
            ]
            for c in comps:
                norm = "-" if c.echo_normalized_ratio is None else f"{c.echo_normalized_ratio:.3f}"
                lines.append(
                    f"| {c.subject} | {c.baseline} ({c.kind}) | {c.throughput_ratio:.3f} "
                    f"| {norm} | {c.p99_ratio:.3f} |"
                )
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n\n"

    def write(self, out_dir: Path, compare_to: dict[str, tuple[str, ...]]) -> tuple[Path, Path]:
        """Write the JSON file and append to ``summary.md``; returns both paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path = out_dir / f"{self.name}-{self.created_at}.json"
        json_path.write_text(json.dumps(self.to_dict(compare_to), indent=2) + "\n")
        summary = out_dir / "summary.md"
        if not summary.exists():
            summary.write_text(
                "# Load benchmark summaries\n\nAppended by `authz bench`; see ../README.md.\n\n"
            )
        with summary.open("a", encoding="utf-8") as fh:
            fh.write(self.markdown(compare_to))
        return json_path, summary


def _compare(res: LoadResult, base: LoadResult, kind: str, *, items: bool) -> Comparison:
    if items:
        num, den = res.items_per_s, base.items_per_s
    else:
        num, den = res.success_rps, base.success_rps
    p99, base_p99 = res.latency_us["p99"], base.latency_us["p99"]
    return Comparison(
        subject=res.scenario,
        baseline=base.scenario,
        kind=kind,
        throughput_ratio=num / den if den else 0.0,
        p99_ratio=p99 / base_p99 if base_p99 else 0.0,
    )


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _row(entry: _Entry) -> str:
    r = entry.result
    lat = r.latency_us
    errors = ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items())) or "0"
    return (
        f"| {entry.server} | {r.scenario} | {r.success_rps:.0f} | {r.items_per_s:.0f} "
        f"| {_ms(lat['p50'])} | {_ms(lat['p90'])} | {_ms(lat['p99'])} | {_ms(lat['p99.9'])} "
        f"| {errors} | {_cpu(r.client_cpu_us_per_request)} "
        f"| {_cpu(r.server_cpu_us_per_request)} |"
    )


def write_result(out_dir: Path, name: str, doc: Any) -> Path:
    """``doc`` as ``<out_dir>/<name>-<YYYYmmdd-HHMMSS>.json`` (indented, one trailing newline),
    the directory made if missing; the path written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path
