"""The run-time state in a database (issue 18), measured: AssumeRole and Authorize with SQLite
and with PostgreSQL state against the JSON file store they replaced, and three replicas against
one under the same client load. Driven by the native client (benchmarks/loadc), rounds
interleaved, every round reported.

**Store comparison** (per core: each server pinned to CPU 1 with ``taskset``, the client on CPU
0). Three servers run side by side, each on its own copy of the benchmark repository
(``authz.bench.authz_server.write_repo``), its own signing keys and an access key of the
``bench`` user created through that server's own code:

    file        the revision before the state database (``--baseline``, default 1db3baf),
                exported with ``git archive`` into a temporary directory and run from there:
                access keys in the JSON credentials file (``--credentials-file``)
    sqlite      this checkout (or ``--revision``), ``--state-url sqlite:///…`` (one file, WAL)
    postgresql  the same code, ``--state-url postgresql://…`` on a throwaway PostgreSQL server
                (``tests/postgres_server.py``: loopback, trust authentication, fsync off)

In each round every scenario (``authorize``: a distinct Authorize each call; ``assume-role``:
AssumeRole with a new session name each call) runs on the three servers one after the other,
the order rotated per round, with the same load shape; ratios are computed within a round.
The baseline is an older revision: the difference includes everything else merged since it, not
only the state store (the report names both revisions).

**Replicas** (both cores, nothing pinned): three ``authz serve`` processes of this checkout on
three ports sharing one PostgreSQL state database, one repository and one key ring, against one
of them alone, under the same client load: the same number of calls in flight, spread by three
``loadc`` processes (one per replica, as a client-side round-robin balancer spreads its
connections) or sent by one. The other two replicas stay up (idle) during the one-replica runs.
One authz process uses one core (the GIL) and this machine has two, shared with the client: three
replicas can use the second core but nothing beyond it.

The measurement holds ``--lock`` (flock, default /tmp/authz-quiet.lock, shared with the other
benchmarks) and starts only when the 1-minute load average is at most ``--max-load`` (waits up
to ``--quiet-wait`` seconds, then stops unless ``--force``). Loopback only; every run is bounded.

    python benchmarks/state_bench.py [--rounds 5] [--duration 5] [--warmup 1] [--out DIR]

Writes ``<out>/state-<stamp>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from authz._gen.authz.v1 import sts_pb2  # noqa: E402
from authz.bench import api_scenarios, authz_server  # noqa: E402
from authz.bench.histogram import Histogram  # noqa: E402
from authz.bench.loadgen import PERCENTILES, LoadConfig, LoadResult  # noqa: E402
from authz.bench.native import RequestFile, loadc_path, run_loadc, write_request_file  # noqa: E402
from authz.bench.spawn import free_port  # noqa: E402

SERVER_CPU, CLIENT_CPU = 1, 0
MESSAGES = 60_000  # distinct requests per file (a wrap is reported)
STREAMS = 8
SCENARIOS = ("authorize", "assume-role")
START_TIMEOUT_S = 120.0


# -- the code each server runs ----------------------------------------------------------------


def export_revision(revision: str, dest: Path) -> str:
    """``git archive`` of ``revision`` into ``dest``; its full commit id."""
    commit = _git("rev-parse", revision)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
        timeout=60,
    )
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True, timeout=60)
    return commit


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def run_code(code: Path, snippet: str, *args: str) -> str:
    """Run ``snippet`` with ``code`` first on the path (that revision's product API)."""
    done = subprocess.run(
        [sys.executable, "-c", snippet, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(code)},
        cwd=code,
    )
    if done.returncode != 0:
        raise RuntimeError(f"setup in {code} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


# Each revision creates its key ring and the bench user's access key through its own code.
FILE_STORE_SETUP = """
import json, sys
from pathlib import Path
from authz.sts.credentials import CredentialStore
from authz.sts.keys import KeyRing
KeyRing.generate(Path(sys.argv[1]))
key_id, secret = CredentialStore(Path(sys.argv[2])).create(sys.argv[3])
print(json.dumps([key_id, secret]))
"""

STATE_SETUP = """
import json, sys
from pathlib import Path
from authz.sts.keys import KeyRing
from authz.state.sealing import Sealer
from authz.sts.credentials import open_credentials
keys, url, key_file, user = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
if not (keys / "index.json").exists():
    KeyRing.generate(keys)
Sealer.from_key_file(key_file, create=True)  # one key for both state databases
with open_credentials(url, key_file) as store:
    key_id, secret = store.create(user)
print(json.dumps([key_id, secret]))
"""


@dataclass
class Variant:
    """One server configuration: its code, its serve arguments, the bench user's key."""

    name: str
    code: Path
    revision: str
    serve_args: list[str]
    key: tuple[str, str] = ("", "")


def file_variant(work: Path, revision: str, repo: Path) -> Variant:
    code = work / "baseline"
    commit = export_revision(revision, code)
    keys, credentials = work / "file-keys", work / "file-credentials.json"
    key = json.loads(
        run_code(code, FILE_STORE_SETUP, str(keys), str(credentials), authz_server.USER_ARN)
    )
    args = [
        "--repo",
        str(_copy(repo, work / "file-repo")),
        "--keys-dir",
        str(keys),
        "--credentials-file",
        str(credentials),
    ]
    return Variant("file", code, commit, args, tuple(key))


def state_code(work: Path, revision: str) -> tuple[Path, str]:
    """The code of the state variants: this checkout, or ``revision`` exported."""
    if revision == "HEAD":
        return ROOT, _git("rev-parse", "HEAD")
    code = work / "current"
    return code, export_revision(revision, code)


def state_variant(
    name: str, work: Path, url: str, repo: Path, keys: Path, code: tuple[Path, str]
) -> Variant:
    key_file = work / "state.key"
    key = json.loads(
        run_code(code[0], STATE_SETUP, str(keys), url, str(key_file), authz_server.USER_ARN)
    )
    args = [
        "--repo",
        str(repo),
        "--keys-dir",
        str(keys),
        "--state-url",
        url,
        "--state-key-file",
        str(key_file),
    ]
    return Variant(name, code[0], code[1], args, tuple(key))


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


# -- servers ----------------------------------------------------------------------------------


class Server:
    """One ``authz serve`` process on 127.0.0.1 (optionally pinned), stopped on exit."""

    def __init__(self, variant: Variant, work: Path, cpu: int | None) -> None:
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "authz.cli",
            "serve",
            "--listen",
            self.target,
            "--allow-plaintext-secret",
            "--drain-seconds",
            "0",
            *variant.serve_args,
        ]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        self.log = (work / f"{variant.name}-{self.port}.log").open("w")
        workdir = Path(tempfile.mkdtemp(prefix="cwd-", dir=work))
        self.process = subprocess.Popen(
            argv,
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(variant.code)},
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server {self.target} exited: see {self.log.name}")
                with contextlib.suppress(grpc.RpcError):
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                time.sleep(0.2)
        raise RuntimeError(f"server {self.target} not serving after {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


# -- requests ---------------------------------------------------------------------------------


def request_file(work: Path, variant: Variant, scenario: str, tag: str = "") -> Path:
    headers = (
        ("x-authz-access-key-id", variant.key[0]),
        ("x-authz-secret-access-key", variant.key[1]),
    )
    if scenario == "authorize":
        messages = [api_scenarios.authorize_request(i).SerializeToString() for i in range(MESSAGES)]
        method = api_scenarios.AUTHORIZE
    else:
        messages = [
            sts_pb2.AssumeRoleRequest(
                role_arn=authz_server.ROLE_ARN, role_session_name=f"bench-{tag}{i}"
            ).SerializeToString()
            for i in range(MESSAGES)
        ]
        method = api_scenarios.ASSUME_ROLE
    dest = work / f"{variant.name}-{scenario}{tag}.req"
    return write_request_file(dest, RequestFile(method, headers, messages))


# -- PostgreSQL's own CPU -----------------------------------------------------------------------


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds of ``root_pid`` and its descendants, living and reaped (the PostgreSQL
    server's backends are children of the postmaster)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        # utime + stime, and cutime + cstime: the children it has reaped (exited backends)
        times[int(entry)] = sum(int(f) for f in fields[11:15]) / ticks
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


# -- measuring --------------------------------------------------------------------------------


def summarize(result: LoadResult) -> dict[str, Any]:
    lat = result.latency_us
    return {
        "rps": round(result.success_rps, 1),
        "p50_ms": round(lat["p50"] / 1000, 3),
        "p90_ms": round(lat["p90"] / 1000, 3),
        "p99_ms": round(lat["p99"] / 1000, 3),
        "errors": dict(result.errors),
        "requests": result.requests,
        "server_cpu_us": _round(result.server_cpu_us_per_request),
        "client_cpu_us": _round(result.client_cpu_us_per_request),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def measure_one(
    server: Server,
    requests: Path,
    config: LoadConfig,
    scenario: str,
    pg_pid: int | None,
    cpu: int | None,
) -> dict[str, Any]:
    pg_before = tree_cpu_seconds(pg_pid) if pg_pid else 0.0
    result, raw = run_loadc(
        requests, server.target, config, scenario=scenario, server_pid=server.process.pid, cpu=cpu
    )
    out = summarize(result)
    out["wrapped"] = bool(raw.get("wrapped"))
    if pg_pid and result.requests:
        # over warm-up + window: an upper bound of the database's share per request
        spent = tree_cpu_seconds(pg_pid) - pg_before
        out["postgres_cpu_us"] = round(spent / result.requests * 1e6, 1)
    return out


def measure_spread(
    servers: list[Server], files: list[Path], config: LoadConfig, scenario: str
) -> dict[str, Any]:
    """One ``loadc`` per server at the same time (the in-flight calls split between them);
    throughput summed, percentiles from the merged histograms."""
    with ThreadPoolExecutor(len(servers)) as pool:
        runs = list(
            pool.map(
                lambda pair: run_loadc(
                    pair[1],
                    pair[0].target,
                    config,
                    scenario=scenario,
                    server_pid=pair[0].process.pid,
                ),
                zip(servers, files, strict=True),
            )
        )
    merged = Histogram()
    for result, _raw in runs:
        merged.merge(Histogram.from_dict(result.histogram))
    total = sum(r.success_rps for r, _ in runs)
    cpu = [r.server_cpu_us_per_request for r, _ in runs if r.server_cpu_us_per_request]
    requests = sum(r.requests for r, _ in runs)
    errors: dict[str, int] = {}
    for r, _ in runs:
        for name, n in r.errors.items():
            errors[name] = errors.get(name, 0) + n
    return {
        "rps": round(total, 1),
        "per_replica_rps": [round(r.success_rps, 1) for r, _ in runs],
        "p50_ms": round(merged.percentile(PERCENTILES["p50"]) / 1000, 3),
        "p90_ms": round(merged.percentile(PERCENTILES["p90"]) / 1000, 3),
        "p99_ms": round(merged.percentile(PERCENTILES["p99"]) / 1000, 3),
        "errors": errors,
        "requests": requests,
        "server_cpu_us": round(statistics.fmean(cpu), 1) if cpu else None,
    }


@contextlib.contextmanager
def quiet_machine(lock: Path, max_load: float, wait_s: float, force: bool) -> Iterator[float]:
    """Hold the shared measurement lock, then wait for the load average to drop."""
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            deadline = time.monotonic() + wait_s
            while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
                time.sleep(5)
            load = os.getloadavg()[0]
            if load > max_load and not force:
                raise SystemExit(
                    f"load average {load:.2f} > {max_load}: machine busy, not measured"
                )
            yield load
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rotate(items: list[Any], n: int) -> list[Any]:
    k = n % len(items)
    return items[k:] + items[:k]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.postgres_server import running_server

    loadc_path()  # fails early when the client is not built
    work = Path(tempfile.mkdtemp(prefix="authz-state-bench-"))
    config = LoadConfig(
        concurrency=args.connections * STREAMS,
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
        progress=False,
    )
    report: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/state_bench.py", *sys.argv[1:]]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "load": {
            "connections": args.connections,
            "streams": STREAMS,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
        },
        "rounds": [],
        "replica_rounds": [],
    }
    servers: list[Server] = []
    try:
        with running_server() as pg:
            repo = authz_server.write_repo(work / "repo")
            keys = work / "keys"
            code = state_code(work, args.revision)
            sqlite_url = f"sqlite:///{work / 'state.db'}"
            variants = [
                file_variant(work, args.baseline, repo),
                state_variant(
                    "sqlite", work, sqlite_url, _copy(repo, work / "r-sqlite"), keys, code
                ),
                state_variant("postgresql", work, pg.create_database(), repo, keys, code),
            ]
            pg_variant = variants[2]
            report["revisions"] = {v.name: v.revision for v in variants}
            files = {(v.name, sc): request_file(work, v, sc) for v in variants for sc in SCENARIOS}
            spread = {
                sc: [request_file(work, pg_variant, sc, f"r{i}-") for i in range(3)]
                for sc in SCENARIOS
            }
            pg_pid = postmaster_pid(pg.data)
            with quiet_machine(args.lock, args.max_load, args.quiet_wait, args.force) as load:
                report["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
                report["load_at_start_1m"] = round(load, 2)
                # stores: one server of each, pinned to the same CPU, measured in turn
                servers = [Server(v, work, SERVER_CPU) for v in variants]
                for s in servers:
                    s.wait_ready()
                for n in range(args.rounds):
                    report["rounds"].append(
                        store_round(n, variants, servers, files, config, pg_variant, pg_pid)
                    )
                stop_all(servers)
                # replicas: three unpinned servers on the PostgreSQL state
                servers = [Server(pg_variant, work, None) for _ in range(3)]
                for s in servers:
                    s.wait_ready()
                for n in range(args.rounds):
                    one = {sc: files[(pg_variant.name, sc)] for sc in SCENARIOS}
                    report["replica_rounds"].append(replica_round(n, servers, one, spread, config))
                stop_all(servers)
                report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        stop_all(servers)
        shutil.rmtree(work, ignore_errors=True)
    report["summary"] = summary(report)
    return report


def store_round(
    n: int,
    variants: list[Variant],
    servers: list[Server],
    files: dict[tuple[str, str], Path],
    config: LoadConfig,
    pg_variant: Variant,
    pg_pid: int,
) -> dict[str, Any]:
    """Every scenario on every store's server in turn (order rotated per round)."""
    out: dict[str, Any] = {"round": n + 1, "order": [], "results": {}}
    by_name = dict(zip((v.name for v in variants), servers, strict=True))
    for sc in SCENARIOS:
        for v in rotate(variants, n):
            out["order"].append(f"{sc}/{v.name}")
            result = measure_one(
                by_name[v.name],
                files[(v.name, sc)],
                config,
                sc,
                pg_pid if v is pg_variant else None,
                CLIENT_CPU,
            )
            out["results"].setdefault(sc, {})[v.name] = result
            _progress(n, f"{sc}/{v.name}", result)
    return out


def replica_round(
    n: int,
    replicas: list[Server],
    one: dict[str, Path],
    spread: dict[str, list[Path]],
    config: LoadConfig,
) -> dict[str, Any]:
    """One replica with all the in-flight calls vs three with a third each; unpinned."""
    third = LoadConfig(
        concurrency=config.concurrency // 3,
        connections=config.connections // 3,
        duration_s=config.duration_s,
        warmup_s=config.warmup_s,
        progress=False,
    )
    out: dict[str, Any] = {"round": n + 1, "results": {}}
    for sc in SCENARIOS:
        for shape in ["one", "three"] if n % 2 == 0 else ["three", "one"]:
            if shape == "one":
                result = measure_one(replicas[0], one[sc], config, sc, None, None)
            else:
                result = measure_spread(replicas, spread[sc], third, sc)
            out["results"].setdefault(sc, {})[shape] = result
            _progress(n, f"replicas {sc}/{shape}", result)
    return out


def stop_all(servers: list[Server]) -> None:
    for s in servers:
        s.stop()


def _progress(n: int, what: str, result: dict[str, Any]) -> None:
    print(
        f"round {n + 1} {what}: {result['rps']} req/s p50 {result['p50_ms']} ms "
        f"p99 {result['p99_ms']} ms errors {result['errors']}",
        file=sys.stderr,
        flush=True,
    )


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """Per-round ratios (computed within the round) and their medians."""
    out: dict[str, Any] = {}
    for sc in SCENARIOS:
        for name in ("sqlite", "postgresql"):
            ratios = [
                r["results"][sc][name]["rps"] / r["results"][sc]["file"]["rps"]
                for r in report["rounds"]
            ]
            out[f"{sc}: {name} / file req/s"] = _ratios(ratios)
        ratios = [
            r["results"][sc]["three"]["rps"] / r["results"][sc]["one"]["rps"]
            for r in report["replica_rounds"]
        ]
        out[f"{sc}: three replicas / one req/s"] = _ratios(ratios)
    return out


def _ratios(values: list[float]) -> dict[str, Any]:
    return {
        "per_round": [round(v, 3) for v in values],
        "median": round(statistics.median(values), 3) if values else None,
    }


# -- report -----------------------------------------------------------------------------------


def markdown(report: dict[str, Any], stamp: str) -> str:
    rev = report["revisions"]
    lines = [
        f"# state store and replicas ({stamp})",
        "",
        f"Command: `{report['command']}`  ",
        f"Revisions: file store = `{rev['file'][:12]}` (exported with git archive), sqlite / "
        f"postgresql = `{rev['sqlite'][:12]}`. Machine: {report['cpus']} CPUs, "
        f"load average at start {report['loadavg_start']}, at end {report['loadavg_end']}.  ",
        f"Load: closed loop, {report['load']['connections']} connections × "
        f"{report['load']['streams']} streams, {report['load']['warmup_s']} s warm-up + "
        f"{report['load']['duration_s']} s per run, native client (benchmarks/loadc). Stores: "
        "server on CPU 1, client on CPU 0. Replicas: unpinned, one loadc per replica with a "
        "third of the in-flight calls each, vs one loadc with all of them on one replica.",
        "",
        "| ratio | per round | median |",
        "|---|---|---:|",
    ]
    for name, r in report["summary"].items():
        lines.append(f"| {name} | {', '.join(str(v) for v in r['per_round'])} | {r['median']} |")
    lines += [
        "",
        "## Every round: stores",
        "",
        "| round | scenario | store | req/s | p50 ms | p99 ms | server CPU µs/req | "
        "PostgreSQL CPU µs/req | errors |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["rounds"]:
        for sc, by in r["results"].items():
            for name, x in by.items():
                lines.append(
                    f"| {r['round']} | {sc} | {name} | {x['rps']} | {x['p50_ms']} | "
                    f"{x['p99_ms']} | {x['server_cpu_us']} | {x.get('postgres_cpu_us', '')} | "
                    f"{sum(x['errors'].values())}{' (file wrapped)' if x.get('wrapped') else ''} |"
                )
    lines += [
        "",
        "## Every round: replicas",
        "",
        "| round | scenario | replicas | req/s | per replica | p50 ms | p99 ms | "
        "server CPU µs/req | errors |",
        "|---:|---|---|---:|---|---:|---:|---:|---|",
    ]
    for r in report["replica_rounds"]:
        for sc, by in r["results"].items():
            for shape, x in by.items():
                lines.append(
                    f"| {r['round']} | {sc} | {shape} | {x['rps']} | "
                    f"{x.get('per_replica_rps', '')} | {x['p50_ms']} | {x['p99_ms']} | "
                    f"{x['server_cpu_us']} | {sum(x['errors'].values())} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=6, help="multiple of 3 (default 6)")
    parser.add_argument("--baseline", default="1db3baf", help="the file-store revision")
    parser.add_argument(
        "--revision", default="HEAD", help="the state-database revision (default: this checkout)"
    )
    parser.add_argument("--lock", type=Path, default=Path("/tmp/authz-quiet.lock"))
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--quiet-wait", type=float, default=300.0)
    parser.add_argument("--force", action="store_true", help="measure on a busy machine")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 20 or not 0 < args.duration <= 60 or args.connections % 3:
        parser.error("--rounds 1..20, --duration (0, 60], --connections a multiple of 3")
    # SIGTERM unwinds like an error: servers and PostgreSQL are stopped, temporaries removed
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    report = run(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"state-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / f"state-{stamp}.md").write_text(markdown(report, stamp))
    print(markdown(report, stamp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
