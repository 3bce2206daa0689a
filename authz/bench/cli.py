"""``authz bench``: run load scenarios against a server, always with the echo baseline.

Owns argument wiring and the run plan: which server each scenario runs on (``--target``, an
already running server on 127.0.0.1; ``--spawn NAME``; or, by default, each scenario's own
harness), the echo baseline measured on every gRPC server of the run right before each of
its scenarios (the machine's speed drifts within a run; each ratio uses the adjacent echo), and
writing the report. ``register(subparsers)`` adds the command to ``authz``'s parser; the
handler returns the exit code (0 ok, 1 some requests failed, 2 bad usage).

    python -m authz.bench.cli --scenario harness-decision --duration 10
    python -m authz.bench.cli --scenario all
    python -m authz.bench.cli --target 127.0.0.1:50051 --scenario echo --mode open --rate 2000
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from authz.bench.loadgen import LoadConfig, LoadResult, check_loopback, run_load
from authz.bench.native import NativeUnavailable, message_count, run_loadc, write_request_file
from authz.bench.report import BenchReport, environment
from authz.bench.scenarios import ECHO, Scenario, get_scenario, scenario_names
from authz.bench.spawn import SERVER_CPU, Spawned, server_names, server_spec, spawn_server

__all__ = ["main", "register", "run"]

# Modules that register more scenarios/servers on import (the authz API scenarios go here).
_PLUGIN_MODULES = ("authz.bench.api_scenarios",)


def load_plugins() -> None:
    for name in _PLUGIN_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    load_plugins()
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--target", help="a running server, 127.0.0.1:PORT (loopback only)")
    where.add_argument(
        "--spawn", help=f"start this server for the run ({', '.join(server_names())})"
    )
    parser.add_argument(
        "--scenario",
        default="echo",
        help=f"comma-separated, or `all` ({', '.join(scenario_names())})",
    )
    parser.add_argument(
        "--mode",
        choices=("closed", "open"),
        default="closed",
        help="closed loop (fixed concurrency) or open loop (fixed --rate)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--connections", type=int, default=4, help="client channels")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: requests/s")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes")
    parser.add_argument(
        "--max-requests", type=int, default=50_000_000, help="stop a round after this many"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/results"),
        help="directory for the JSON report (default benchmarks/results)",
    )
    parser.add_argument("--name", help="report name (default: the scenarios)")
    parser.add_argument(
        "--client",
        choices=("python", "native"),
        default="python",
        help="the Python generator or the C client (benchmarks/loadc; for scenarios that "
        "have a native form, the others keep the Python generator)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin client and server")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("bench", help="gRPC load generator with baselines")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def _scenarios(spec: str) -> list[Scenario]:
    names = scenario_names() if spec == "all" else [s.strip() for s in spec.split(",") if s]
    return [get_scenario(n) for n in names if not (spec == "all" and n == ECHO)]


def _plan(args: argparse.Namespace, scenarios: list[Scenario]) -> list[tuple[str, list[Scenario]]]:
    """(server, scenarios) groups in run order; server is a spawn name or ``target``."""
    if args.target:
        return [("target", scenarios)]
    if args.spawn:
        return [(args.spawn, scenarios)]
    groups: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(scenario.spawn or "cedar", []).append(scenario)
    return list(groups.items())


@contextlib.contextmanager
def _server(args: argparse.Namespace, name: str) -> Iterator[Spawned]:
    if name == "target":
        check_loopback(args.target)
        yield Spawned("target", args.target, 0, None)
        return
    spec = server_spec(name)
    pinned = os.sched_getaffinity(0)
    unpin = spec is not None and not spec.pin and len(pinned) < (os.cpu_count() or 1)
    if unpin:  # an unpinned server (several workers): the generator may use every core too
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        with spawn_server(name, pin=not args.no_pin) as spawned:
            yield spawned
    finally:
        if unpin:
            os.sched_setaffinity(0, pinned)


def _config_for(config: LoadConfig, scenario: Scenario) -> LoadConfig:
    """The run's load shape, raised to the scenario's minimum concurrency / connections."""
    concurrency = max(config.concurrency, scenario.min_concurrency)
    connections = max(config.connections, scenario.min_connections)
    if (concurrency, connections) == (config.concurrency, config.connections):
        return config
    return dataclasses.replace(config, concurrency=concurrency, connections=connections)


def _pin_client(args: argparse.Namespace) -> dict[str, object]:
    if args.no_pin or args.target or (os.cpu_count() or 1) < 2:
        return {}
    cpus = set(range(os.cpu_count() or 1)) - {SERVER_CPU}
    os.sched_setaffinity(0, cpus)
    return {"client_cpus": sorted(cpus), "server_cpu": SERVER_CPU}


def _run_native(scenario: Scenario, config: LoadConfig, server: Spawned) -> LoadResult:
    """One scenario with the C client (inherits this process's pinning)."""
    if scenario.native is None:
        raise ValueError(f"scenario `{scenario.name}` has no native form")
    with tempfile.TemporaryDirectory(prefix="authz-loadc-") as tmp:
        requests = write_request_file(
            Path(tmp) / "requests.bin", scenario.native(message_count(config))
        )
        result, _raw = run_loadc(
            requests,
            server.target,
            config,
            scenario=scenario.name,
            items_per_request=scenario.items_per_request,
            server_pid=server.pid or None,
        )
    if config.progress:
        print(
            f"[{scenario.name}] loadc {result.success_rps:.0f} req/s"
            f"  p99 {result.latency_us['p99'] / 1000:.2f} ms  errors {sum(result.errors.values())}",
            file=sys.stderr,
        )
    return result


def run(args: argparse.Namespace) -> int:
    try:
        scenarios = _scenarios(args.scenario)
        config = LoadConfig(
            mode=args.mode,
            concurrency=args.concurrency,
            connections=args.connections,
            rate=args.rate,
            duration_s=args.duration,
            warmup_s=args.warmup,
            client_procs=args.client_procs,
            max_requests=args.max_requests,
            progress=not args.quiet,
        )
        if args.target:
            check_loopback(args.target)
        if args.client == "native":
            from authz.bench.native import loadc_path

            loadc_path()
    except (KeyError, ValueError, NativeUnavailable) as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    name = args.name or ("all" if args.scenario == "all" else "-".join(s.name for s in scenarios))
    report = BenchReport(name=name, config=config, env=environment(_pin_client(args)))
    report.env["client"] = args.client  # python generator or the C client (loadc)
    compare_to: dict[str, tuple[str, ...]] = {}
    for server_name, group in _plan(args, scenarios):
        with _server(args, server_name) as server:
            wanted: list[Scenario] = []
            for scenario in (s for s in group if s.name != ECHO):
                if scenario.echo_baseline:
                    wanted.append(get_scenario(ECHO))  # the adjacent baseline of each
                wanted.append(scenario)
            if not wanted and any(s.name == ECHO for s in group):
                wanted.append(get_scenario(ECHO))
            for scenario in wanted:
                compare_to[scenario.name] = scenario.compare_to
                shape = _config_for(config, scenario)
                if shape is not config:
                    report.notes.append(
                        f"{scenario.name} ({server_name}): {shape.concurrency} in flight over "
                        f"{shape.connections} connections"
                    )
                if args.client == "native" and scenario.native is not None:
                    result = _run_native(scenario, shape, server)
                else:
                    if args.client == "native":
                        report.notes.append(f"{scenario.name}: no native form, Python generator")
                    result = run_load(
                        scenario.connection_factory(server.target),
                        shape,
                        scenario=scenario.name,
                        target=server.target,
                        items_per_request=scenario.items_per_request,
                        server_pid=server.pid or None,
                    )
                report.add(server_name, result)
    json_path, summary = report.write(args.out, compare_to)
    print(report.markdown(compare_to), end="")
    print(f"wrote {json_path} and {summary}", file=sys.stderr)
    failed = any(entry.result.errors for entry in report.entries)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="authz bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
