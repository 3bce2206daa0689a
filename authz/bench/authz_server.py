"""The authz server the load generator spawns: a temporary fixture and the ``authz serve``
command lines for the ``authz*`` servers of ``authz.bench.spawn``.

Owns the benchmark fixture (created once per bench process, removed at exit): a repository
with one account, a user ``bench`` whose inline policy has the 10 statements of the baseline
harness (``benchmarks/harness/harness_policy.py``, as IAM JSON) plus ``sts:AssumeRole``, and a
role ``bench-role`` the account may assume; signing keys; an access key of ``bench`` created
through the product (``CredentialStore``). The client side finds the key and the ARNs through
the ``AUTHZ_BENCH_FIXTURE`` environment variable (a JSON file), which spawned client processes
inherit.

Servers (each on its own copy of the repository, metrics off, audit off):

    authz          authz serve --workers 1                    (pinned like every server)
    authz-reload   the same, and a thread rewrites a file of the repository every
                   ``AUTHZ_BENCH_RELOAD_MS`` (default 500) ms: a new revision each time
    authz-w1/-w2   --workers 1 / 2, not pinned (two workers need both cores)
    authz-w1-pinned / authz-w2-pinned   the same with ``--pin-workers``

    python -m authz.bench.authz_server --repo R --listen 127.0.0.1:P [--touch-every-ms 500] ...
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURE_ENV = "AUTHZ_BENCH_FIXTURE"
RELOAD_ENV = "AUTHZ_BENCH_RELOAD_MS"
ACCOUNT = "111122223333"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/bench"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/bench-role"
V = "2012-10-17"


def _st(sid: str, effect: str, action: Any, resource: Any, **condition: Any) -> dict[str, Any]:
    out = {"Sid": sid, "Effect": effect, "Action": action, "Resource": resource}
    if condition:
        out["Condition"] = condition
    return out


# The harness's 10-statement policy set, as IAM (its trust statement is the role's trust).
STATEMENTS = [
    _st("S3Read", "Allow", ["s3:GetObject", "s3:List*"], "arn:aws:s3:::bucket-a/*"),
    _st("Orders", "Allow", "dynamodb:Get*", f"arn:aws:dynamodb:*:{ACCOUNT}:table/orders*"),
    _st(
        "Jobs",
        "Allow",
        "sqs:*",
        f"arn:aws:sqs:*:{ACCOUNT}:jobs-*",
        IpAddress={"aws:SourceIp": "10.0.0.0/8"},
    ),
    _st("Publish", "Allow", "sns:Publish", f"arn:aws:sns:*:{ACCOUNT}:*"),
    _st("Keys", "Allow", ["kms:Describe*", "kms:List*"], "*"),
    _st("Locked", "Deny", "s3:Delete*", "arn:aws:s3:::bucket-a/locked/*"),
    {  # the benchmark server is plaintext: STS calls (AssumeRole) and the load generator's
        # own authz:AuthorizeOnBehalf (asked over its plaintext connection) are exempt
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "NotAction": ["sts:*", "authz:*"],
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
    _st(
        "PrivateWrites",
        "Allow",
        "s3:Put*",
        "arn:aws:s3:::bucket-b/*",
        StringEquals={"s3:x-amz-acl": "private"},
    ),
    _st("OrderIndex", "Allow", "dynamodb:Query", "arn:aws:dynamodb:*:*:table/orders/index/*"),
    _st("AssumeBench", "Allow", "sts:AssumeRole", ROLE_ARN),
]


def write_repo(root: Path) -> Path:
    """The benchmark repository under ``root``."""
    account = root / "accounts" / ACCOUNT
    for sub in ("users", "roles"):
        (account / sub).mkdir(parents=True, exist_ok=True)
    (account / "account.json").write_text(json.dumps({"Alias": "bench"}))
    user = {
        "UserName": "bench",
        "UserPolicyList": [
            {"PolicyName": "app", "PolicyDocument": {"Version": V, "Statement": STATEMENTS}},
            {  # the load generator asks as an enforcement point (a partition of its own)
                "PolicyName": "pep",
                "PolicyDocument": {
                    "Version": V,
                    "Statement": [_st("Pep", "Allow", "authz:AuthorizeOnBehalf", "*")],
                },
            },
        ],
    }
    (account / "users" / "bench.json").write_text(json.dumps(user, indent=1))
    trust = {
        "Version": V,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = {
        "RoleName": "bench-role",
        "AssumeRolePolicyDocument": trust,
        "RolePolicyList": [
            {
                "PolicyName": "read",
                "PolicyDocument": {"Version": V, "Statement": STATEMENTS[:5]},
            }
        ],
    }
    (account / "roles" / "bench-role.json").write_text(json.dumps(role, indent=1))
    return root


@dataclass(frozen=True)
class Fixture:
    directory: Path
    repo: Path
    keys: Path
    state_db: Path  # the SQLite state database holding the access key
    state_key: Path
    info: Path  # the JSON the clients read (FIXTURE_ENV)

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.state_db}"


@functools.cache
def fixture() -> Fixture:
    """Create the fixture once per process; removed at exit. Sets ``FIXTURE_ENV``."""
    from authz.sts.credentials import open_credentials
    from authz.sts.keys import KeyRing

    directory = Path(tempfile.mkdtemp(prefix="authz-bench-"))
    atexit.register(shutil.rmtree, directory, True)
    repo = write_repo(directory / "repo")
    keys = directory / "keys"
    KeyRing.generate(keys)
    state_db, state_key = directory / "state.db", directory / "state.key"
    with open_credentials(f"sqlite:///{state_db}", state_key) as store:
        key_id, secret = store.create(USER_ARN)
    info = directory / "fixture.json"
    info.write_text(
        json.dumps(
            {
                "access_key_id": key_id,
                "secret_access_key": secret,
                "user_arn": USER_ARN,
                "role_arn": ROLE_ARN,
                "account": ACCOUNT,
            }
        )
    )
    info.chmod(0o600)
    os.environ[FIXTURE_ENV] = str(info)
    return Fixture(directory, repo, keys, state_db, state_key, info)


def read_fixture() -> dict[str, str]:
    """The clients' view of the fixture (from ``FIXTURE_ENV``)."""
    path = os.environ.get(FIXTURE_ENV)
    if not path:
        raise RuntimeError(f"{FIXTURE_ENV} is not set: spawn an authz server first")
    data: dict[str, str] = json.loads(Path(path).read_text())
    return data


def server_argv(
    port: int, *, workers: int = 1, touch_ms: int = 0, pin_workers: bool = False
) -> list[str]:
    """The command line of one authz server on its own copy of the fixture repository."""
    fx = fixture()
    repo = Path(tempfile.mkdtemp(prefix="repo-", dir=fx.directory))
    shutil.copytree(fx.repo, repo, dirs_exist_ok=True)
    argv = [
        sys.executable, "-m", "authz.bench.authz_server",
        "--repo", str(repo),
        "--listen", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--keys-dir", str(fx.keys),
        "--state-url", fx.state_url,
        "--state-key-file", str(fx.state_key),
    ]  # fmt: skip
    if touch_ms:
        argv += ["--touch-every-ms", str(touch_ms)]
    if pin_workers:
        argv += ["--pin-workers"]
    return argv


def reload_ms() -> int:
    return int(os.environ.get(RELOAD_ENV, "500"))


def touch_loop(repo: Path, every_s: float, stop: threading.Event) -> None:
    """Rewrite a file of the repository every ``every_s`` seconds (a new revision each time:
    the role's tags change) until ``stop``."""
    path = repo / "accounts" / ACCOUNT / "roles" / "bench-role.json"
    doc = json.loads(path.read_text())
    n = 0
    while not stop.wait(every_s):
        n += 1
        doc["Tags"] = [{"Key": "generation", "Value": str(n)}]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="authz serve for benchmarks")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keys-dir", type=Path, required=True)
    parser.add_argument("--state-url", required=True)
    parser.add_argument("--state-key-file", type=Path, required=True)
    parser.add_argument("--touch-every-ms", type=int, default=0)
    parser.add_argument("--pin-workers", action="store_true")
    parser.add_argument("--config", type=Path, help="a settings file for `authz serve`")
    args = parser.parse_args(argv)
    from authz.cli import main as authz_main

    stop = threading.Event()
    if args.touch_every_ms:
        every = args.touch_every_ms / 1000
        threading.Thread(
            target=touch_loop, args=(args.repo, every, stop), name="bench-touch", daemon=True
        ).start()
    serve = ["serve", "--repo", str(args.repo), "--listen", args.listen]
    serve += ["--workers", str(args.workers), "--keys-dir", str(args.keys_dir)]
    serve += ["--state-url", args.state_url, "--state-key-file", str(args.state_key_file)]
    serve += ["--drain-seconds", "0"]  # no load balancer to tell: SIGTERM stops at once
    # the load generators send fixed metadata (pre-serialized bodies, no per-call signing): a
    # loopback experiment; the signed path is measured by benchmarks/sigv4_bench.py
    serve += ["--allow-plaintext-secret"]
    if args.pin_workers:
        serve += ["--pin-workers"]
    if args.config:
        serve += ["--config", str(args.config)]
    try:
        return authz_main(serve)
    finally:
        stop.set()
        time.sleep(0)


if __name__ == "__main__":
    sys.exit(main())
