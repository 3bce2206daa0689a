"""Issue 17's figure: what AssumeRoleWithWebIdentity costs next to AssumeRole.

    nice -n 19 python benchmarks/web_identity_bench.py [--rounds 5] [--calls 300] [--out DIR]

The example repository plus two OIDC providers whose keys are in the repository (one RS256,
one ES256 issuer, minted locally by ``authz.oidc.devissuer``) and one role trusting each with
the EKS (IRSA) trust policy. Two layers, every variant in every round, interleaved, so each
round's ratios compare calls made moments apart:

* **service** (in process, no network): ``AuthzBackend.assume_role`` (Bob → foo, an access-key
  caller, trust + identity evaluation) vs ``assume_role_with_web_identity`` (token parsing,
  one signature verification, trust evaluation) — the server's own work per call;
* **gRPC** (a spawned ``authz serve`` on 127.0.0.1, one sequential client): ``AssumeRole``
  signed with Bob's key (SigV4, the default) vs ``AssumeRoleWithWebIdentity`` (unsigned, as
  in AWS). The gRPC numbers include the client's signing and the network stack.

Writes ``benchmarks/results/web-identity-<timestamp>.json`` (every round's per-call medians and
ratios) and prints one line per round.
"""

from __future__ import annotations

import argparse
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

from authz.client import AccessKeyCredentials, AuthzClient  # noqa: E402
from authz.config import load_settings  # noqa: E402
from authz.oidc.devissuer import DevIssuer  # noqa: E402
from authz.server.ports import AssumeRoleParams, CallOrigin, WebIdentityParams  # noqa: E402
from authz.sts.credentials import open_credentials  # noqa: E402
from authz.wiring import build_backend  # noqa: E402

ACCOUNT = "444455556666"
BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = f"arn:aws:iam::{ACCOUNT}:role/foo"
ISSUERS = {"RS256": "bench-rsa.example/cluster", "ES256": "bench-ec.example/cluster"}
SUB = "system:serviceaccount:bench:worker"


def _trust(prefix: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{prefix}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{prefix}:sub": SUB, f"{prefix}:aud": "sts.amazonaws.com"}
                },
            }
        ],
    }


def build_repo(root: Path) -> dict[str, DevIssuer]:
    shutil.copytree(ROOT / "policies", root)
    account = root / "accounts" / ACCOUNT
    issuers: dict[str, DevIssuer] = {}
    for alg, prefix in ISSUERS.items():
        issuer = issuers[alg] = DevIssuer(f"https://{prefix}", alg=alg)
        name = alg.lower()
        (account / "oidc-providers" / f"{name}.json").write_text(
            json.dumps(
                {"Url": issuer.issuer, "ClientIDList": ["sts.amazonaws.com"], "Jwks": issuer.jwks()}
            )
        )
        (account / "roles" / f"bench-{name}.json").write_text(
            json.dumps(
                {
                    "RoleName": f"bench-{name}",
                    "AssumeRolePolicyDocument": _trust(prefix),
                    "AttachedManagedPolicies": [
                        {
                            "PolicyName": "ReportsReadOnly",
                            "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/ReportsReadOnly",
                        }
                    ],
                }
            )
        )
    return issuers


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    """Median of ``calls`` timed calls, in microseconds."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_server(repo: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authz.cli",
            "serve",
            "--repo",
            str(repo),
            "--listen",
            f"127.0.0.1:{port}",
            "--keys-dir",
            str(work / "keys"),
            "--state-url",
            f"sqlite:///{work / 'state.db'}",
            "--state-key-file",
            str(work / "state.key"),
            "--dev-generate-keys",
            "--no-watch",
            "--drain-seconds",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="authz-wi-bench-"))
    proc = None
    try:
        repo = work / "repo"
        issuers = build_repo(repo)
        tokens = {alg: i.mint("bench", "worker", lifetime=86400) for alg, i in issuers.items()}
        state_url, state_key = f"sqlite:///{work / 'state.db'}", work / "state.key"
        with open_credentials(state_url, state_key) as store:
            key_id, secret = store.create(BOB)
        settings = load_settings(
            None,
            repo=repo,
            keys_dir=work / "keys",
            generate_keys=True,
            state_url=state_url,
            state_key_file=state_key,
            watch=False,
            audit_log=None,
            metrics_listen=None,
        )
        backend = build_backend(settings)
        bob = backend.authenticate_access_key(key_id, secret)
        origin = CallOrigin("127.0.0.1", False)
        assume = AssumeRoleParams(role_arn=FOO, role_session_name="bench")

        def web(alg: str) -> WebIdentityParams:
            return WebIdentityParams(
                role_arn=f"arn:aws:iam::{ACCOUNT}:role/bench-{alg.lower()}",
                role_session_name="bench",
                web_identity_token=tokens[alg],
            )

        service: dict[str, Callable[[], object]] = {
            "service-assume-role": lambda: backend.assume_role(bob, assume, origin),
            "service-web-identity-rs256": lambda: backend.assume_role_with_web_identity(
                web("RS256"), origin
            ),
            "service-web-identity-es256": lambda: backend.assume_role_with_web_identity(
                web("ES256"), origin
            ),
        }
        # the spawned server has its own state database: a key for Bob there, made first
        served = work / "served"
        served.mkdir()
        with open_credentials(f"sqlite:///{served / 'state.db'}", served / "state.key") as store:
            served_key = store.create(BOB)
        proc, target = spawn_server(repo, work / "served")
        signed = AuthzClient(target, AccessKeyCredentials(*served_key), timeout=10)
        anonymous = AuthzClient(target, None, timeout=10)
        grpc_calls: dict[str, Callable[[], object]] = {
            "grpc-assume-role-signed": lambda: signed.assume_role(FOO, "bench"),
            "grpc-web-identity-rs256": lambda: anonymous.assume_role_with_web_identity(
                f"arn:aws:iam::{ACCOUNT}:role/bench-rs256", "bench", tokens["RS256"]
            ),
            "grpc-web-identity-es256": lambda: anonymous.assume_role_with_web_identity(
                f"arn:aws:iam::{ACCOUNT}:role/bench-es256", "bench", tokens["ES256"]
            ),
        }
        variants = {**service, **grpc_calls}
        for fn in variants.values():  # warm-up: caches, connections, compiled partitions
            for _ in range(20):
                fn()
        rounds = []
        for number in range(1, args.rounds + 1):
            medians = {name: per_call_us(fn, args.calls) for name, fn in variants.items()}
            ratios = {
                "service_rs256_vs_assume_role": medians["service-web-identity-rs256"]
                / medians["service-assume-role"],
                "service_es256_vs_assume_role": medians["service-web-identity-es256"]
                / medians["service-assume-role"],
                "grpc_rs256_vs_assume_role": medians["grpc-web-identity-rs256"]
                / medians["grpc-assume-role-signed"],
                "grpc_es256_vs_assume_role": medians["grpc-web-identity-es256"]
                / medians["grpc-assume-role-signed"],
            }
            rounds.append(
                {
                    "round": number,
                    "median_us": medians,
                    "ratios": ratios,
                    "loadavg": os.getloadavg(),
                }
            )
            print(
                f"round {number}: "
                + ", ".join(f"{k} {v:.0f} µs" for k, v in medians.items())
                + " | "
                + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()),
                flush=True,
            )
        signed.close()
        anonymous.close()
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        path = args.out / f"web-identity-{stamp}.json"
        path.write_text(
            json.dumps({"calls_per_variant_per_round": args.calls, "rounds": rounds}, indent=2)
        )
        print(f"wrote {path}")
        backend.close()
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
