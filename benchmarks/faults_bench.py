"""Operations figures (issue 12): overload at 1x / 4x / 20x the admission limit and SIGTERM
with 50 calls in flight, against a real ``authz serve`` (the example repository, Bob's access
key) on 127.0.0.1, with every outcome matched against the audit log by request id.

    python benchmarks/faults_bench.py [--duration 5] [--rounds 3] [--out benchmarks/results]

Writes ``benchmarks/results/faults-<timestamp>.json``. The load generator is
``tests/integration/faultkit.closed_loop`` (one Python process, callbacks on gRPC futures); its
own ceiling is measured first (health checks, which admission does not limit) and reported
beside the figures: on a shared 2-core machine it, not the server, bounds the call rate.
Admission settings of the overload runs (``authz.toml``): 16 threads hold arriving calls, 8 run
at once, the others wait at most 100 ms (``admission_wait_ms``), one caller may hold all 8; the
SIGTERM rounds use the defaults (64 / 60), a 1 s drain window and a 10 s grace.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grpc_health.v1 import health_pb2  # noqa: E402

from authz._gen.authz.v1 import authorizer_pb2  # noqa: E402
from authz.bench.report import write_result  # noqa: E402
from authz.sts.credentials import open_credentials  # noqa: E402
from authz.sts.keys import KeyRing  # noqa: E402
from tests.integration import faultkit as fk  # noqa: E402

BOB = "arn:aws:iam::111122223333:user/Bob"
AUTHORIZE = "/authz.v1.Authorizer/Authorize"
HEALTH = "/grpc.health.v1.Health/Check"
REQUEST = authorizer_pb2.AuthorizeRequest(
    action="s3:GetObject", resource="arn:aws:s3:::example-reports/q1.csv"
)
THREADS, RUNNING, WAIT_MS = 16, 8, 100
CONFIG = f"""
max_threads = {THREADS}
max_concurrent_rpcs = {RUNNING}
max_concurrent_per_caller = {RUNNING}
admission_wait_ms = {WAIT_MS}
allow_plaintext_secret = true  # the load generator sends fixed metadata (loopback)
"""


def _setup(work: Path) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    repo = work / "policies"
    shutil.copytree(ROOT / "policies", repo)
    KeyRing.generate(work / "keys")
    state_url, state_key = f"sqlite:///{work / 'state.db'}", work / "state.key"
    with open_credentials(state_url, state_key) as store:
        key_id, secret = store.create(BOB)
    (work / "authz.toml").write_text(CONFIG, encoding="utf-8")
    args = ["-m", "authz.cli", "serve", "--repo", str(repo), "--no-watch",
            "--keys-dir", str(work / "keys"), "--state-url", state_url,
            "--state-key-file", str(state_key), "--config", str(work / "authz.toml")]  # fmt: skip
    metadata = (("x-authz-access-key-id", key_id), ("x-authz-secret-access-key", secret))
    return args, metadata


def _start(work: Path, base: list[str], name: str, *extra: str) -> tuple[fk.ServerProcess, int]:
    port, metrics_port = fk.free_port(), fk.free_port()
    args = [*base, "--listen", f"127.0.0.1:{port}",
            "--metrics-listen", f"127.0.0.1:{metrics_port}",
            "--audit-log", str(work / f"{name}.audit.jsonl"), *extra]  # fmt: skip
    return fk.start_process(args, port, work / f"{name}.log"), metrics_port


def _audit_check(result: fk.LoadResult, audit: Path) -> dict[str, int]:
    events = {e["requestID"]: e for e in fk.audit_events(audit)}
    ok_missing = sum(1 for o in result.ok() if o.request_id not in events)
    refused_missing = sum(
        1 for o in result.refused() if events.get(o.request_id, {}).get("errorCode") != o.aws_code
    )
    return {"audit_events": len(events), "ok_not_audited": ok_missing,
            "refused_not_audited_with_code": refused_missing}  # fmt: skip


def overload(work: Path, base: list[str], md: Any, duration: float) -> dict[str, Any]:
    server, metrics_port = _start(work, base, "overload")
    limit = THREADS
    runs: list[dict[str, Any]] = []
    results: list[fk.LoadResult] = []
    try:
        ceiling = fk.closed_loop(
            server.target,
            HEALTH,
            health_pb2.HealthCheckRequest(),
            concurrency=20 * limit,
            duration=duration,
            prefix="ceiling",
        )
        series = {"method": "Authorize", "code": "OK"}
        for factor in (1, 4, 20):
            before = fk.histogram(metrics_port, "authz_grpc_request_duration_seconds", series)
            result = fk.closed_loop(server.target, AUTHORIZE, REQUEST, metadata=md,
                                    concurrency=factor * limit, duration=duration,
                                    prefix=f"x{factor}")  # fmt: skip
            after = fk.histogram(metrics_port, "authz_grpc_request_duration_seconds", series)
            results.append(result)
            runs.append({
                "factor": factor, "concurrency": factor * limit, **result.summary(),
                # server side, from the moment the handler runs (bucket upper bound)
                "server_admitted_p99_ms_at_most": fk.bucket_quantile(before, after, 0.99) * 1000,
            })  # fmt: skip
        rejected = {
            reason: fk.metric(metrics_port, "authz_grpc_rejected_requests_total",
                              {"reason": reason})
            for reason in ("overload", "caller_limit", "draining", "read_timeout")
        }  # fmt: skip
    finally:
        server.signal(signal.SIGTERM)
        server.wait(60)
    merged = fk.LoadResult([o for r in results for o in r.outcomes])
    return {
        "client_ceiling_health_checks": ceiling.summary(),
        "runs": runs,
        "server_rejected": rejected,
        "client_refusals": len(merged.refused()),
        **_audit_check(merged, work / "overload.audit.jsonl"),
    }


def sigterm(work: Path, base: list[str], md: Any, rnd: int) -> dict[str, Any]:
    """The default admission settings (64 threads, 60 running): the 50 calls are all admitted."""
    name = f"sigterm-{rnd}"
    default = [a for a in base if a not in ("--config", str(work / "authz.toml"))]
    server, _ = _start(work, default, name, "--drain-seconds", "1",
                       "--shutdown-grace-seconds", "10")  # fmt: skip
    box: dict[str, fk.LoadResult] = {}
    loader = threading.Thread(
        target=lambda: box.update(r=fk.closed_loop(
            server.target, AUTHORIZE, REQUEST, metadata=md, concurrency=50, duration=10,
            stop_on=frozenset({"UNAVAILABLE"}), prefix=name))
    )  # fmt: skip
    loader.start()
    time.sleep(2)
    signalled = time.monotonic()
    server.signal(signal.SIGTERM)
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    drained = fk.wait_until(lambda: fk.healthy(server.target, 0.5) == not_serving, 1.0, 0.01)
    not_serving_after = time.monotonic() - signalled
    code = server.wait(60)
    exited = time.monotonic() - signalled
    loader.join(60)
    result = box["r"]
    in_flight_at_signal = [
        o for o in result.outcomes if o.sent_at < signalled < o.sent_at + o.seconds
    ]
    return {
        "round": rnd,
        "exit_code": code,
        "seconds_to_exit": round(exited, 2),
        "health_not_serving_during_drain": drained,
        "not_serving_after_ms": round(not_serving_after * 1000, 1),
        "in_flight_at_sigterm": len(in_flight_at_signal),
        "in_flight_at_sigterm_ok": sum(o.code == "OK" for o in in_flight_at_signal),
        "codes": dict(result.codes()),
        "codes_after_sigterm": dict(
            fk.LoadResult([o for o in result.outcomes if o.sent_at >= signalled]).codes()
        ),
        **_audit_check(result, work / f"{name}.audit.jsonl"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="authz-faults-") as tmp:
        work = Path(tmp)
        base, md = _setup(work)
        report: dict[str, Any] = {
            "settings": {
                "max_threads": THREADS,
                "max_concurrent_rpcs": RUNNING,
                "admission_wait_ms": WAIT_MS,
            },
            "overload": overload(work, base, md, args.duration),
            "sigterm": [sigterm(work, base, md, i) for i in range(args.rounds)],
        }
    out = write_result(args.out, "faults", report)
    print(json.dumps(report, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
