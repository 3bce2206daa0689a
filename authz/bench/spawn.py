"""Starting and stopping the servers a benchmark runs against.

Owns the server registry (``register_server``), launching a server as a subprocess bound to
127.0.0.1 (pinned to one core with ``taskset`` when the machine has two or more), waiting
until it is ready (gRPC health SERVING, or an HTTP answer), and stopping it for sure
(SIGTERM, then SIGKILL). Built-ins: ``cedar`` and ``sts`` (the harnesses in
``benchmarks/harness/``) and ``moto`` (``moto_server``); ``authz.bench.api_scenarios``
adds the ``authz*`` servers.

    with spawn_server("cedar") as server:
        run_load(..., target=server.target, server_pid=server.pid)
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

__all__ = ["ServerSpec", "Spawned", "harness_dir", "register_server", "spawn_server"]

READY_TIMEOUT_S = 30.0
SERVER_CPU = 1  # the server's core; the client takes the others


def harness_dir() -> Path:
    """``benchmarks/harness`` of this checkout (override: ``AUTHZ_BENCH_HARNESS_DIR``)."""
    env = os.environ.get("AUTHZ_BENCH_HARNESS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "benchmarks" / "harness"


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server. ``argv(port)`` builds the command; with ``announces_port``
    the server binds port 0 itself and prints ``LISTENING 127.0.0.1:<port>``; ``protocol``
    is ``grpc`` (ready = health SERVING) or ``http`` (ready = any HTTP answer); ``pin=False``
    runs it on every core (e.g. ``--workers 2``), and the generator then unpins itself too."""

    name: str
    argv: Callable[[int], list[str]]
    protocol: str = "grpc"
    announces_port: bool = True
    pin: bool = True  # False: the server may use every core (and so does the client)


@dataclass(frozen=True)
class Spawned:
    name: str
    target: str  # host:port
    pid: int
    pinned_cpu: int | None


_SERVERS: dict[str, ServerSpec] = {}


def register_server(spec: ServerSpec, *, replace: bool = False) -> None:
    if spec.name in _SERVERS and not replace:
        raise ValueError(f"server `{spec.name}` is already registered")
    _SERVERS[spec.name] = spec


def server_names() -> list[str]:
    return sorted(_SERVERS)


def server_spec(name: str) -> ServerSpec | None:
    return _SERVERS.get(name)


def _harness(script: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [sys.executable, str(harness_dir() / script), "--port", str(port)]

    return argv


def _moto_argv(port: int) -> list[str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    if exe is None:
        raise RuntimeError("moto_server not found: pip install 'moto[server]'")
    return [exe, "-H", "127.0.0.1", "-p", str(port)]


register_server(ServerSpec("cedar", _harness("cedar_harness.py")))
register_server(ServerSpec("sts", _harness("sts_harness.py")))
register_server(ServerSpec("moto", _moto_argv, protocol="http", announces_port=False))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin_prefix(cpu: int) -> list[str]:
    """``taskset -c CPU`` when there are at least two cores and taskset exists."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


@contextlib.contextmanager
def spawn_server(name: str, *, pin: bool = True) -> Iterator[Spawned]:
    """Start server ``name``, yield it once ready, always stop it afterwards."""
    try:
        spec = _SERVERS[name]
    except KeyError:
        raise KeyError(f"unknown server `{name}` (known: {', '.join(server_names())})") from None
    port = 0 if spec.announces_port else free_port()
    prefix = pin_prefix(SERVER_CPU) if pin and spec.pin else []
    proc = subprocess.Popen(
        prefix + spec.argv(port),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=str(harness_dir()),
    )
    try:
        if spec.announces_port:
            port = _read_port(proc)
        target = f"127.0.0.1:{port}"
        _wait_ready(spec, target, proc)
        yield Spawned(name, target, proc.pid, SERVER_CPU if prefix else None)
    finally:
        stop_process(proc)


def _read_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    for _ in range(100):  # bounded: the harness prints its port first
        if time.monotonic() > deadline:
            break
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("LISTENING "):
            return int(line.split(":")[-1])
    raise RuntimeError(f"server exited or did not announce its port (rc={proc.poll()})")


def _wait_ready(spec: ServerSpec, target: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server `{spec.name}` exited with {proc.returncode}")
        if _is_ready(spec.protocol, target):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server `{spec.name}` not ready at {target} in {READY_TIMEOUT_S}s")


def _is_ready(protocol: str, target: str) -> bool:
    if protocol == "http":
        host, port = target.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
        try:
            conn.request("GET", "/moto-api/")
            conn.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            conn.close()
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1.0
            )
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate, wait up to 5 s, then kill; close its stdout pipe if it had one."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5.0)
    if proc.stdout is not None:
        proc.stdout.close()
