"""The memory loops of issue 10 against an ``authz serve`` subprocess: the server's RSS
after many SimulateCustomPolicy calls with distinct large policies and many Authorize calls
with distinct large resources.

Owns launching one ``authz serve`` (a copy of a repository, an access key for one user, a
TOML config) in its own process, so that the RSS read from ``/proc/<pid>/status`` is the
server's alone, and the two loops. Used by ``tests/security/test_memory.py`` (few calls) and
``benchmarks/memory_loops.py`` (the full 1,000 + 1,000; writes ``benchmarks/results``).
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authz.bench.spawn import free_port, stop_process

USER_ARN = "arn:aws:iam::111122223333:user/Bob"  # the simulated caller
OPERATOR_ARN = "arn:aws:iam::111122223333:user/Dana"  # holds the access key
ADMIN_ROLE = "arn:aws:iam::111122223333:role/authz-admin"  # may simulate (docs/security.md)
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServerProcess:
    target: str
    pid: int
    key_id: str
    secret: str

    def credentials(self) -> Any:
        """A session of the example's ``authz-admin`` role (iam:SimulateCustomPolicy), assumed
        with the operator's access key."""
        from datetime import UTC

        from authz.client import AccessKeyCredentials, AuthzClient
        from authz.client.credentials import SessionCredentials

        key = AccessKeyCredentials(self.key_id, self.secret)
        with AuthzClient(self.target, key, timeout=30) as client:
            creds = client.assume_role(ADMIN_ROLE, "memory-loops").credentials
        return SessionCredentials(
            creds.session_token,
            creds.expiration.ToDatetime(tzinfo=UTC),
            creds.access_key_id,
            creds.secret_access_key,
        )


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of process ``pid`` (``VmRSS``, ``VmHWM``) in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


@contextlib.contextmanager
def authz_serve(
    workdir: Path, repo: Path, settings: Mapping[str, object] | None = None
) -> Iterator[ServerProcess]:
    """``authz serve`` on a copy of ``repo`` in a subprocess; stopped for sure afterwards."""
    from authz.sts.credentials import open_credentials

    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / "repo"
    if not copy.exists():
        shutil.copytree(repo, copy)
    state_url, state_key = f"sqlite:///{workdir / 'state.db'}", workdir / "state.key"
    with open_credentials(state_url, state_key) as store:
        key_id, secret = store.create(OPERATOR_ARN)
    config = workdir / "authz.toml"
    config.write_text(
        "".join(f"{k} = {json.dumps(v)}\n" for k, v in (settings or {}).items()),
        encoding="utf-8",
    )
    port = free_port()
    argv = [
        sys.executable, "-c", "import sys; from authz.cli import main; sys.exit(main())",
        "serve", "--repo", str(copy), "--listen", f"127.0.0.1:{port}", "--no-watch",
        "--config", str(config), "--keys-dir", str(workdir / "keys"),
        "--state-url", state_url, "--state-key-file", str(state_key), "--dev-generate-keys",
        "--drain-seconds", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(workdir)
    )
    try:
        target = f"127.0.0.1:{port}"
        _wait_ready(target, proc)
        yield ServerProcess(target, proc.pid, key_id, secret)
    finally:
        stop_process(proc)


def _wait_ready(target: str, proc: subprocess.Popen[bytes]) -> None:
    from authz.bench.spawn import _is_ready

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"authz serve exited with {proc.returncode}")
        if _is_ready("grpc", target):
            return
        time.sleep(0.1)
    raise RuntimeError(f"authz serve not ready at {target} in {READY_TIMEOUT_S}s")


def large_policy(tag: str, chars: int) -> str:
    """A distinct identity policy of about ``chars`` characters (just below), all s3
    statements: it compiles into one large s3 partition."""
    statements: list[dict[str, object]] = []
    size = 60
    i = 0
    while True:
        st: dict[str, object] = {
            "Sid": f"S{tag}x{i}",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::bucket-{tag}/prefix-{i}/*",
        }
        cost = len(json.dumps(st)) + 2
        if size + cost > chars:
            break
        statements.append(st)
        size += cost
        i += 1
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def simulate_loop(
    server: ServerProcess, calls: int, documents: int, chars: int, sample_every: int = 0
) -> dict[str, Any]:
    """``calls`` SimulateCustomPolicy calls, each with ``documents`` distinct policies of about
    ``chars`` characters (so each call's input is new to every cache); the server's RSS (KiB)
    every ``sample_every`` calls."""
    from authz.client import AuthzClient
    from authz.errors import AuthzError

    refused = 0
    errors: dict[str, int] = {}
    samples: list[tuple[int, int]] = []
    started = time.perf_counter()
    with AuthzClient(server.target, server.credentials(), timeout=60) as client:
        for n in range(calls):
            docs = [large_policy(f"{n}n{d}", chars) for d in range(documents)]
            try:
                client.simulate_custom_policy(
                    policy_input_list=docs,
                    action_names=["s3:GetObject"],
                    resource_arns=[f"arn:aws:s3:::bucket-{n}n0/prefix-1/object"],
                    caller_arn=USER_ARN,
                )
            except AuthzError as err:
                refused += 1
                errors[err.code] = errors.get(err.code, 0) + 1
            if sample_every and (n + 1) % sample_every == 0:
                samples.append((n + 1, rss_kib(server.pid)))
    return {
        "calls": calls,
        "documents_per_call": documents,
        "chars_per_document": chars,
        "request_kib": round(documents * chars / 1024, 1),
        "refused": refused,
        "errors": errors,
        "rss_kib_samples": samples,
        "seconds": round(time.perf_counter() - started, 2),
    }


def authorize_loop(server: ServerProcess, calls: int, resource_chars: int) -> dict[str, float]:
    """``calls`` Authorize calls, each on a distinct resource of ``resource_chars``."""
    from authz.client import AuthzClient

    started = time.perf_counter()
    with AuthzClient(server.target, server.credentials(), timeout=30) as client:
        for n in range(calls):
            head = f"arn:aws:s3:::bob-scratch/{n:06d}/"
            client.authorize("s3:GetObject", head + "k" * (resource_chars - len(head)))
    return {
        "calls": calls,
        "resource_chars": resource_chars,
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_memory_loops(
    workdir: Path,
    repo: Path,
    *,
    simulate_calls: int,
    authorize_calls: int,
    documents: int = 6,
    chars: int = 131072,
    resource_chars: int = 2048,
    settings: Mapping[str, object] | None = None,
    sample_every: int = 0,
) -> dict[str, Any]:
    """Both loops against one fresh server; RSS (KiB) before, after each loop, and the peak."""
    with authz_serve(workdir, repo, settings) as server:
        # warm: one small call of each kind, so the baseline includes the code paths' imports
        simulate_loop(server, 1, 1, 2048)
        authorize_loop(server, 1, 64)
        before = rss_kib(server.pid)
        sim = simulate_loop(server, simulate_calls, documents, chars, sample_every)
        after_simulate = rss_kib(server.pid)
        auth = authorize_loop(server, authorize_calls, resource_chars)
        after_authorize = rss_kib(server.pid)
        peak = rss_kib(server.pid, "VmHWM")
    return {
        "simulate": sim,
        "authorize": auth,
        "rss_kib": {
            "before": before,
            "after_simulate": after_simulate,
            "after_authorize": after_authorize,
            "peak": peak,
            "growth": after_authorize - before,
        },
        "settings": dict(settings or {}),
    }
