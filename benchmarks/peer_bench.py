"""authz against a real peer (issue 15): authz, Cerbos and the minimal grpc + cedarpy harness,
driven by the native client (benchmarks/loadc), rounds interleaved, every round reported.

Per core: each server pinned to CPU 1 (``taskset``), the client on CPU 0. Per machine: authz
``--workers 2 --pin-workers`` and Cerbos unpinned (both cores), the client unpinned too. In
each round, for every comparison, the servers are measured one after the other with the same
load shape, so drift in the machine's speed hits both sides alike; the ratio of a round is
computed within the round. A target is met when every round meets it ("3 of 5" otherwise).

    echo       grpc.health.v1 Health/Check on each server (the transport floor)
    distinct   authz Authorize (a new question each call) | Cerbos CheckResources, one
               resource and action | harness Decide (one cedarpy call)
    repeated   64 questions cycled (authz answers from its memo; Cerbos evaluates)
    batch      AuthorizeBatch of 100 | CheckResources with 100 resources | DecideBatch of 100
    open       distinct at a fixed rate (500 and 1,000 req/s): p50 / p99 from the intended
               send time
    machine    distinct and repeated with both cores

Before any timing, the same ``--sample`` questions (>= 50) go to authz (Authorize and one
AuthorizeBatch) and Cerbos (CheckResources) and the decisions must be equal; a difference stops
the run. What each side does per request differs: authz authenticates the caller (access key
headers), authorizes it as an enforcement point and explains the decision (matched statements,
failing layer, reason); Cerbos trusts its caller (no authentication) and returns the effect;
Cerbos runs with ``--log-level=error`` (no per-request log line; authz runs with audit off).

    python benchmarks/peer_bench.py [--rounds 3] [--duration 5] [--warmup 1] [--lock FILE]

Writes ``benchmarks/results/peer-<stamp>.json`` and ``.md``. Needs the built client
(``make -C benchmarks/loadc``); Cerbos is installed from npm on first use (skipped, with the
reason in the report, when that fails). Loopback only; every run is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

import grpc

from authz._gen.authz.v1 import authorizer_pb2
from authz.bench import api_scenarios, authz_server, cerbos, scenarios
from authz.bench.loadgen import LoadConfig
from authz.bench.native import RequestFile, loadc_path, run_loadc, write_request_file
from authz.bench.spawn import ServerSpec, Spawned, free_port, register_server, spawn_server

CLIENT_CPU = 0
BATCH = api_scenarios.BATCH
PER_ROUND = 60_000  # distinct messages per round and side (a wrap is reported)
BATCH_ITEMS = 150_000  # distinct items per round and side in the batch comparison

# -- Cerbos: the server and the same questions -----------------------------------------------

_CERBOS: dict[str, Path] = {}


def _cerbos_argv(port: int) -> list[str]:
    binary = _CERBOS["binary"]
    directory = Path(tempfile.mkdtemp(prefix="cerbos-", dir=_CERBOS["workdir"]))
    policy = cerbos.principal_policy(authz_server.STATEMENTS, api_scenarios.ACTIONS)
    cerbos.write_policies(directory / "policies", policy)
    config = cerbos.server_config(directory, port, free_port())
    return [str(binary), "server", f"--config={config}", "--log-level=error"]


def cerbos_check(index: int) -> cerbos.CerbosCheck:
    """``authorize_request(index)`` as a Cerbos resource check: kind = the ARN's service,
    id = the ARN, the request's context keys as attributes, its action."""
    request = api_scenarios.authorize_request(index)
    attrs: dict[str, object] = {}
    for entry in request.context:
        value = entry.values[0]
        attrs[entry.key] = value == "true" if entry.key == "aws:SecureTransport" else value
    kind = request.resource.split(":")[2]
    return cerbos.CerbosCheck(kind, request.resource, attrs, (request.action,))


def cerbos_distinct(base: int, count: int) -> RequestFile:
    messages = [cerbos.check_resources_request([cerbos_check(base + i)]) for i in range(count)]
    return RequestFile(cerbos.CHECK_RESOURCES, (), messages)


def cerbos_repeated(_base: int, _count: int) -> RequestFile:
    pool = api_scenarios.REPEATED_POOL
    return RequestFile(
        cerbos.CHECK_RESOURCES,
        (),
        [cerbos.check_resources_request([cerbos_check(i)]) for i in range(pool)],
    )


def cerbos_batch(base: int, count: int) -> RequestFile:
    messages = [
        cerbos.check_resources_request([cerbos_check(base + b * BATCH + j) for j in range(BATCH)])
        for b in range(max(count // BATCH, 1))
    ]
    return RequestFile(cerbos.CHECK_RESOURCES, (), messages)


# -- authz and the harness, offset per round (a later round never repeats a question) ---------


def authz_distinct(base: int, count: int) -> RequestFile:
    messages = [api_scenarios.authorize_request(base + i).SerializeToString() for i in range(count)]
    return RequestFile(api_scenarios.AUTHORIZE, api_scenarios._credentials(), messages)


def authz_repeated(_base: int, count: int) -> RequestFile:
    return api_scenarios.native_authorize_repeated(count)


def authz_batch(base: int, count: int) -> RequestFile:
    messages = [
        authorizer_pb2.AuthorizeBatchRequest(
            items=[api_scenarios.authorize_request(base + b * BATCH + j) for j in range(BATCH)]
        ).SerializeToString()
        for b in range(max(count // BATCH, 1))
    ]
    return RequestFile(api_scenarios.AUTHORIZE_BATCH, api_scenarios._credentials(), messages)


def echo(_base: int, count: int) -> RequestFile:
    return scenarios.native_echo(count)


def harness_distinct(_base: int, count: int) -> RequestFile:
    return scenarios.native_harness_decision(count)


def harness_batch(_base: int, count: int) -> RequestFile:
    return scenarios.native_harness_batch(count)


Builder = Callable[[int, int], RequestFile]

# comparison -> [(side, server, builder, items per request)]
PER_CORE: dict[str, list[tuple[str, str, Builder, int]]] = {
    "echo": [
        ("authz", "authz", echo, 1),
        ("cerbos", "cerbos", echo, 1),
        ("harness", "cedar", echo, 1),
    ],
    "distinct": [
        ("authz", "authz", authz_distinct, 1),
        ("cerbos", "cerbos", cerbos_distinct, 1),
        ("harness", "cedar", harness_distinct, 1),
    ],
    "repeated": [("authz", "authz", authz_repeated, 1), ("cerbos", "cerbos", cerbos_repeated, 1)],
    "batch": [
        ("authz", "authz", authz_batch, BATCH),
        ("cerbos", "cerbos", cerbos_batch, BATCH),
        ("harness", "cedar", harness_batch, BATCH),
    ],
}  # fmt: skip
OPEN_RATES = (500, 1000)
PER_MACHINE: dict[str, list[tuple[str, str, Builder, int]]] = {
    "machine-distinct": [
        ("authz", "authz-w2-pinned", authz_distinct, 1),
        ("cerbos", "cerbos-machine", cerbos_distinct, 1),
    ],
    "machine-repeated": [
        ("authz", "authz-w2-pinned", authz_repeated, 1),
        ("cerbos", "cerbos-machine", cerbos_repeated, 1),
    ],
}

# -- running ----------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet(lock: Path | None) -> Iterator[None]:
    """Hold the shared measurement lock (other benchmarks on this machine take it too)."""
    if lock is None:
        yield
        return
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def measure(
    server: Spawned,
    requests: RequestFile,
    config: LoadConfig,
    items: int,
    *,
    pin: bool,
    lock: Path | None,
    label: str,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        path = write_request_file(Path(tmp) / "requests.bin", requests)
        with quiet(lock):
            result, raw = run_loadc(
                path,
                server.target,
                config,
                scenario=label,
                items_per_request=items,
                server_pid=server.pid,
                cpu=CLIENT_CPU if pin else None,
            )
    row = {
        "req_s": round(result.success_rps, 1),
        "items_s": round(result.items_per_s, 1),
        "p50_us": result.latency_us["p50"],
        "p90_us": result.latency_us["p90"],
        "p99_us": result.latency_us["p99"],
        "server_cpu_us_per_req": _r(result.server_cpu_us_per_request),
        "client_cpu_us_per_req": _r(result.client_cpu_us_per_request),
        "errors": result.errors,
        "requests": result.requests,
        "wrapped": raw["wrapped"],
        "send_lag_p99_us": result.send_lag_p99_us,
        "backlog_max": raw.get("backlog_max", 0),
    }
    print(
        f"  {label:28s} {row['req_s']:9.0f} req/s {row['items_s']:9.0f} items/s"
        f"  p50 {row['p50_us'] / 1000:6.2f} ms  p99 {row['p99_us'] / 1000:6.2f} ms"
        f"  server {row['server_cpu_us_per_req']} µs/req  client {row['client_cpu_us_per_req']}"
        f"  errors {sum(row['errors'].values())}{'  WRAPPED' if row['wrapped'] else ''}",
        file=sys.stderr,
        flush=True,
    )
    return row


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# -- decisions checked equal ------------------------------------------------------------------


def check_equal(authz: Spawned, peer: Spawned, sample: int) -> dict[str, Any]:
    """The same ``sample`` questions to both (authz singly and as one batch, Cerbos as one
    CheckResources per question and one with all of them); raises on any difference."""
    indexes = [i * 7919 % 1_000_003 for i in range(sample)]  # spread over the index space
    metadata = api_scenarios._credentials()
    allowed = authorizer_pb2.DECISION_ALLOWED
    mismatches: list[str] = []
    with (
        grpc.insecure_channel(authz.target) as a_channel,
        grpc.insecure_channel(peer.target) as c_channel,
    ):
        authorize = a_channel.unary_unary(api_scenarios.AUTHORIZE)
        authorize_batch = a_channel.unary_unary(api_scenarios.AUTHORIZE_BATCH)
        check = c_channel.unary_unary(cerbos.CHECK_RESOURCES)
        checks = [cerbos_check(i) for i in indexes]
        batch = authorizer_pb2.AuthorizeBatchResponse.FromString(
            authorize_batch(
                authorizer_pb2.AuthorizeBatchRequest(
                    items=[api_scenarios.authorize_request(i) for i in indexes]
                ).SerializeToString(),
                metadata=metadata,
                timeout=30,
            )
        )
        peer_batch = cerbos.decode_effects(
            check(cerbos.check_resources_request(checks), timeout=30)
        )
        n_allow = 0
        for k, index in enumerate(indexes):
            single = authorizer_pb2.AuthorizeResponse.FromString(
                authorize(
                    api_scenarios.authorize_request(index).SerializeToString(),
                    metadata=metadata,
                    timeout=10,
                )
            )
            effects = cerbos.decode_effects(
                check(cerbos.check_resources_request([checks[k]]), timeout=10)
            )
            action = checks[k].actions[0]
            a_allow = single.decision == allowed
            n_allow += a_allow
            votes = {
                "authz": a_allow,
                "authz-batch": batch.results[k].decision == allowed,
                "cerbos": effects[0][action] == cerbos.EFFECT_ALLOW,
                "cerbos-batch": peer_batch[k][action] == cerbos.EFFECT_ALLOW,
            }
            if len(set(votes.values())) != 1:
                mismatches.append(f"{action} {checks[k].resource_id}: {votes}")
    if mismatches:
        raise RuntimeError("decisions differ:\n" + "\n".join(mismatches[:20]))
    return {"sample": sample, "allowed": n_allow, "denied": sample - n_allow, "mismatches": 0}


# -- targets ----------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


TargetFn = Callable[[dict[str, Any]], float | None]


def _rps(comparison: str, side: str, key: str = "req_s") -> Callable[[dict[str, Any]], float]:
    def get(round_: dict[str, Any]) -> float:
        return float(round_[comparison][side][key])

    return get


def targets(with_cerbos: bool) -> list[tuple[str, str, float, TargetFn]]:
    """(name, how it is computed, threshold, round -> value); value >= threshold meets it."""
    out: list[tuple[str, str, float, TargetFn]] = [
        (
            "distinct per core vs harness",
            "authz distinct req/s ÷ harness Decide req/s",
            0.9,
            lambda r: _ratio(_rps("distinct", "authz")(r), _rps("distinct", "harness")(r)),
        ),
        (
            "batch items/s vs harness",
            "authz AuthorizeBatch items/s ÷ harness DecideBatch items/s",
            0.8,
            lambda r: _ratio(
                _rps("batch", "authz", "items_s")(r), _rps("batch", "harness", "items_s")(r)
            ),
        ),
    ]
    if not with_cerbos:
        return out
    out += [
        (
            "distinct per core vs Cerbos",
            "authz distinct req/s ÷ Cerbos req/s",
            0.7,
            lambda r: _ratio(_rps("distinct", "authz")(r), _rps("distinct", "cerbos")(r)),
        ),
        (
            "repeated per core vs Cerbos",
            "authz repeated req/s ÷ Cerbos req/s",
            1.3,
            lambda r: _ratio(_rps("repeated", "authz")(r), _rps("repeated", "cerbos")(r)),
        ),
        (
            "repeated both cores vs Cerbos",
            "authz --workers 2 repeated ÷ Cerbos (both cores)",
            1.8,
            lambda r: _ratio(
                _rps("machine-repeated", "authz")(r), _rps("machine-repeated", "cerbos")(r)
            ),
        ),
        (
            "distinct both cores vs Cerbos",
            "authz --workers 2 distinct ÷ Cerbos (both cores)",
            1.0,
            lambda r: _ratio(
                _rps("machine-distinct", "authz")(r), _rps("machine-distinct", "cerbos")(r)
            ),
        ),
        (
            "batch items/s vs Cerbos",
            "authz AuthorizeBatch items/s ÷ Cerbos CheckResources (100 resources) items/s",
            1.0,
            lambda r: _ratio(
                _rps("batch", "authz", "items_s")(r), _rps("batch", "cerbos", "items_s")(r)
            ),
        ),
        (
            "open 1,000 req/s p50 within 0.15 ms of Cerbos",
            "0.15 ms − (authz p50 − Cerbos p50), ms (≥ 0 meets)",
            0.0,
            lambda r: round(
                0.15
                - (
                    _rps("open-1000", "authz", "p50_us")(r)
                    - _rps("open-1000", "cerbos", "p50_us")(r)
                )
                / 1000,
                3,
            ),
        ),
        (
            "open 1,000 req/s p99 not worse than Cerbos",
            "Cerbos p99 ÷ authz p99 (≥ 1 meets)",
            1.0,
            lambda r: _ratio(
                _rps("open-1000", "cerbos", "p99_us")(r), _rps("open-1000", "authz", "p99_us")(r)
            ),
        ),
    ]
    return out


# -- main -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    loadc_path()
    authz_server.fixture()
    binary, why = cerbos.ensure_cerbos() if not args.no_cerbos else (None, "--no-cerbos")
    print(f"cerbos: {why}", file=sys.stderr)
    report: dict[str, Any] = {
        "method": {
            "client": "benchmarks/loadc (C, libnghttp2, one thread, epoll)",
            "per_core": f"server pinned to CPU 1, client to CPU {CLIENT_CPU} (taskset)",
            "per_machine": "authz --workers 2 --pin-workers, Cerbos unpinned; client unpinned",
            "closed_loop": f"{args.connections} connections x {args.streams} streams",
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "authz_does": "authenticates the access key, authorizes the caller as an "
            "enforcement point (authz:AuthorizeOnBehalf), evaluates, explains (matched "
            "statements, failing layer, reason); audit and metrics off",
            "cerbos_does": "trusts its caller, evaluates the principal policy, returns the "
            "effect per action; --log-level=error (no request log)",
            "harness_does": "one cedarpy is_authorized on a pre-parsed policy set per call "
            "(1000 prepared requests), no authentication",
        },
        "cerbos": {"version": cerbos.CERBOS_VERSION, "available": binary is not None, "how": why},
        "loadavg_start": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "rounds": [],
    }
    per_core = {k: [s for s in v if binary or s[0] != "cerbos"] for k, v in PER_CORE.items()}
    workdir = Path(tempfile.mkdtemp(prefix="peer-bench-"))
    if binary is not None:
        _CERBOS.update(binary=binary, workdir=workdir)
        register_server(ServerSpec("cerbos", _cerbos_argv, announces_port=False), replace=True)
        register_server(
            ServerSpec("cerbos-machine", _cerbos_argv, announces_port=False, pin=False),
            replace=True,
        )
    closed = functools.partial(
        LoadConfig,
        concurrency=args.connections * args.streams,
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
        progress=False,
    )
    with contextlib.ExitStack() as stack:
        os.sched_setaffinity(0, {CLIENT_CPU})  # this script (request generation) off CPU 1
        servers = {"authz": stack.enter_context(spawn_server("authz"))}
        servers["cedar"] = stack.enter_context(spawn_server("cedar"))
        if binary is not None:
            servers["cerbos"] = stack.enter_context(spawn_server("cerbos"))
            report["decisions"] = check_equal(servers["authz"], servers["cerbos"], args.sample)
            print(f"decisions equal: {report['decisions']}", file=sys.stderr)
        for n in range(args.rounds):
            base = (n + 1) * 10_000_000  # distinct questions never asked in an earlier round
            one: dict[str, Any] = {}
            print(f"round {n + 1}", file=sys.stderr)
            for comparison, sides in per_core.items():
                one[comparison] = {}
                for side, server, builder, items in sides:
                    # items: a batch file holds BATCH_ITEMS distinct items (1,500 batches)
                    count = PER_ROUND if items == 1 else BATCH_ITEMS
                    one[comparison][side] = measure(
                        servers[server], builder(base, count), closed(), items,
                        pin=True, lock=args.lock, label=f"{comparison}/{side}",
                    )  # fmt: skip
            if binary is not None:
                for rate in OPEN_RATES:
                    comparison = f"open-{rate}"
                    one[comparison] = {}
                    for side, server, builder, _items in per_core["distinct"][:2]:
                        config = LoadConfig(
                            mode="open",
                            rate=rate,
                            concurrency=args.connections * args.streams,
                            connections=args.connections,
                            duration_s=args.duration,
                            warmup_s=args.warmup,
                            progress=False,
                        )
                        count = int(rate * (args.duration + args.warmup)) + 1000
                        one[comparison][side] = measure(
                            servers[server], builder(base + 5_000_000, count), config, 1,
                            pin=True, lock=args.lock, label=f"{comparison}/{side}",
                        )  # fmt: skip
            report["rounds"].append(one)
    if binary is not None and not args.no_machine:
        machine_rounds(args, report, closed)
    report["loadavg_end"] = list(os.getloadavg())
    report["targets"] = evaluate(report, binary is not None and not args.no_machine)
    return report


def machine_rounds(
    args: argparse.Namespace, report: dict[str, Any], closed: Callable[..., LoadConfig]
) -> None:
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    with contextlib.ExitStack() as stack:
        servers = {
            "authz-w2-pinned": stack.enter_context(spawn_server("authz-w2-pinned", pin=False)),
            "cerbos-machine": stack.enter_context(spawn_server("cerbos-machine", pin=False)),
        }
        for n in range(args.rounds):
            base = (n + 1) * 10_000_000 + 7_000_000
            one = report["rounds"][n]
            print(f"round {n + 1} (both cores)", file=sys.stderr)
            for comparison, sides in PER_MACHINE.items():
                one[comparison] = {}
                for side, server, builder, items in sides:
                    one[comparison][side] = measure(
                        servers[server], builder(base, 2 * PER_ROUND), closed(), items,
                        pin=False, lock=args.lock, label=f"{comparison}/{side}",
                    )  # fmt: skip


def evaluate(report: dict[str, Any], with_cerbos: bool) -> list[dict[str, Any]]:
    out = []
    for name, how, threshold, fn in targets(with_cerbos):
        values: list[float | None] = []
        for round_ in report["rounds"]:
            try:
                values.append(fn(round_))
            except KeyError:
                values.append(None)
        met = sum(1 for v in values if v is not None and v >= threshold)
        present = [v for v in values if v is not None]
        out.append(
            {
                "target": name,
                "computed": how,
                "threshold": threshold,
                "per_round": values,
                "median": statistics.median(present) if present else None,
                "rounds_met": met,
                "rounds": len(values),
                "met": bool(values) and met == len(values),
            }
        )
    return out


def client_capacity(report: dict[str, Any]) -> dict[str, Any]:
    """The client's own cost: its CPU per request on the fastest run (Cerbos echo, or the
    fastest measured), and how many requests per second one core of it would sustain."""
    fastest: tuple[float, float, str] = (0.0, 0.0, "")
    for round_ in report["rounds"]:
        for comparison, sides in round_.items():
            if comparison.startswith(("machine", "open")):
                continue
            for side, row in sides.items():
                if row["req_s"] > fastest[0] and row["client_cpu_us_per_req"]:
                    fastest = (row["req_s"], row["client_cpu_us_per_req"], f"{comparison}/{side}")
    rate, cpu_us, label = fastest
    capacity = 1e6 / cpu_us if cpu_us else 0.0
    return {
        "fastest_server_run": label,
        "fastest_server_req_s": rate,
        "client_cpu_us_per_req_there": cpu_us,
        "client_one_core_capacity_req_s": round(capacity),
        "capacity_over_fastest": round(capacity / rate, 2) if rate else None,
        "target": "capacity >= 3x the fastest server rate",
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# authz vs Cerbos vs harness ({report['stamp']})", ""]
    m = report["method"]
    lines += [
        f"Client: {m['client']}. Per core: {m['per_core']}. Per machine: {m['per_machine']}.",
        f"Closed loop {m['closed_loop']}; {m['rounds']} rounds interleaved, each run "
        f"{m['warmup_s']} s warm-up + {m['duration_s']} s. Load average at start "
        f"{' '.join(f'{x:.2f}' for x in report['loadavg_start'])}, at end "
        f"{' '.join(f'{x:.2f}' for x in report['loadavg_end'])}.",
        "",
        f"- authz: {m['authz_does']}.",
        f"- Cerbos {report['cerbos']['version']}: {m['cerbos_does']}. ({report['cerbos']['how']})",
        f"- harness: {m['harness_does']}.",
    ]
    if "decisions" in report:
        d = report["decisions"]
        lines.append(
            f"- Decisions checked equal before timing on {d['sample']} questions "
            f"({d['allowed']} allowed, {d['denied']} denied; singly and as one batch on both "
            f"sides): {d['mismatches']} mismatches."
        )
    cap = report["client"]
    lines += [
        f"- Client cost: {cap['client_cpu_us_per_req_there']} µs CPU per request on the "
        f"fastest run ({cap['fastest_server_run']}, {cap['fastest_server_req_s']:.0f} req/s): "
        f"one core sustains ~{cap['client_one_core_capacity_req_s']} req/s, "
        f"{cap['capacity_over_fastest']}× the fastest server rate (target ≥ 3×).",
        "",
        "## Targets (a target is met when every round meets it)",
        "",
        "| target | computed as | threshold | per round | rounds met |",
        "|---|---|---:|---|---|",
    ]
    for t in report["targets"]:
        per = ", ".join("-" if v is None else f"{v:g}" for v in t["per_round"])
        verdict = "met" if t["met"] else "not met"
        lines.append(
            f"| {t['target']} | {t['computed']} | {t['threshold']:g} | {per} | "
            f"{t['rounds_met']} of {t['rounds']} ({verdict}) |"
        )
    lines += [
        "",
        "## Every round",
        "",
        "| round | comparison | side | req/s | items/s | p50 ms | p90 ms | p99 ms "
        "| server CPU µs/req | client CPU µs/req | errors |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, round_ in enumerate(report["rounds"], 1):
        for comparison, sides in round_.items():
            for side, row in sides.items():
                errors = sum(row["errors"].values())
                distinct = not comparison.endswith(("echo", "repeated"))
                wrapped = " (file wrapped)" if row["wrapped"] and distinct else ""
                lines.append(
                    f"| {n} | {comparison} | {side} | {row['req_s']:.0f} | {row['items_s']:.0f} "
                    f"| {row['p50_us'] / 1000:.2f} | {row['p90_us'] / 1000:.2f} "
                    f"| {row['p99_us'] / 1000:.2f} | {row['server_cpu_us_per_req']} "
                    f"| {row['client_cpu_us_per_req']} | {errors}{wrapped} |"
                )
    lines += included_markdown(report)
    return "\n".join(lines) + "\n"


def included(path: Path) -> dict[str, Any]:
    """The rows of another report of the same run: ``authz bench`` (every scenario with the
    native client, with its echo and cross-server ratios), ``peer_instr`` (whole servers in
    instructions), ``peer_perf`` (their CPU time under load, sampled) or ``h2load_workers``
    (w2/w1)."""
    data: dict[str, Any] = json.loads(path.read_text())
    out: dict[str, Any] = {"file": str(path)}
    if data.get("benchmark") == "peer-instr":
        out["kind"] = "instructions"
        out["per_call"] = {name: s["per_call"] for name, s in data["servers"].items()}
        out["ratios"] = data["ratios"]
        out["git"] = data.get("git")
        out["events"] = {
            name: s["events_per_call"] for name, s in data["servers"].items()
            if "events_per_call" in s
        }  # fmt: skip
    elif data.get("benchmark") == "peer-perf":
        out["kind"] = "perf"
        out["git"] = data.get("git")
        out["skipped"] = data.get("skipped")
        out["summary"] = data.get("summary", {})
        out["md"] = str(path.with_suffix(".md"))
    elif "results" in data:
        out["kind"] = "authz bench"
        out["client"] = data.get("environment", {}).get("client", "python")
        out["rows"] = [
            {
                "server": r["server"],
                "scenario": r["scenario"],
                "req_s": round(r["success_rps"], 1),
                "items_s": round(r["items_per_s"], 1),
                "p50_us": r["latency_us"]["p50"],
                "p99_us": r["latency_us"]["p99"],
                "server_cpu_us_per_req": _r(r["server_cpu_us_per_request"]),
                "errors": sum(r["errors"].values()),
            }
            for r in data["results"]
        ]
        out["comparisons"] = data.get("comparisons", [])
        out["notes"] = data.get("notes", [])
    else:
        out["kind"] = "h2load workers"
        out["ratios"] = data.get("ratios", {})
        out["pinned"] = bool(data.get("config", {}).get("pin_workers"))
    return out


def included_markdown(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for inc in report.get("included", []):
        if inc["kind"] == "authz bench":
            lines += [
                "",
                f"## Every `authz bench` scenario ({inc['client']} client; `{inc['file']}`)",
                "",
                "| server | scenario | req/s | items/s | p50 ms | p99 ms | server CPU µs/req "
                "| errors |",
                "|---|---|---:|---:|---:|---:|---:|---:|",
            ]
            for r in inc["rows"]:
                lines.append(
                    f"| {r['server']} | {r['scenario']} | {r['req_s']:.0f} | {r['items_s']:.0f} "
                    f"| {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} "
                    f"| {r['server_cpu_us_per_req']} | {r['errors']} |"
                )
            lines += ["", "| subject | against | throughput ratio | echo-normalized |",
                      "|---|---|---:|---:|"]  # fmt: skip
            for c in inc["comparisons"]:
                norm = c.get("echo_normalized_ratio")
                lines.append(
                    f"| {c['subject']} | {c['baseline']} ({c['kind']}) "
                    f"| {c['throughput_ratio']:.3f} | {'-' if norm is None else f'{norm:.3f}'} |"
                )
            lines += [f"- {note}" for note in inc["notes"]]
        elif inc["kind"] == "instructions":
            authz, harness, r = inc["per_call"]["authz"], inc["per_call"]["cedar"], inc["ratios"]
            lines += [
                "",
                f"## Whole servers in instructions per call (callgrind, every thread; "
                f"`{inc['file']}`, code {inc['git']})",
                "",
                "Load-independent: the same requests as above, each server under callgrind.",
                "",
                "| call | authz | harness | harness ÷ authz |",
                "|---|---:|---:|---:|",
                f"| echo | {authz['echo']:,} | {harness['echo']:,} "
                f"| {harness['echo'] / authz['echo']:.2f} |",
                f"| distinct Authorize / Decide | {authz['distinct']:,} | {harness['distinct']:,} "
                f"| **{r['distinct_harness_over_authz']:.2f}** (target 0.9) |",
                f"| above the echo | {r['authz_distinct_above_echo']:,} "
                f"| {r['harness_distinct_above_echo']:,} | |",
            ]
            events = inc.get("events") or {}
            if "authz" in events and "cedar" in events:  # ``peer_instr.py --cache-sim``
                ea, eh = events["authz"]["distinct"], events["cedar"]["distinct"]
                for event, what in (
                    ("I1mr", "first-level instruction cache misses"),
                    ("D1mr", "first-level data cache read misses"),
                    ("D1mw", "first-level data cache write misses"),
                ):
                    lines.append(
                        f"| {what}, distinct | {ea[event]:,} | {eh[event]:,} "
                        f"| {eh[event] / max(1, ea[event]):.2f} |"
                    )
        elif inc["kind"] == "perf":
            lines += perf_markdown(inc)
        else:
            r = inc["ratios"]
            lines += [
                "",
                f"## Workers with h2load ({'pinned' if inc['pinned'] else 'unpinned'}; "
                f"`{inc['file']}`)",
                "",
                f"- echo w2/w1 per round {r.get('echo_w2_over_w1_per_round')}, median "
                f"{r.get('echo_w2_over_w1')}",
                "- Authorize (one repeated request) w2/w1 per round "
                f"{r.get('authorize_w2_over_w1_per_round')}, "
                f"median {r.get('authorize_w2_over_w1')}",
            ]
    return lines


def perf_markdown(inc: dict[str, Any]) -> list[str]:
    """``peer_perf.py``: where each side's CPU time per call goes under load, by shared object
    (the function-level tables are in its own Markdown file)."""
    lines = [
        "",
        f"## Where the CPU time goes under load (perf sampling, µs per call; `{inc['file']}`, "
        f"code {inc['git']})",
        "",
    ]
    if inc.get("skipped"):
        return [*lines, f"Skipped: {inc['skipped']}"]
    lines += [
        f"Medians over rounds; by function: `{inc['md']}`.",
        "",
        "| call | shared object | authz | harness | authz − harness |",
        "|---|---|---:|---:|---:|",
    ]
    for scenario, sides in inc["summary"].items():
        if "authz" not in sides or "harness" not in sides:
            continue
        a, h = sides["authz"], sides["harness"]
        div = BATCH if scenario == "batch" else 1
        call = f"{scenario} (per item)" if scenario == "batch" else scenario
        oa, oh = a["by_object_us_per_req"], h["by_object_us_per_req"]
        for label in sorted(set(oa) | set(oh), key=lambda k: -oa.get(k, 0.0)):
            va, vh = oa.get(label, 0.0) / div, oh.get(label, 0.0) / div
            if max(va, vh) >= 1.0:
                lines.append(f"| {call} | {label} | {va:.1f} | {vh:.1f} | {va - vh:+.1f} |")
        ta, th = a["sampled_cpu_us_per_req"] / div, h["sampled_cpu_us_per_req"] / div
        lines.append(f"| {call} | **all** | **{ta:.1f}** | **{th:.1f}** | **{ta - th:+.1f}** |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--streams", type=int, default=8, help="in flight per connection")
    parser.add_argument("--sample", type=int, default=100, help="decisions checked equal")
    parser.add_argument("--lock", type=Path, help="hold this flock file during each run")
    parser.add_argument("--no-cerbos", action="store_true")
    parser.add_argument("--no-machine", action="store_true", help="skip the both-cores runs")
    parser.add_argument(
        "--include",
        type=Path,
        action="append",
        default=[],
        help="an `authz bench` or h2load_workers JSON of the same make run, summarized in "
        "this report (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if not 1 <= args.rounds <= 9 or args.duration + args.warmup > 30 or args.sample < 50:
        parser.error("--rounds 1..9, --duration + --warmup <= 30 s, --sample >= 50")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = run(args)
    report["stamp"] = stamp
    report["client"] = client_capacity(report)
    report["included"] = [included(path) for path in args.include]
    report["commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"peer-{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    md = path.with_suffix(".md")
    md.write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {path} and {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
