"""Issue 16's figures: what SigV4 costs and what the AWS-compatible endpoint delivers.

    nice -n 19 python benchmarks/sigv4_bench.py [--rounds 3] [--seconds 2] [--out DIR]

Against one real ``authz serve`` (example repository, Bob's access key, ``--aws-listen``,
``allow_plaintext_secret`` for the unsigned baselines) and one ``moto_server`` (the AWS
emulator already used in benchmarks), both on 127.0.0.1. One closed-loop client in this
process, sequential calls; every variant runs in every round, interleaved, so each round's
ratios compare calls made seconds apart on the same machine:

* ``grpc-authorize-plain`` / ``-signed``: Authorize, a distinct question per call (no repeat
  memo), with the plaintext secret metadata vs a SigV4 signature made per call (the client's
  signing time is included in the signed latency: it is part of what signing costs). The two
  alternate call by call in one window (plain, signed, plain, …), so both see the same
  machine: measured one after the other, two seconds apart, their medians drifted by more
  than the signing cost on a shared host;
* ``grpc-assume-plain`` / ``-signed``: AssumeRole, the same way;
* ``http-assume-lean`` / ``moto-assume-lean``: AssumeRole over HTTP, signed by botocore's
  ``SigV4Auth`` before the timer starts (a fresh signature per call, as a load generator sends
  pre-built requests) and sent on one kept-alive ``http.client`` connection (a cheap client,
  so the server's cost shows); ``http-assume-boto3`` / ``moto-assume-boto3``: the same through
  a boto3 client, everything timed (what users run; boto3's own per-call work dominates);
* ``trivial-lean``: the lean client against ``trivial_http.py`` (a fixed answer, no work):
  the client's own ceiling. ``*_server_time`` ratios subtract its median from both sides,
  and ``server_cpu_us`` (HTTP variants) is the server process's CPU time per call, read from
  ``/proc`` around the window — the two ways of seeing the servers without the client.
  The three lean variants take turns of half a second in one window (authz, moto, trivial,
  authz, …) until each has had ``--seconds``, and so do the two boto3 ones; each server's CPU
  time per call is its process's CPU during its turns divided by its calls.

* ``native-authorize-plain`` / ``-signed`` and ``native-assume-plain`` / ``-signed``: the
  same questions sent by the C load client (``benchmarks/loadc``, ``make -C benchmarks/loadc``;
  skipped with a message when it is not built), closed loop (``NATIVE_CONCURRENCY`` calls in
  flight), the authz server pinned to one core and the client to the other, in
  ``NATIVE_TURNS`` short turns per round that alternate plain and signed. Every signed
  message is signed with ``authz.client.signing`` before the run (its own ``authorization`` and
  ``x-amz-date``; AssumeRole also its nonce, each used once), so the client costs a few µs a
  call and the server's CPU per call (its process tree, from ``/proc``) is its own: the Python
  client above spends ~2 ms a call and moves with the host's load by more than signing costs.
  ``native_authorize_signing_overhead`` is the signed run's server CPU per call / the plain
  run's − 1 (the server's side of signing: verification, the larger metadata);
  ``native_authorize_signing_both_sides`` adds the SDK's signing CPU per call measured in this
  round (``client_sign_us``, this thread's CPU per signature) to the signed side: all the work
  signing adds to a distinct Authorize, client and server, over the server's work for the
  plain call. The four variants go in one order in even turns and in the reverse in odd ones.

Writes ``benchmarks/results/sigv4-<timestamp>.json`` with every round's rate and latency
percentiles, and the per-round ratios of median latencies (``*_overhead``: signed / plain − 1;
``http_vs_grpc_assume_latency``: HTTP / signed gRPC; ``http_vs_moto_*_throughput``: moto's
median latency / authz's, i.e. how many times faster authz answers one client — the headline,
the lean client's send and read included on both sides; ``http_vs_moto_lean_server_time``:
the same with the client floor subtracted; ``http_vs_moto_lean_server_cpu``: moto's server CPU
per call / authz's).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402
import grpc  # noqa: E402

from authz._gen.authz.v1 import authorizer_pb2, sts_pb2  # noqa: E402
from authz.bench import native  # noqa: E402
from authz.bench.loadgen import LoadConfig  # noqa: E402
from authz.bench.report import write_result  # noqa: E402
from authz.client.credentials import AccessKeyCredentials  # noqa: E402
from authz.client.signing import signed_metadata  # noqa: E402
from authz.sts.credentials import open_credentials  # noqa: E402
from authz.sts.keys import KeyRing  # noqa: E402

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
MOTO_ROLE = "arn:aws:iam::123456789012:role/bench-role"
AUTHORIZE = "/authz.v1.Authorizer/Authorize"
ASSUME = "/authz.v1.SecurityTokenService/AssumeRole"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


def start_authz(work: Path) -> tuple[subprocess.Popen[bytes], int, int, AccessKeyCredentials]:
    repo = work / "policies"
    shutil.copytree(ROOT / "policies", repo)
    KeyRing.generate(work / "keys")
    state_url, state_key = f"sqlite:///{work / 'state.db'}", work / "state.key"
    with open_credentials(state_url, state_key) as store:
        key_id, secret = store.create(BOB)
    grpc_port, aws_port = free_port(), free_port()
    argv = [sys.executable, "-m", "authz.cli", "serve", "--repo", str(repo), "--no-watch",
            "--listen", f"127.0.0.1:{grpc_port}", "--aws-listen", f"127.0.0.1:{aws_port}",
            "--keys-dir", str(work / "keys"), "--state-url", state_url,
            "--state-key-file", str(state_key),
            "--drain-seconds", "0", "--allow-plaintext-secret"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(grpc_port, proc)
    wait_port(aws_port, proc)
    return proc, grpc_port, aws_port, AccessKeyCredentials(key_id, secret)


def start_trivial() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "trivial_http.py"),
                             str(port)])  # fmt: skip
    wait_port(port, proc)
    return proc, port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, ended threads included (moto's server starts a
    thread per connection), from ``/proc/<pid>/stat`` in clock ticks (10 ms): over a
    variant's turns the rounding is a few ticks against seconds of CPU."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_moto() -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if exe is None:
        raise RuntimeError("moto_server not found: pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_port(port, proc)
    return proc, port


# A variant is ``prepare(i) -> call``: ``prepare`` runs before the timer starts, ``call`` is
# what is timed.
Call = Callable[[], None]
Variant = Callable[[int], Call]


def grpc_variant(
    channel: grpc.Channel, method: str, build: Callable[[int], bytes], key: AccessKeyCredentials,
    *, signed: bool,
) -> Variant:  # fmt: skip
    call = channel.unary_unary(method, None, None)
    plain = (("x-authz-access-key-id", key.key_id), ("x-authz-secret-access-key", key.secret))

    def prepare(i: int) -> Call:
        def run() -> None:  # the client's signing is timed: it is part of what signing costs
            body = build(i)
            metadata = signed_metadata(key, method, body) if signed else plain
            call(body, metadata=metadata, timeout=10)

        return run

    return prepare


def authorize_body(i: int) -> bytes:
    request = authorizer_pb2.AuthorizeRequest(
        action="s3:GetObject", resource=f"arn:aws:s3:::example-reports/bench/{i}.csv"
    )
    return request.SerializeToString()


def assume_body(i: int) -> bytes:
    request = sts_pb2.AssumeRoleRequest(role_arn=FOO, role_session_name=f"bench-{i}")
    return request.SerializeToString()


def lean_http(port: int, role: str, key: AccessKeyCredentials) -> Variant:
    """A distinct AssumeRole signed by botocore before the timer starts (as a load generator
    sends pre-built requests; each call still carries a fresh signature, so replay refusal
    does not apply), then sent on one kept-alive ``http.client`` connection: the timed part is
    the request on the wire, the server's work and reading the answer."""
    creds = botocore.credentials.Credentials(key.key_id, key.secret)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    url = f"http://127.0.0.1:{port}/"

    def prepare(i: int) -> Call:
        body = (f"Action=AssumeRole&Version=2011-06-15&RoleArn={role}"
                f"&RoleSessionName=bench-{i}&DurationSeconds=900")  # fmt: skip
        request = botocore.awsrequest.AWSRequest("POST", url, data=body.encode(),
                                                 headers={"Content-Type": FORM})  # fmt: skip
        botocore.auth.SigV4Auth(creds, "sts", "us-east-1").add_auth(request)
        prepared = request.prepare()
        headers = dict(prepared.headers.items())
        return lambda: send(prepared.body, headers)

    def send(body: Any, headers: dict[str, str]) -> None:
        try:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):  # idle connection closed
            conn.close()  # by the server between rounds: reconnect (the request never arrived)
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")

    return prepare


def boto3_http(port: int, role: str, key: AccessKeyCredentials) -> Variant:
    client = boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=key.key_id,
        aws_secret_access_key=key.secret,
    )

    def prepare(i: int) -> Call:  # everything boto3 does per call is timed
        return lambda: client.assume_role(
            RoleArn=role, RoleSessionName=f"bench-{i}", DurationSeconds=900
        )

    return prepare


NATIVE_CONCURRENCY = 8  # calls in flight (2 connections): enough to keep one core busy
NATIVE_TURNS = 4  # per round: plain and signed alternate this many times (drift averages out)
NATIVE_SECONDS = 0.6  # each turn's window, after NATIVE_WARM_UP
NATIVE_WARM_UP = 0.25
NATIVE_MESSAGES = 4_000  # per file: more than a turn sends, so no question repeats
NATIVE_BASE = 100_000_000  # native questions never meet the Python client's ones (memos)


def native_files(work: Path, key: AccessKeyCredentials, turn: int) -> dict[str, Path]:
    """The four request files of one turn: questions no other turn asks (so no decision memo
    answers them and no signed AssumeRole repeats), signed ones signed now (seconds old when
    sent)."""
    plain = (("x-authz-access-key-id", key.key_id), ("x-authz-secret-access-key", key.secret))
    base = NATIVE_BASE + turn * NATIVE_MESSAGES * 2
    files = {}
    for name, method, build in (("authorize", AUTHORIZE, authorize_body),
                                ("assume", ASSUME, assume_body)):  # fmt: skip
        plain_bodies = [build(base + i) for i in range(NATIVE_MESSAGES)]
        files[f"native-{name}-plain"] = native.write_request_file(
            work / f"{name}-plain.bin", native.RequestFile(method, plain, plain_bodies)
        )
        bodies = [build(base + NATIVE_MESSAGES + i) for i in range(NATIVE_MESSAGES)]
        signed = [signed_metadata(key, method, body) for body in bodies]
        files[f"native-{name}-signed"] = native.write_request_file(
            work / f"{name}-signed.bin", native.RequestFile(method, (), bodies, signed)
        )
    return files


NAMES = ("native-authorize-plain", "native-authorize-signed", "native-assume-plain",
         "native-assume-signed")  # fmt: skip


def native_round(
    work: Path, key: AccessKeyCredentials, target: str, server_pid: int, round_number: int
) -> dict[str, dict[str, Any]]:
    """``NATIVE_TURNS`` closed-loop runs of each variant, alternating (the order reversed
    every other turn); the client on core 1 (the server is pinned to core 0). Per variant:
    calls, errors and server CPU summed over its turns; rate and percentiles per turn."""
    config = LoadConfig(concurrency=NATIVE_CONCURRENCY, connections=2,
                        duration_s=NATIVE_SECONDS, warmup_s=NATIVE_WARM_UP)  # fmt: skip
    totals: dict[str, dict[str, Any]] = {
        name: {"calls": 0, "errors": {}, "wrapped": False, "window_s": 0.0, "cpu_s": 0.0,
               "per_second_turns": [], "p50_us_turns": [], "p99_us_turns": []}
        for name in NAMES
    }  # fmt: skip
    for turn in range(NATIVE_TURNS):
        files = native_files(work, key, round_number * NATIVE_TURNS + turn)
        order = NAMES if (round_number + turn) % 2 == 0 else NAMES[::-1]
        for name in order:
            result, raw = native.run_loadc(files[name], target, config, scenario=name,
                                           server_pid=server_pid, cpu=1)  # fmt: skip
            t = totals[name]
            t["calls"] += result.requests
            for code, n in result.errors.items():
                t["errors"][code] = t["errors"].get(code, 0) + n
            t["wrapped"] = t["wrapped"] or bool(raw.get("wrapped"))
            t["window_s"] += result.duration_s
            t["cpu_s"] += (result.server_cpu_us_per_request or 0.0) * result.requests / 1e6
            t["per_second_turns"].append(round(result.success_rps, 1))
            t["p50_us_turns"].append(round(result.latency_us["p50"], 1))
            t["p99_us_turns"].append(round(result.latency_us["p99"], 1))
    for t in totals.values():
        t["per_second"] = round(t["calls"] / t["window_s"], 1) if t["window_s"] else 0.0
        t["server_cpu_us"] = round(t["cpu_s"] / t["calls"] * 1e6, 1) if t["calls"] else 0.0
    return totals


def pin(pid: int, cpus: str) -> None:
    """Every thread of ``pid`` onto ``cpus`` (``taskset -a``)."""
    subprocess.run(["taskset", "-a", "-cp", cpus, str(pid)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def client_sign_us(key: AccessKeyCredentials, calls: int = 2000) -> float:
    """CPU µs the SDK spends signing one distinct Authorize (this thread's CPU time)."""
    bodies = [authorize_body(i) for i in range(calls)]
    start = time.thread_time()
    for body in bodies:
        signed_metadata(key, AUTHORIZE, body)
    return (time.thread_time() - start) / calls * 1e6


def measure(
    runs: list[Variant],
    seconds: float,
    start: int,
    pids: list[int | None],
    block: float | None = None,
) -> list[dict[str, Any]]:
    """Each of ``runs`` for ``seconds``: with no ``block``, called in turn (one call each,
    round robin; for variants of one server); else in turns of ``block`` seconds each until
    every variant has had ``seconds`` (for different servers: each answers a steady stream in
    its turn, as it would alone, and a change of load on the host spreads over all of them).
    Returns their latency statistics (of the timed part) and, where ``pids`` names a
    variant's server, that server's CPU time per call of that variant (its process's CPU
    during the variant's turns)."""
    latencies: list[list[float]] = [[] for _ in runs]
    cpu: list[float | None] = [0.0 if pid is not None else None for pid in pids]
    i = start
    turns = [(list(range(len(runs))), seconds)]
    if block is not None:
        turns = [([k], block) for _ in range(max(1, round(seconds / block)))
                 for k in range(len(runs))]  # fmt: skip
    for members, length in turns:
        before = [_cpu_or_zero(pids[k]) for k in members]
        end = time.monotonic() + length
        while time.monotonic() < end:
            for k in members:
                call = runs[k](i)
                t0 = time.perf_counter()
                call()
                latencies[k].append(time.perf_counter() - t0)
                i += 1
        for k, was in zip(members, before, strict=True):
            pid, used = pids[k], cpu[k]
            if pid is not None and used is not None:
                cpu[k] = used + cpu_seconds(pid) - was
    return [_stats(sorted(v), c) for v, c in zip(latencies, cpu, strict=True)]


def _cpu_or_zero(pid: int | None) -> float:
    return cpu_seconds(pid) if pid is not None else 0.0


def _stats(latencies: list[float], cpu: float | None) -> dict[str, Any]:
    total = sum(latencies)
    stats = {
        "calls": len(latencies),
        "per_second": round(len(latencies) / total, 1),
        "mean_us": round(total / len(latencies) * 1e6, 1),
        "p50_us": round(latencies[len(latencies) // 2] * 1e6, 1),
        "p99_us": round(latencies[int(len(latencies) * 0.99)] * 1e6, 1),
    }
    if cpu is not None:
        stats["server_cpu_us"] = round(cpu / len(latencies) * 1e6, 1)
    return stats


TURN = 0.5  # seconds: one server's turn in a window shared by several servers
WARM_UP_CALLS = 200  # per variant, before the first round
MICRO_WARM_UP = 500  # calls of each micro step, before the first round


def micro(rounds: int, calls: int = 2000) -> list[dict[str, float]]:
    """Server-side CPU per call, in this process (no transport; CPU time of this thread, so a
    busy host's other processes do not enter the ratio): a signed call's verification vs the
    plaintext secret check, against one distinct Authorize decided by the real backend,
    alternating in every round."""
    from authz.server.ports import AuthMethod, AuthorizeParams
    from authz.server.signed import SignedCallVerifier
    from authz.sigv4 import SigV4Verifier
    from authz.wiring import build_backend

    work = Path(tempfile.mkdtemp(prefix="sigv4-micro-"))
    shutil.copytree(ROOT / "policies", work / "policies")
    from authz.config import load_settings

    settings = load_settings(None, repo=work / "policies", keys_dir=work / "keys",
                             state_url=f"sqlite:///{work / 'state.db'}",
                             state_key_file=work / "state.key", generate_keys=True,
                             watch=False, mfa_file=work / "mfa.json")  # fmt: skip
    backend = build_backend(settings)
    key_id, secret = backend.credentials.create(BOB)
    key = AccessKeyCredentials(key_id, secret)
    signed = SignedCallVerifier(backend, SigV4Verifier({"us-east-1"}))
    identity = backend.authenticate_access_key(key_id, secret)
    assert identity.method is AuthMethod.ACCESS_KEY
    out = []
    counter = 0
    for _ in range(MICRO_WARM_UP):  # untimed: the first round was ~2x slower on every step
        body = authorize_body(counter)
        signed.authenticate(dict(signed_metadata(key, AUTHORIZE, body)), AUTHORIZE, body)
        backend.authenticate_access_key(key_id, secret)
        resource = f"arn:aws:s3:::example-reports/warm/{counter}.csv"
        backend.authorize(identity, AuthorizeParams("s3:GetObject", resource))
        counter += 1
    for _ in range(rounds):
        bodies = [authorize_body(counter + i) for i in range(calls)]
        t0 = time.thread_time()
        metadata = [dict(signed_metadata(key, AUTHORIZE, b)) for b in bodies]
        t1 = time.thread_time()
        for md, body in zip(metadata, bodies, strict=True):
            signed.authenticate(md, AUTHORIZE, body)
        t2 = time.thread_time()
        for _ in bodies:
            backend.authenticate_access_key(key_id, secret)
        t3 = time.thread_time()
        for i in range(calls):
            resource = f"arn:aws:s3:::example-reports/micro/{counter + i}.csv"
            backend.authorize(identity, AuthorizeParams("s3:GetObject", resource))
        t4 = time.thread_time()
        counter += calls
        sign, verify, plain, decide = ((b - a) / calls * 1e6 for a, b in
                                       ((t0, t1), (t1, t2), (t2, t3), (t3, t4)))  # fmt: skip
        out.append({
            "client_sign_us": round(sign, 1), "server_verify_us": round(verify, 1),
            "server_plaintext_check_us": round(plain, 1), "authorize_distinct_us": round(decide, 1),
            "server_signing_cost_of_authorize": round((verify - plain) / decide, 3),
            "both_sides_signing_cost_of_authorize": round((sign + verify - plain) / decide, 3),
        })  # fmt: skip
        print(json.dumps({"micro": out[-1]}), flush=True)
    backend.close()
    shutil.rmtree(work, ignore_errors=True)
    return out


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    # medians: robust to a busy host
    r = {k: v["p50_us"] for k, v in results.items() if "p50_us" in v}
    floor = r["trivial-lean"]
    out = {
        "authorize_signing_overhead": round(
            r["grpc-authorize-signed"] / r["grpc-authorize-plain"] - 1, 3),
        "assume_signing_overhead": round(r["grpc-assume-signed"] / r["grpc-assume-plain"] - 1, 3),
        "http_vs_grpc_assume_latency": round(r["http-assume-lean"] / r["grpc-assume-signed"], 2),
        "http_vs_moto_lean_throughput": round(r["moto-assume-lean"] / r["http-assume-lean"], 2),
        "http_vs_moto_lean_server_time": round(
            (r["moto-assume-lean"] - floor) / (r["http-assume-lean"] - floor), 2),
        "http_vs_moto_lean_server_cpu": round(
            results["moto-assume-lean"]["server_cpu_us"]
            / results["http-assume-lean"]["server_cpu_us"], 2),
        "http_vs_moto_boto3_throughput": round(
            r["moto-assume-boto3"] / r["http-assume-boto3"], 2),
        "client_floor_share_of_http_lean": round(floor / r["http-assume-lean"], 2),
    }  # fmt: skip
    if "native-authorize-plain" in results:
        cpu = {
            k: v.get("server_cpu_us", 0.0) for k, v in results.items() if k.startswith("native-")
        }
        plain = cpu["native-authorize-plain"]
        sign = results["native-client-sign"]["client_sign_us"]
        out.update({
            "native_authorize_signing_overhead": round(
                cpu["native-authorize-signed"] / plain - 1, 3),
            "native_authorize_signing_both_sides": round(
                (cpu["native-authorize-signed"] + sign) / plain - 1, 3),
            "native_authorize_throughput_signed_vs_plain": round(
                results["native-authorize-signed"]["per_second"]
                / results["native-authorize-plain"]["per_second"], 3),
            "native_assume_signing_overhead": round(
                cpu["native-assume-signed"] / cpu["native-assume-plain"] - 1, 3),
        })  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({"load_average_at_start": load_at_start}), flush=True)
    micro_rounds = micro(args.rounds)
    work = Path(tempfile.mkdtemp(prefix="sigv4-bench-"))
    authz_proc, grpc_port, aws_port, key = start_authz(work)
    moto_proc, moto_port = start_moto()
    trivial_proc, trivial_port = start_trivial()
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    moto_key = AccessKeyCredentials("AKIABENCHDUMMY000000", "bench-dummy-secret-not-real")
    # (names, runs, server pid of each for CPU time, turn length): the variants of one server
    # alternate call by call; different servers take turns of TURN seconds (measured one after
    # the other in windows seconds apart, the ratios drifted with the host's load; call by
    # call, each server answered from caches the other had just evicted)
    slots: list[tuple[tuple[str, ...], list[Variant], list[int | None], float | None]] = [
        (("grpc-authorize-plain", "grpc-authorize-signed"),
         [grpc_variant(channel, AUTHORIZE, authorize_body, key, signed=False),
          grpc_variant(channel, AUTHORIZE, authorize_body, key, signed=True)], [None, None],
         None),
        (("grpc-assume-plain", "grpc-assume-signed"),
         [grpc_variant(channel, ASSUME, assume_body, key, signed=False),
          grpc_variant(channel, ASSUME, assume_body, key, signed=True)], [None, None], None),
        (("http-assume-lean", "moto-assume-lean", "trivial-lean"),
         [lean_http(aws_port, FOO, key), lean_http(moto_port, MOTO_ROLE, moto_key),
          lean_http(trivial_port, FOO, key)],
         [authz_proc.pid, moto_proc.pid, trivial_proc.pid], TURN),
        (("http-assume-boto3", "moto-assume-boto3"),
         [boto3_http(aws_port, FOO, key), boto3_http(moto_port, MOTO_ROLE, moto_key)],
         [authz_proc.pid, moto_proc.pid], TURN),
    ]  # fmt: skip
    try:
        native.loadc_path()
        with_native = True
    except native.NativeUnavailable as err:
        print(f"native runs skipped: {err}", flush=True)
        with_native = False
    rounds: list[dict[str, Any]] = []
    counter = 0
    try:
        for _, runs, _, _ in slots:  # warm-up: connections, caches, imports, allocator
            for prepare in runs:
                for _ in range(WARM_UP_CALLS):
                    prepare(counter)()
                    counter += 1
        for number in range(args.rounds):
            results = {}
            for names, runs, pids, turn in slots:
                for name, stats in zip(names, measure(runs, args.seconds, counter, pids, turn),
                                       strict=True):  # fmt: skip
                    results[name] = stats
                    counter += stats["calls"]
            if with_native:
                results["native-client-sign"] = {"client_sign_us": round(client_sign_us(key), 1)}
                pin(authz_proc.pid, "0")
                try:
                    results.update(native_round(work, key, f"127.0.0.1:{grpc_port}",
                                                authz_proc.pid, number))  # fmt: skip
                finally:
                    pin(authz_proc.pid, f"0-{(os.cpu_count() or 1) - 1}")
            rounds.append({"round": number + 1, "results": results, "ratios": ratios(results)})
            print(json.dumps(rounds[-1]), flush=True)
    finally:
        channel.close()
        for proc in (authz_proc, moto_proc, trivial_proc):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        name: {
            "median": statistics.median(r["ratios"][name] for r in rounds),
            "every_round": [r["ratios"][name] for r in rounds],
        }
        for name in rounds[0]["ratios"]
    }
    for name in ("server_signing_cost_of_authorize", "both_sides_signing_cost_of_authorize"):
        values = [m[name] for m in micro_rounds]
        summary[name] = {"median": statistics.median(values), "every_round": values}
    doc = {
        "benchmark": "sigv4",
        "command": "nice -n 19 python benchmarks/sigv4_bench.py "
        f"--rounds {args.rounds} --seconds {args.seconds}",
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": load_at_start},
        "micro": micro_rounds,
        "rounds": rounds,
        "summary": summary,
    }
    out = write_result(args.out, "sigv4", doc)
    print(json.dumps(summary, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
