"""Three ``authz serve`` processes on this machine sharing one PostgreSQL state database and
one policy repository, and clients over them (one node, or all three with gRPC client-side
``round_robin`` load balancing).

Owns assembly only (files, processes, clients); every answer is the product's. Loopback only.
The nodes poll the state database every ``POLL_MS`` (the propagation bound of a change made on
one node: one poll + the reload) and reload the repository on a file change.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.client import AccessKeyCredentials, AuthzClient
from authz.client.credentials import Credentials

ROOT = Path(__file__).resolve().parents[3]
LOCALHOST = "127.0.0.1"
ACCOUNT = "111122223333"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/reader"
BUCKET = "arn:aws:s3:::fleet-data"
POLL_MS = 100  # state_poll_ms of every node
PUBLISH_DELAY = 3  # seconds: >= 2 x (0.1 + 0.5), the check every node makes at start
MAX_TOKEN_TTL = 3600
SKEW = 5
V = "2012-10-17"


def _statement(sid: str, action: Any, resource: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def user_document(*, allow_put: bool) -> dict[str, Any]:
    """alice: reads the bucket, assumes the reader role; writes it only when ``allow_put``."""
    statements = [
        _statement("Read", "s3:GetObject", f"{BUCKET}/*"),
        _statement("Assume", "sts:AssumeRole", ROLE_ARN),
    ]
    if allow_put:
        statements.append(_statement("Write", "s3:PutObject", f"{BUCKET}/*"))
    return {
        "UserName": "alice",
        "UserPolicyList": [
            {"PolicyName": "app", "PolicyDocument": {"Version": V, "Statement": statements}}
        ],
    }


def write_repo(root: Path) -> Path:
    account = root / "accounts" / ACCOUNT
    for sub in ("users", "roles"):
        (account / sub).mkdir(parents=True, exist_ok=True)
    (account / "account.json").write_text(json.dumps({"Alias": "fleet"}))
    (account / "users" / "alice.json").write_text(json.dumps(user_document(allow_put=False)))
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
        "RoleName": "reader",
        "AssumeRolePolicyDocument": trust,
        "RolePolicyList": [
            {
                "PolicyName": "read",
                "PolicyDocument": {
                    "Version": V,
                    "Statement": [_statement("Read", "s3:GetObject", f"{BUCKET}/*")],
                },
            }
        ],
    }
    (account / "roles" / "reader.json").write_text(json.dumps(role))
    return root


def replace_file(path: Path, text: str) -> None:
    """Publish a new version of one repository file atomically (rename over it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def healthy(target: str, timeout: float = 0.5) -> bool:
    try:
        with grpc.insecure_channel(target) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JOSE header and payload of a session token, unverified (to read kid and iat)."""

    def part(segment: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        )
        return data

    header, payload, _ = token.split(".")
    return part(header), part(payload)


@dataclass
class Node:
    name: str
    port: int
    metrics_port: int
    config: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def calls(self, method: str) -> float:
        """How many ``method`` calls this node answered (its Prometheus counter)."""
        url = f"http://{LOCALHOST}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith("authz_grpc_requests_total{") and f'method="{method}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    @property
    def target(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def spawn(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "authz.cli", "serve", "--config", str(self.config)],
                cwd=self.config.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float) -> None:
        ok = wait_until(lambda: not self.alive() or healthy(self.target), timeout, 0.1)
        if not ok or not self.alive():
            self.stop()
            raise AssertionError(f"node {self.name} did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye (a crashed machine)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class Fleet:
    directory: Path
    repo: Path
    state_url: str
    key_file: Path
    nodes: list[Node] = field(default_factory=list)
    access_key: tuple[str, str] = ("", "")

    @property
    def lb_target(self) -> str:
        """Every node in one gRPC target: the client balances over them itself."""
        return "ipv4:" + ",".join(n.target for n in self.nodes)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def client(
        self,
        target: str,
        credentials: Credentials | None = None,
        *,
        timeout: float = 5.0,
        options: Sequence[tuple[str, Any]] = (),
    ) -> AuthzClient:
        creds = credentials if credentials is not None else AccessKeyCredentials(*self.access_key)
        return AuthzClient(target, creds, timeout=timeout, options=list(options))

    def balanced_client(self, credentials: Credentials | None = None, **kw: Any) -> AuthzClient:
        options = [("grpc.lb_policy_name", "round_robin"), ("grpc.enable_retries", 0)]
        return self.client(self.lb_target, credentials, options=options, **kw)

    def cli(self, *args: str) -> str:
        """``authz ARGS`` against the fleet's state database (the operator's command line)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "authz.cli", *args],
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"authz {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def state_args(self) -> list[str]:
        return ["--state-url", self.state_url, "--state-key-file", str(self.key_file)]

    def rotate_keys(self) -> tuple[str, int]:
        """Rotate the signing keys through the state database, as ``authz keys rotate
        --state-url`` does on any machine holding the key file (in-process: the command's start
        would eat into the publish delay); the new kid and its activation time."""
        from authz.state.runtime import open_state
        from authz.sts.keys_state import open_state_ring

        state = open_state(self.state_url, self.key_file)
        try:
            ring = open_state_ring(state.db, state.sealer)
            new = ring.rotate().kid
            info = next(i for i in ring.list() if i.kid == new)
        finally:
            state.close()
        return new, info.active_from

    def create_mfa_device(self, user_arn: str, name: str) -> tuple[str, str]:
        """A virtual MFA device of ``user_arn`` in the state database (as ``authz keys
        create-mfa --state-url`` makes it); its serial number and base32 seed."""
        from authz.state.runtime import open_state
        from authz.sts.mfa import MfaStore

        state = open_state(self.state_url, self.key_file)
        try:
            serial, seed, _ = MfaStore(state.db, state.sealer).create(user_arn, name)
        finally:
            state.close()
        return serial, seed

    def restart(self, node: Node, timeout: float = 60.0) -> None:
        node.stop()
        node.spawn()
        node.wait_ready(timeout)

    def close(self) -> None:
        for node in self.nodes:
            node.stop()


def node_config(fleet: Fleet, name: str, port: int, metrics_port: int) -> Path:
    home = fleet.directory / name
    home.mkdir()
    lines = {
        "repo": str(fleet.repo),
        "listen": f"{LOCALHOST}:{port}",
        "metrics_listen": f"{LOCALHOST}:{metrics_port}",
        "keys_source": "state",
        "keys_dir": str(home / "unused-keys"),
        "state_url": fleet.state_url,
        "state_key_file": str(fleet.key_file),
        "state_poll_ms": POLL_MS,
        "state_stale_seconds": 5.0,
        "credentials_file": str(fleet.directory / "credentials.json"),
        "mfa_file": str(home / "mfa.json"),
        "drain_seconds": 0.0,
        "shutdown_grace_seconds": 2.0,
        "reload_debounce_ms": 50,
    }
    path = home / "authz.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in lines.items()))
    return path


def start_fleet(directory: Path, state_url: str, names: Sequence[str] = ("A", "B", "C")) -> Fleet:
    """Create the shared state (signing keys, an access key) and start the nodes in parallel."""
    from authz.state.sealing import new_key_line

    key_file = directory / "state.key"
    key_file.write_bytes(new_key_line())
    key_file.chmod(0o600)
    fleet = Fleet(directory, write_repo(directory / "repo"), state_url, key_file)
    fleet.cli(
        "keys", "generate", *fleet.state_args(),
        "--publish-delay", str(PUBLISH_DELAY),
        "--max-token-ttl", str(MAX_TOKEN_TTL),
        "--skew", str(SKEW),
    )  # fmt: skip
    fleet.access_key = create_access_key(fleet, USER_ARN)
    for name in names:
        port, metrics_port = free_port(), free_port()
        config = node_config(fleet, name, port, metrics_port)
        fleet.nodes.append(Node(name, port, metrics_port, config, directory / f"{name}.log"))
    try:
        for node in fleet.nodes:
            node.spawn()
        for node in fleet.nodes:
            node.wait_ready(90)
    except BaseException:
        fleet.close()
        raise
    return fleet


def create_access_key(fleet: Fleet, user_arn: str) -> tuple[str, str]:
    """A new access key of ``user_arn`` in the store every node reads."""
    try:
        from authz.sts.credentials import open_credentials  # type: ignore[attr-defined]
    except ImportError:  # releases before access keys moved to the state database
        from authz.sts.credentials import CredentialStore

        return CredentialStore(fleet.directory / "credentials.json").create(user_arn)
    with open_credentials(fleet.state_url, fleet.key_file) as store:
        key: tuple[str, str] = store.create(user_arn)
    return key
