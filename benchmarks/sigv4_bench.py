"""Issue 16's figures: what SigV4 costs and what the AWS-compatible endpoint delivers.

    nice -n 19 python benchmarks/sigv4_bench.py [--rounds 3] [--seconds 2] [--out DIR]

Against one real ``authz serve`` (example repository, Bob's access key, ``--aws-listen``,
``allow_plaintext_secret`` for the unsigned baselines) and one ``moto_server`` (the AWS
emulator already used in benchmarks), both on 127.0.0.1. One closed-loop client in this
process, sequential calls; every variant runs in every round, interleaved, so each round's
ratios compare calls made seconds apart on the same machine:

* ``grpc-authorize-plain`` / ``-signed``: Authorize, a distinct question per call (no repeat
  memo), with the plaintext secret metadata vs a SigV4 signature made per call (the client's
  signing time is included in the signed latency: it is part of what signing costs);
* ``grpc-assume-plain`` / ``-signed``: AssumeRole, the same way;
* ``http-assume-lean`` / ``moto-assume-lean``: AssumeRole over HTTP, signed by botocore's
  ``SigV4Auth`` and sent on one kept-alive ``http.client`` connection (a cheap client, so the
  server's cost shows); ``http-assume-boto3`` / ``moto-assume-boto3``: the same through a
  boto3 client (what users run; boto3's own per-call work dominates).

Writes ``benchmarks/results/sigv4-<timestamp>.json`` with every round's rate and latency
percentiles, and the per-round ratios of median latencies (``*_overhead``: signed / plain − 1;
``http_vs_grpc_assume_latency``: HTTP / signed gRPC; ``http_vs_moto_*_throughput``: moto's
median latency / authz's, i.e. how many times faster authz answers one client).
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from authz.client.credentials import AccessKeyCredentials  # noqa: E402
from authz.client.signing import signed_metadata  # noqa: E402
from authz.sts.credentials import CredentialStore  # noqa: E402
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
    key_id, secret = CredentialStore(work / "credentials.json").create(BOB)
    grpc_port, aws_port = free_port(), free_port()
    argv = [sys.executable, "-m", "authz.cli", "serve", "--repo", str(repo), "--no-watch",
            "--listen", f"127.0.0.1:{grpc_port}", "--aws-listen", f"127.0.0.1:{aws_port}",
            "--keys-dir", str(work / "keys"), "--credentials-file", str(work / "credentials.json"),
            "--drain-seconds", "0", "--allow-plaintext-secret"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(grpc_port, proc)
    wait_port(aws_port, proc)
    return proc, grpc_port, aws_port, AccessKeyCredentials(key_id, secret)


def start_moto() -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if exe is None:
        raise RuntimeError("moto_server not found: pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_port(port, proc)
    return proc, port


def grpc_variant(
    channel: grpc.Channel, method: str, build: Callable[[int], bytes], key: AccessKeyCredentials,
    *, signed: bool,
) -> Callable[[int], None]:  # fmt: skip
    call = channel.unary_unary(method, None, None)
    plain = (("x-authz-access-key-id", key.key_id), ("x-authz-secret-access-key", key.secret))

    def run(i: int) -> None:
        body = build(i)
        metadata = signed_metadata(key, method, body) if signed else plain
        call(body, metadata=metadata, timeout=10)

    return run


def authorize_body(i: int) -> bytes:
    request = authorizer_pb2.AuthorizeRequest(
        action="s3:GetObject", resource=f"arn:aws:s3:::example-reports/bench/{i}.csv"
    )
    return request.SerializeToString()


def assume_body(i: int) -> bytes:
    request = sts_pb2.AssumeRoleRequest(role_arn=FOO, role_session_name=f"bench-{i}")
    return request.SerializeToString()


def lean_http(port: int, role: str, key: AccessKeyCredentials) -> Callable[[int], None]:
    creds = botocore.credentials.Credentials(key.key_id, key.secret)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    url = f"http://127.0.0.1:{port}/"

    def run(i: int) -> None:
        body = (f"Action=AssumeRole&Version=2011-06-15&RoleArn={role}"
                f"&RoleSessionName=bench-{i}&DurationSeconds=900")  # fmt: skip
        request = botocore.awsrequest.AWSRequest("POST", url, data=body.encode(),
                                                 headers={"Content-Type": FORM})  # fmt: skip
        botocore.auth.SigV4Auth(creds, "sts", "us-east-1").add_auth(request)
        prepared = request.prepare()
        headers = dict(prepared.headers.items())
        try:
            conn.request("POST", "/", body=prepared.body, headers=headers)
            response = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):  # idle connection closed
            conn.close()  # by the server between rounds: reconnect (the request never arrived)
            conn.request("POST", "/", body=prepared.body, headers=headers)
            response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")

    return run


def boto3_http(port: int, role: str, key: AccessKeyCredentials) -> Callable[[int], None]:
    client = boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=key.key_id,
        aws_secret_access_key=key.secret,
    )

    def run(i: int) -> None:
        client.assume_role(RoleArn=role, RoleSessionName=f"bench-{i}", DurationSeconds=900)

    return run


def measure(run: Callable[[int], None], seconds: float, start: int) -> dict[str, Any]:
    latencies: list[float] = []
    end = time.monotonic() + seconds
    i = start
    while time.monotonic() < end:
        t0 = time.perf_counter()
        run(i)
        latencies.append(time.perf_counter() - t0)
        i += 1
    latencies.sort()
    total = sum(latencies)
    return {
        "calls": len(latencies),
        "per_second": round(len(latencies) / total, 1),
        "mean_us": round(total / len(latencies) * 1e6, 1),
        "p50_us": round(latencies[len(latencies) // 2] * 1e6, 1),
        "p99_us": round(latencies[int(len(latencies) * 0.99)] * 1e6, 1),
    }


def micro(rounds: int, calls: int = 2000) -> list[dict[str, float]]:
    """Server-side CPU per call, in this process (no transport, no other process's noise in
    the ratio): a signed call's verification vs the plaintext secret check, against one
    distinct Authorize decided by the real backend, alternating in every round."""
    from authz.server.ports import AuthMethod, AuthorizeParams
    from authz.server.signed import SignedCallVerifier
    from authz.sigv4 import SigV4Verifier
    from authz.wiring import build_backend

    work = Path(tempfile.mkdtemp(prefix="sigv4-micro-"))
    shutil.copytree(ROOT / "policies", work / "policies")
    from authz.config import load_settings

    settings = load_settings(None, repo=work / "policies", keys_dir=work / "keys",
                             credentials_file=work / "credentials.json", generate_keys=True,
                             watch=False, mfa_file=work / "mfa.json")  # fmt: skip
    backend = build_backend(settings)
    key_id, secret = backend.credentials.create(BOB)
    key = AccessKeyCredentials(key_id, secret)
    signed = SignedCallVerifier(backend, SigV4Verifier({"us-east-1"}))
    identity = backend.authenticate_access_key(key_id, secret)
    assert identity.method is AuthMethod.ACCESS_KEY
    out = []
    counter = 0
    for _ in range(rounds):
        bodies = [authorize_body(counter + i) for i in range(calls)]
        t0 = time.perf_counter()
        metadata = [dict(signed_metadata(key, AUTHORIZE, b)) for b in bodies]
        t1 = time.perf_counter()
        for md, body in zip(metadata, bodies, strict=True):
            signed.authenticate(md, AUTHORIZE, body)
        t2 = time.perf_counter()
        for _ in bodies:
            backend.authenticate_access_key(key_id, secret)
        t3 = time.perf_counter()
        for i in range(calls):
            resource = f"arn:aws:s3:::example-reports/micro/{counter + i}.csv"
            backend.authorize(identity, AuthorizeParams("s3:GetObject", resource))
        t4 = time.perf_counter()
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
    backend.reloader.close()
    shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    micro_rounds = micro(args.rounds)
    work = Path(tempfile.mkdtemp(prefix="sigv4-bench-"))
    authz_proc, grpc_port, aws_port, key = start_authz(work)
    moto_proc, moto_port = start_moto()
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    moto_key = AccessKeyCredentials("AKIABENCHDUMMY000000", "bench-dummy-secret-not-real")
    variants = {
        "grpc-authorize-plain": grpc_variant(channel, AUTHORIZE, authorize_body, key, signed=False),
        "grpc-authorize-signed": grpc_variant(channel, AUTHORIZE, authorize_body, key, signed=True),
        "grpc-assume-plain": grpc_variant(channel, ASSUME, assume_body, key, signed=False),
        "grpc-assume-signed": grpc_variant(channel, ASSUME, assume_body, key, signed=True),
        "http-assume-lean": lean_http(aws_port, FOO, key),
        "moto-assume-lean": lean_http(moto_port, MOTO_ROLE, moto_key),
        "http-assume-boto3": boto3_http(aws_port, FOO, key),
        "moto-assume-boto3": boto3_http(moto_port, MOTO_ROLE, moto_key),
    }
    rounds: list[dict[str, Any]] = []
    counter = 0
    try:
        for run in variants.values():  # warm-up: connections, caches, imports
            for _ in range(20):
                run(counter)
                counter += 1
        for number in range(args.rounds):
            results = {}
            for name, run in variants.items():
                results[name] = measure(run, args.seconds, counter)
                counter += results[name]["calls"]
            r = {k: v["p50_us"] for k, v in results.items()}  # medians: robust to a busy host
            ratios = {
                "authorize_signing_overhead": round(
                    r["grpc-authorize-signed"] / r["grpc-authorize-plain"] - 1, 3),
                "assume_signing_overhead": round(
                    r["grpc-assume-signed"] / r["grpc-assume-plain"] - 1, 3),
                "http_vs_grpc_assume_latency": round(
                    r["http-assume-lean"] / r["grpc-assume-signed"], 2),
                "http_vs_moto_lean_throughput": round(
                    r["moto-assume-lean"] / r["http-assume-lean"], 2),
                "http_vs_moto_boto3_throughput": round(
                    r["moto-assume-boto3"] / r["http-assume-boto3"], 2),
            }  # fmt: skip
            rounds.append({"round": number + 1, "results": results, "ratios": ratios})
            print(json.dumps(rounds[-1]), flush=True)
    finally:
        channel.close()
        for proc in (authz_proc, moto_proc):
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
        "machine": {"cpus": __import__("os").cpu_count()},
        "micro": micro_rounds,
        "rounds": rounds,
        "summary": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"sigv4-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
