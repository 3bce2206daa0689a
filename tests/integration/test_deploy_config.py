"""``authz serve`` on the settings the Kubernetes manifests deploy (deploy/kubernetes/authz.toml),
as a pod would run it: the same file with only the pod's paths and addresses moved into a
temporary directory on 127.0.0.1 — a git-sync layout (a ``policies`` link flipped atomically
between worktrees), signing keys and the state key in read-only, group-readable files (as
Secret volumes with ``fsGroup`` are), PostgreSQL from the test suite with the password in
``PGPASSWORD``. The kubelet's probe is a ``grpc.health.v1`` Check on the serving port; the
metrics port is scraped like Prometheus would. A git-sync flip is served without a restart,
and SIGTERM drains and exits 0 within the pod's grace period."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.sts.keys import KeyRing
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
SERVING = health_pb2.HealthCheckResponse.SERVING
FERNET_KEY = "x" * 43 + "="  # 32 bytes, url-safe base64: a valid Fernet key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml(values: dict[str, Any]) -> str:
    """Flat TOML (every deployed value is a string, number or boolean; JSON spells them the
    same way)."""
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def _git_sync_publish(root: Path, link: str, source: Path, name: str) -> Path:
    """What git-sync does per sync: a new worktree under ``root``, then the link flipped to it
    in one rename."""
    worktree = root / ".worktrees" / name
    shutil.copytree(source, worktree)
    tmp = root / f".{link}.tmp"
    tmp.symlink_to(worktree.relative_to(root))
    tmp.rename(root / link)
    return worktree


def _secret_files(directory: Path) -> None:
    """As a Secret volume mounts them with ``defaultMode: 0440`` and ``fsGroup``."""
    for path in directory.iterdir():
        path.chmod(0o440)
    directory.chmod(0o550)


def _eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


class Pod:
    """The server process on the deployed settings, and what the kubelet and Prometheus see."""

    def __init__(self, tmp: Path, pg: PostgresServer) -> None:
        deployed = tomllib.loads((K8S / "authz.toml").read_text(encoding="utf-8"))
        (deployment,) = yaml.safe_load_all((K8S / "deployment.yaml").read_text(encoding="utf-8"))
        spec = deployment["spec"]["template"]["spec"]
        sync_env = {e["name"]: e.get("value") for e in spec["initContainers"][0]["env"]}
        self.git_root = tmp / "git"
        self.link = sync_env["GITSYNC_LINK"]
        self.git_root.mkdir()
        _git_sync_publish(self.git_root, self.link, ROOT / "policies", "rev-a")
        keys = tmp / "keys"
        KeyRing.generate(keys)
        (keys / ".lock").unlink(missing_ok=True)  # kubectl create secret --from-file=keys/
        _secret_files(keys)
        state_key = tmp / "state-key"
        state_key.mkdir()
        (state_key / "state.key").write_text(FERNET_KEY + "\n", encoding="utf-8")
        _secret_files(state_key)
        self.port, self.metrics_port = _free_port(), _free_port()
        url = pg.create_database()
        in_repo = Path(deployed["repo"]).relative_to(sync_env["GITSYNC_ROOT"])
        moved = {  # the pod's paths and addresses, here; everything else as deployed
            "repo": str(self.git_root / in_repo),
            "listen": f"127.0.0.1:{self.port}",
            "metrics_listen": f"127.0.0.1:{self.metrics_port}",
            "keys_dir": str(keys),
            "state_key_file": str(state_key / "state.key"),
            "state_url": url,
        }
        assert moved.keys() <= deployed.keys()
        self.settings = {**deployed, **moved}
        config = tmp / "authz.toml"
        config.write_text(_toml(self.settings), encoding="utf-8")
        workdir = tmp / "workdir"
        workdir.mkdir()
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "PGPASSWORD": "from-a-secret"}
        self.log = (tmp / "server.log").open("w+", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "authz.cli", "serve", "--config", str(config)],
            cwd=workdir,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def probe(self, service: str = "") -> int | None:
        """The kubelet's grpc probe; None when nothing answers."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            request = health_pb2.HealthCheckRequest(service=service)
            return int(stub.Check(request, timeout=1).status)
        except grpc.RpcError:
            return None

    def revisions(self) -> list[str]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
        prefix = 'authz_snapshot_revision_info{revision="'
        return [line[len(prefix) :].split('"')[0] for line in text.splitlines()
                if line.startswith(prefix)]  # fmt: skip

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture
def pod(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Pod]:
    started = Pod(tmp_path, postgres_server)
    try:
        yield started
    finally:
        started.stop()


def test_the_deployed_settings_serve_follow_a_git_sync_flip_and_drain(pod: Pod) -> None:
    def serving() -> bool:
        assert pod.process.poll() is None, pod.output()
        return pod.probe() == SERVING

    _eventually(serving, 90, "the startup probe passes")
    assert pod.probe("authz.v1.Authorizer") == SERVING
    (first,) = pod.revisions()

    # git-sync publishes a new commit: a new worktree (here: one file rewritten), one flip.
    changed = pod.git_root / "next-source"
    shutil.copytree(ROOT / "policies", changed)
    org = changed / "organization.json"
    org.write_text(json.dumps(json.loads(org.read_text(encoding="utf-8")), indent=4) + "\n")
    _git_sync_publish(pod.git_root, pod.link, changed, "rev-b")
    poll = pod.settings["reload_poll_ms"] / 1000
    _eventually(lambda: pod.revisions() not in ([first], []), 30 + poll, "the flip is served")
    assert pod.probe() == SERVING  # no restart, no gap in readiness

    # SIGTERM from the kubelet: readiness fails first, then the process exits 0 in time.
    start = time.monotonic()
    pod.process.send_signal(signal.SIGTERM)
    _eventually(lambda: pod.probe() != SERVING, 5, "readiness fails on SIGTERM")
    code = pod.process.wait(60)
    grace = pod.settings["drain_seconds"] + pod.settings["shutdown_grace_seconds"]
    assert code == 0, pod.output()
    assert time.monotonic() - start < grace + 5, "within terminationGracePeriodSeconds"
    assert "Traceback" not in pod.output()
