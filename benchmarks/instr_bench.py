"""Instructions per request of the server's own work, counted by callgrind: a measure of the
decision path that does not depend on how busy the machine is (wall-clock A/B comparisons on
a shared two-core machine could not show a 5-10 % change, issue 15 step 3).

The driver (``--worker``, run under ``valgrind --tool=callgrind --instr-atstart=no``) builds
the bench fixture's server stack in process as ``authz.server.app.create_server`` assembles
it (edge interceptor with admission gate, read watchdog, metrics, the bench server's
plaintext-secret authentication; the servicers with the server's ``on_decision`` hook) and
sends every request the way gRPC's server does: ``intercept_service`` for the call, the
handler's request deserializer on the wire bytes, the stream-unary behaviour, the response
serializer. No transport: gRPC's C core and its Python glue (the echo floor) are not in
the count. Every scenario is warmed up uninstrumented first (partitions compiled, memos
filled, the collector tuned as ``authz serve`` does), then instrumentation is switched on
(``callgrind_control -i on``) and each scenario's measured requests end with a dump
(``callgrind_control --dump``); an empty segment (two dumps with nothing between) gives the
cost of the control calls themselves, which is subtracted. Threads are counted separately
(``--separate-threads=yes``): *request thread* is the thread that ran the requests (the
read watchdog's and the state watcher's threads wake with wall-clock time, which valgrind
slows ~50x, so they are reported apart, not added).

Scenarios (the load generator's own requests, ``authz.bench.api_scenarios``):

    distinct         Authorize, every request different (an evaluation each)
    repeated         Authorize cycling over 64 requests asked on behalf of the bench user
                     (``principalArn``, as the load client asks): decision-cache hits
    repeated-self    Authorize cycling over 64 questions about the caller itself: answered
                     from the servicer's repeat memo (issue 15 step 4)
    batch            AuthorizeBatch of 100 distinct items (reported per item)
    caller-identity  GetCallerIdentity: the edge and authentication alone (in-process floor)
    example          Authorize in the example repository (``policies/``), Bob's own distinct
                     questions: SCP levels, a permissions boundary and a bucket policy apply
    signed           ``distinct``, each call signed with SigV4 by the client SDK
                     (``authz.client.signing``, before instrumentation) instead of the
                     plaintext secret: the server's side of signing is signed - distinct
    client-sign      the SDK signing one distinct Authorize (no server call): the client's
                     side of signing, in the same units

    python benchmarks/instr_bench.py --label current [--runs 2] [--requests 300]
    python benchmarks/instr_bench.py --label base --pythonpath /tmp/base-tree   # older code

Each invocation appends its runs to ``results/instr-<stamp>.json`` / ``.md`` (``--out``
names the stamp file to extend, so before/after variants land in one report). The count is
repeatable for the same code and inputs (PYTHONHASHSEED is fixed; the Rust HashMaps in
cedarpy are randomly seeded, so runs differ by well under 1 %: ``--runs`` shows it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = (
    "distinct",
    "repeated",
    "repeated-self",
    "batch",
    "caller-identity",
    "example",
    "signed",
    "client-sign",
)
EXAMPLE_CALLER = "arn:aws:iam::111122223333:user/Bob"
DEFAULT_REQUESTS = 300
# The state watcher polls on wall-clock time, which valgrind slows ~50x: with the default 5 s
# a request could find the credentials "not polled recently" and be refused. The request
# thread's freshness check costs the same either way.
STALE_SECONDS = 3600.0
WARM = 200


# -- the worker (runs under callgrind) ------------------------------------------------------


@dataclass(frozen=True)
class _Details:
    """What ``grpc.HandlerCallDetails`` carries."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class _Context:
    """The parts of ``grpc.ServicerContext`` the edge and servicers read."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_trailing_metadata(self, _metadata: object) -> None:
        return None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:40000"

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def time_remaining(self) -> float:
        return 10.0

    def cancel(self) -> None:
        return None

    def abort_with_status(self, status: object) -> None:
        raise RuntimeError(f"the call failed: {status}")


Call = Callable[..., bytes]  # (method, body[, per-call metadata]) -> response bytes


def _server(example: bool = False, opened: list[Any] | None = None) -> tuple[Call, dict[str, str]]:
    """``call(method, body[, calls]) -> response bytes`` through the server stack, and the
    caller's access key (``access_key_id``, ``secret_access_key``);
    with ``example``, on a copy of the example repository (``policies/``: an organisation with
    SCPs, a permissions boundary, a bucket policy) as Bob with a fresh access key. The backend
    is appended to ``opened`` when given (a test closes it: its state watcher is a thread)."""
    import grpc

    from authz._gen.authz.v1 import authorizer_pb2, sts_pb2
    from authz.bench import authz_server
    from authz.bench.api_scenarios import BATCH
    from authz.config import load_settings
    from authz.server.admission import AdmissionGate, CountingPool
    from authz.server.interceptors import Authenticator, EdgeInterceptor
    from authz.server.metrics import ServerMetrics
    from authz.server.readtimeout import ReadWatchdog
    from authz.server.servicers.authorizer import AuthorizerServicer
    from authz.server.servicers.sts import SecurityTokenServiceServicer
    from authz.wiring import build_backend

    if example:
        import shutil

        from authz.sts.credentials import open_credentials
        from authz.sts.keys import KeyRing

        work = Path(tempfile.mkdtemp(prefix="instr-example-"))
        shutil.copytree(Path(__file__).resolve().parents[1] / "policies", work / "policies")
        KeyRing.generate(work / "keys")
        state_url, state_key = f"sqlite:///{work / 'state.db'}", work / "state.key"
        with open_credentials(state_url, state_key) as store:  # before the server, as the
            key_id, secret = store.create(EXAMPLE_CALLER)  # bench fixture does
        settings = load_settings(
            None,
            repo=work / "policies",
            keys_dir=work / "keys",
            state_url=state_url,
            state_key_file=state_key,
            watch=False,
            state_stale_seconds=STALE_SECONDS,
        )
        backend = build_backend(settings)
        info = {"access_key_id": key_id, "secret_access_key": secret}
    else:
        fx = authz_server.fixture()
        settings = load_settings(
            None,
            repo=fx.repo,
            keys_dir=fx.keys,
            state_url=fx.state_url,
            state_key_file=fx.state_key,
            watch=False,
            state_stale_seconds=STALE_SECONDS,
        )
        backend = build_backend(settings)
        info = json.loads(fx.info.read_text())
    metadata = (
        ("x-authz-access-key-id", info["access_key_id"]),
        ("x-authz-secret-access-key", info["secret_access_key"]),
    )
    context = _Context(metadata)
    metrics = ServerMetrics()
    edge = EdgeInterceptor(  # as authz.server.app.create_server assembles it
        Authenticator(backend, {}, allow_plaintext_secret=True),  # as the bench server
        metrics,
        None,  # the bench server writes no audit log
        AdmissionGate(12, 0.1, 12),
        CountingPool(16, "instr-rpc"),
        CountingPool(2, "instr-refuse"),
        ReadWatchdog(5.0),
        max_request_seconds=3600.0,  # the deadline runs (2 s is too short under valgrind)
        tls=False,  # create_server: tls=config.tls_cert_file is not None
    )
    authorizer = AuthorizerServicer(
        backend,
        max_batch_size=BATCH,
        trusted_principal_arns=frozenset(),
        on_decision=lambda d: metrics.count_decision(str(d.decision)),
    )
    sts = SecurityTokenServiceServicer(backend)
    methods: dict[str, tuple[Callable[..., Any], Any, Any]] = {
        "/authz.v1.Authorizer/Authorize": (
            authorizer.Authorize,
            authorizer_pb2.AuthorizeRequest,
            authorizer_pb2.AuthorizeResponse,
        ),
        "/authz.v1.Authorizer/AuthorizeBatch": (
            authorizer.AuthorizeBatch,
            authorizer_pb2.AuthorizeBatchRequest,
            authorizer_pb2.AuthorizeBatchResponse,
        ),
        "/authz.v1.SecurityTokenService/GetCallerIdentity": (
            sts.GetCallerIdentity,
            sts_pb2.GetCallerIdentityRequest,
            sts_pb2.GetCallerIdentityResponse,
        ),
    }
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=req.FromString,
            response_serializer=resp.SerializeToString,
        )
        for method, (behaviour, req, resp) in methods.items()
    }
    details = {m: _Details(m, metadata) for m in methods}

    def call(method: str, body: bytes, own: tuple[Any, Any] | None = None) -> bytes:
        # what grpc's server does per call: the interceptor picks the handler, then
        # deserialize, run (the edge reads the one message of a stream-unary call), serialize.
        # ``own``: this call's (details, context), built beforehand from its own metadata
        call_details, call_context = own if own is not None else (details[method], context)
        handler = edge.intercept_service(lambda d: handlers[d.method], call_details)
        request = handler.request_deserializer(body)
        response = handler.stream_unary(iter((request,)), call_context)
        return bytes(handler.response_serializer(response))

    if opened is not None:
        opened.append(backend)
    return call, info


def _signed_calls(
    call: Call, info: dict[str, str], method: str, bodies: list[bytes]
) -> list[Callable[[], bytes]]:
    """One call per body, each with its own SigV4 metadata (signed now, before
    instrumentation; the server accepts a signature for 5 minutes)."""
    from authz.client.credentials import AccessKeyCredentials
    from authz.client.signing import signed_metadata

    key = AccessKeyCredentials(info["access_key_id"], info["secret_access_key"])
    calls = []
    for body in bodies:
        metadata = signed_metadata(key, method, body)
        own = (_Details(method, metadata), _Context(metadata))
        calls.append(lambda body=body, own=own: call(method, body, own))
    return calls


def _signings(info: dict[str, str], method: str, bodies: list[bytes]) -> list[Callable[[], Any]]:
    """The SDK's signing of each body (what a signed call adds on the client)."""
    from authz.client.credentials import AccessKeyCredentials
    from authz.client.signing import signed_metadata

    key = AccessKeyCredentials(info["access_key_id"], info["secret_access_key"])
    return [lambda body=body: signed_metadata(key, method, body) for body in bodies]


def _bodies(scenario: str, start: int, count: int) -> tuple[str, list[bytes], int]:
    """(method, request bodies, decisions per body)."""
    from authz._gen.authz.v1 import authorizer_pb2, sts_pb2
    from authz.bench.api_scenarios import (
        AUTHORIZE,
        AUTHORIZE_BATCH,
        BATCH,
        CALLER_IDENTITY,
        REPEATED_POOL,
        authorize_request,
    )

    if scenario in ("distinct", "signed", "client-sign"):
        bodies = [authorize_request(i).SerializeToString() for i in range(start, start + count)]
        return AUTHORIZE, bodies, 1
    if scenario == "repeated":
        pool = [authorize_request(i).SerializeToString() for i in range(REPEATED_POOL)]
        return AUTHORIZE, [pool[i % REPEATED_POOL] for i in range(count)], 1
    if scenario == "repeated-self":
        own = []
        for i in range(REPEATED_POOL):  # the caller's own question: no principal, no context
            asked = authorize_request(i)
            own.append(
                authorizer_pb2.AuthorizeRequest(
                    action=asked.action, resource=asked.resource
                ).SerializeToString()
            )
        return AUTHORIZE, [own[i % REPEATED_POOL] for i in range(count)], 1
    if scenario == "batch":
        rpcs = max(1, count // BATCH)
        bodies = [
            authorizer_pb2.AuthorizeBatchRequest(
                items=[authorize_request((start // BATCH + k) * BATCH + j) for j in range(BATCH)]
            ).SerializeToString()
            for k in range(rpcs)
        ]
        return AUTHORIZE_BATCH, bodies, BATCH
    if scenario == "caller-identity":
        return CALLER_IDENTITY, [sts_pb2.GetCallerIdentityRequest().SerializeToString()] * count, 1
    if scenario == "example":  # Bob's own distinct question in the example repository
        bodies = [
            authorizer_pb2.AuthorizeRequest(
                action="s3:GetObject", resource=f"arn:aws:s3:::example-reports/instr/{i}.csv"
            ).SerializeToString()
            for i in range(start, start + count)
        ]
        return AUTHORIZE, bodies, 1
    raise ValueError(scenario)


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def _wrap(target: str) -> None:
    """Route every call of ``module:Qualified.name`` through ``operator.call`` (a C function),
    so that callgrind's inclusive count of ``_operator_call`` is that function's own cost.
    The attribute is replaced where it is looked up: name the module that calls it
    (``authz.engine.cache:approx_size``), or the class for a method."""
    import importlib
    import operator

    module_name, _, qualname = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    inner = getattr(owner, name)
    if not callable(inner) or isinstance(inner, type):
        raise SystemExit(f"{target} is not a function")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return operator.call(inner, *args, **kwargs)

    setattr(owner, name, wrapper)


def worker(scenarios: Sequence[str], requests: int, nulls: int, wrap: str | None) -> None:
    """Warm every scenario, then one dump per measured scenario (see the module docstring).
    Prints one JSON line: the dump order and the requests/items per dump."""
    from authz.server.app import tune_collector

    if wrap:
        _wrap(wrap)
    servers: dict[bool, tuple[Call, dict[str, str]]] = {}
    plan: list[tuple[str, list[Callable[[], Any]], int]] = []
    for n, scenario in enumerate(scenarios):
        example = scenario == "example"
        if example not in servers:
            servers[example] = _server(example)
        call, info = servers[example]
        for start, measured in ((10_000_000, False), (20_000_000, True)):
            count = requests if measured else WARM
            method, bodies, per = _bodies(scenario, start + n * 100_000, count)
            if scenario == "signed":
                calls = _signed_calls(call, info, method, bodies)
            elif scenario == "client-sign":
                calls = _signings(info, method, bodies)
            else:
                calls = [lambda c=call, m=method, b=body: c(m, b) for body in bodies]
            if not measured:
                for one in calls:  # warm: partitions compiled, memos filled
                    one()
        plan.append((scenario, calls, per))  # (an error status raises)
    tune_collector()  # as `authz serve` does
    gc.collect()
    order: list[dict[str, Any]] = []
    _control("-i", "on")
    _control("--dump=start")
    order.append({"dump": "start"})
    for k in range(nulls):
        _control(f"--dump=null{k}")
        order.append({"dump": f"null{k}"})
    for scenario, calls, per in plan:
        for one in calls:
            one()
        _control(f"--dump={scenario}")
        order.append({"dump": scenario, "requests": len(calls), "per_request": per})
    _control("-i", "off")
    print("INSTR-PLAN " + json.dumps(order), flush=True)


# -- the launcher -----------------------------------------------------------------------------

_TOTALS = re.compile(r"^(?:totals|summary):\s+(\d+)", re.M)
_PART = re.compile(r"^part:\s+(\d+)", re.M)
_THREAD = re.compile(r"^thread:\s+(\d+)", re.M)


def _read_dumps(out: Path) -> dict[int, dict[int, int]]:
    """{dump part: {thread: instructions}} from callgrind's per-thread dump files."""
    parts: dict[int, dict[int, int]] = {}
    for path in out.parent.glob(out.name + "*"):
        text = path.read_text(errors="replace")
        part, thread, totals = _PART.search(text), _THREAD.search(text), _TOTALS.search(text)
        if not (part and thread and totals):
            continue
        parts.setdefault(int(part.group(1)), {})[int(thread.group(1))] = int(totals.group(1))
    return parts


_OPERATOR_CALL = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\S*_operator\.c:_operator_call \[", re.M)


def _attributed(path: Path) -> int:
    """The inclusive instructions of ``_operator_call`` in one dump (0 when never called)."""
    done = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    found = _OPERATOR_CALL.search(done.stdout)
    return int(found.group(1).replace(",", "")) if found else 0


def run_once(
    scenarios: Sequence[str],
    requests: int,
    nulls: int,
    pythonpath: str,
    keep: Path | None,
    wrap: str | None = None,
) -> dict[str, Any]:
    """One valgrind run of the worker; per scenario: instructions per request (or item)."""
    with tempfile.TemporaryDirectory(prefix="instr-") as tmp:
        out = Path(tmp) / "cg.out"
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=pythonpath)
        argv = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
            f"--callgrind-out-file={out}", sys.executable, __file__, "--worker",
            "--requests", str(requests), "--nulls", str(nulls), "--scenario", *scenarios,
        ]  # fmt: skip
        if wrap:
            argv += ["--attribute", wrap]
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        line = next((x for x in proc.stdout.splitlines() if x.startswith("INSTR-PLAN ")), None)
        if proc.returncode != 0 or line is None:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"the callgrind run failed (exit {proc.returncode})")
        order = json.loads(line.removeprefix("INSTR-PLAN "))
        parts = _read_dumps(out)
        attributed = {
            k: _attributed(out.parent / f"{out.name}.{k}-01")
            for k, entry in enumerate(order, start=1)
            if wrap and "requests" in entry
        }
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for path in out.parent.glob(out.name + "*"):
                path.replace(keep / path.name)
    # dump k (1-based) holds the segment that ended with the k-th --dump
    main_thread = min(t for p in parts.values() for t in p)
    segments = []
    for k, entry in enumerate(order, start=1):
        threads = parts.get(k, {})
        segments.append(
            (
                entry,
                threads.get(main_thread, 0),
                sum(v for t, v in threads.items() if t != main_thread),
            )
        )
    null_main = statistics.median(s[1] for s in segments if s[0]["dump"].startswith("null"))
    result: dict[str, Any] = {"seconds": round(seconds, 1), "control_overhead": null_main,
                              "scenarios": {}}  # fmt: skip
    for k, (entry, main, others) in enumerate(segments, start=1):
        if "requests" not in entry:
            continue
        units = entry["requests"] * entry["per_request"]
        if wrap:
            result["scenarios"][entry["dump"]] = {"per_unit": round(attributed[k] / units)}
            continue
        result["scenarios"][entry["dump"]] = {
            "requests": entry["requests"],
            "per_request": entry["per_request"],
            "instructions_request_thread": main,
            "instructions_other_threads": others,
            "per_unit": round((main - null_main) / units),
            "other_threads_per_unit": round(others / units),
        }
    return result


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Instructions per request, in process (`benchmarks/instr_bench.py`, {report['stamp']})",
        "",
        "Counted by callgrind (`--separate-threads=yes`), request thread only, the control calls' "
        "cost subtracted; per item for `batch`. No gRPC transport (see the script's docstring).",
        "",
        "| variant | run | " + " | ".join(report["scenarios"]) + " | note |",
        "|---|---:|" + "---:|" * len(report["scenarios"]) + "---|",
    ]
    for variant in report["variants"]:
        for n, run in enumerate(variant["runs"], start=1):
            cells = [
                f"{run['scenarios'][s]['per_unit']:,}" if s in run["scenarios"] else "–"
                for s in report["scenarios"]
            ]
            lines.append(
                f"| {variant['label']} | {n} | " + " | ".join(cells) + f" | {variant['note']} |"
            )
    if report.get("attributions"):
        lines += [
            "",
            "Attributed (`--attribute`: the function's inclusive instructions per request or "
            "item, all its callees included; each target its own run, so the rows do not add "
            "up to a total when one target calls another):",
            "",
            "| variant | function | " + " | ".join(report["scenarios"]) + " |",
            "|---|---|" + "---:|" * len(report["scenarios"]),
        ]
        for row in report["attributions"]:
            cells = [
                f"{row['scenarios'][s]['per_unit']:,}" if s in row["scenarios"] else "–"
                for s in report["scenarios"]
            ]
            lines.append(f"| {row['label']} | `{row['target']}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Requests per scenario: {report['requests']} (batch: that many items), after "
        f"{WARM} warm-up requests. Command per variant: `{report['command']}`.",
        "",
    ]
    return "\n".join(lines)


def launcher(args: argparse.Namespace) -> None:
    out = Path(args.out) if args.out else RESULTS / f"instr-{time.strftime('%Y%m%d-%H%M%S')}.json"
    if not out.is_absolute() and out.parent == Path("."):  # a bare name: a file in results/
        out = RESULTS / out
    report: dict[str, Any]
    if out.exists():
        report = json.loads(out.read_text())
    else:
        report = {
            "stamp": out.stem.removeprefix("instr-"),
            "scenarios": list(args.scenario),
            "requests": args.requests,
            "command": "python benchmarks/instr_bench.py --label L [--pythonpath TREE] "
            f"--requests {args.requests} --runs N --out {out.name}",
            "python": sys.version.split()[0],
            "variants": [],
        }
    pythonpath = args.pythonpath or str(Path(__file__).resolve().parent.parent)
    if args.attribute:
        for target in args.attribute:
            run = run_once(args.scenario, args.requests, args.nulls, pythonpath, None, target)
            row = {"label": args.label, "target": target, **run}
            report.setdefault("attributions", []).append(row)
            cells = ", ".join(f"{s} {v['per_unit']:,}" for s, v in run["scenarios"].items())
            print(f"{args.label} {target}: {cells}", flush=True)
            out.write_text(json.dumps(report, indent=1) + "\n")
            out.with_suffix(".md").write_text(_markdown(report))
        return
    variant = {"label": args.label, "note": args.note, "pythonpath": pythonpath, "runs": []}
    for r in range(args.runs):
        keep = Path(args.keep) / f"{args.label}-{r + 1}" if args.keep else None
        run = run_once(args.scenario, args.requests, args.nulls, pythonpath, keep)
        variant["runs"].append(run)
        cells = ", ".join(f"{s} {v['per_unit']:,}" for s, v in run["scenarios"].items())
        print(f"{args.label} run {r + 1}: {cells} ({run['seconds']} s)", flush=True)
    report["variants"].append(variant)
    out.write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(_markdown(report))
    print(f"wrote {out} and {out.with_suffix('.md').name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--nulls", type=int, default=3, help="empty segments (control cost)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--label", default="current")
    parser.add_argument("--note", default="")
    parser.add_argument("--pythonpath", help="the source tree to measure (default: this one)")
    parser.add_argument("--out", help="a results/instr-*.json to extend")
    parser.add_argument("--keep", help="a directory to keep the callgrind dumps in")
    parser.add_argument(
        "--attribute",
        nargs="+",
        metavar="MODULE:NAME",
        help="instead of totals: the inclusive cost of each function (one run each)",
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.scenario, args.requests, args.nulls, (args.attribute or [None])[0])
    else:
        launcher(args)


if __name__ == "__main__":
    main()
