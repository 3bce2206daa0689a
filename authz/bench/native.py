"""The native load client (``benchmarks/loadc``, C on libnghttp2): request files and runs.

Owns the request-file format the C client reads, writing and reading it, finding the built
client, and running it with a ``LoadConfig`` into the same ``LoadResult`` the Python generator
returns. The Python generator costs ~0.3 ms of CPU per request, as much as a small server
call; ``loadc`` costs a few µs, so the server is the limit and its CPU per request is its own.

A request file holds one gRPC method, the request metadata (e.g. the access key headers the
authz edge authenticates with) and the pre-serialized protobuf messages, sent in order and
cycled when a run needs more (``wrapped`` in the result says so):

    b"AZLC1\\n"  len path  n_headers (len name len value)*  n_messages (len message)*

or, when each message carries metadata of its own (``message_headers``: a SigV4 signature
over its body and time, so a signed run costs the client nothing either):

    b"AZLC2\\n"  len path  n_headers (len name len value)*
    n_messages (n_message_headers (len name len value)* len message)*

(all integers unsigned 32-bit big-endian).
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authz.bench.histogram import Histogram
from authz.bench.loadgen import PERCENTILES, LoadConfig, LoadResult, check_loopback

__all__ = [
    "MAGIC",
    "NativeUnavailable",
    "RequestFile",
    "loadc_path",
    "read_request_file",
    "run_loadc",
    "write_request_file",
]

MAGIC = b"AZLC1\n"
MAGIC_PER_MESSAGE = b"AZLC2\n"
MAX_HEADERS = 32  # the C client's bound: fixed + one message's own
MAX_MESSAGES = 50_000_000
MAX_STREAMS = 1000
LOADC_ENV = "AUTHZ_LOADC"
_U32 = struct.Struct(">I")


class NativeUnavailable(RuntimeError):
    """The C client is not built (``make bench-load`` builds it)."""


@dataclass(frozen=True)
class RequestFile:
    """One method, its metadata, and the messages to send (serialized protobufs)."""

    path: str
    headers: tuple[tuple[str, str], ...]
    messages: Sequence[bytes]
    # each message's own metadata, sent after ``headers`` (None: messages have none)
    message_headers: Sequence[tuple[tuple[str, str], ...]] | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"gRPC path `{self.path}` must start with /")
        if not 0 < len(self.messages) <= MAX_MESSAGES:
            raise ValueError(f"a request file holds 1..{MAX_MESSAGES} messages")
        own = self.message_headers
        if own is not None and len(own) != len(self.messages):
            raise ValueError("message_headers must name one header tuple per message")
        for headers in (self.headers, *(own or ())):
            if len(self.headers) + (0 if headers is self.headers else len(headers)) > MAX_HEADERS:
                raise ValueError(f"at most {MAX_HEADERS} headers per call")
            for name, _value in headers:
                if name != name.lower() or name.startswith(":"):
                    raise ValueError(f"header `{name}`: lower-case metadata names only")


def _put(out: list[bytes], data: bytes) -> None:
    out.append(_U32.pack(len(data)))
    out.append(data)


def _put_headers(out: list[bytes], headers: tuple[tuple[str, str], ...]) -> None:
    out.append(_U32.pack(len(headers)))
    for name, value in headers:
        _put(out, name.encode())
        _put(out, value.encode())


def write_request_file(dest: Path, requests: RequestFile) -> Path:
    """Write ``requests`` to ``dest`` (mode 0600: it may hold credentials)."""
    own = requests.message_headers
    out = [MAGIC if own is None else MAGIC_PER_MESSAGE]
    _put(out, requests.path.encode())
    _put_headers(out, requests.headers)
    out.append(_U32.pack(len(requests.messages)))
    for i, message in enumerate(requests.messages):
        if own is not None:
            _put_headers(out, own[i])
        _put(out, message)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"".join(out))
    return dest


def read_request_file(src: Path) -> RequestFile:
    """Read a request file back (the C client's parser, in Python: tests and tools)."""
    data = src.read_bytes()
    if not data.startswith((MAGIC, MAGIC_PER_MESSAGE)):
        raise ValueError(f"{src}: not a request file")
    per_message = data.startswith(MAGIC_PER_MESSAGE)
    pos = len(MAGIC)

    def u32() -> int:
        nonlocal pos
        if pos + 4 > len(data):
            raise ValueError(f"{src}: truncated")
        (value,) = _U32.unpack_from(data, pos)
        pos += 4
        return int(value)

    def chunk() -> bytes:
        nonlocal pos
        n = u32()
        if pos + n > len(data):
            raise ValueError(f"{src}: truncated")
        pos += n
        return data[pos - n : pos]

    def headers() -> tuple[tuple[str, str], ...]:
        return tuple((chunk().decode(), chunk().decode()) for _ in range(u32()))

    path = chunk().decode()
    fixed = headers()
    messages, own = [], []
    for _ in range(u32()):
        if per_message:
            own.append(headers())
        messages.append(chunk())
    if pos != len(data):
        raise ValueError(f"{src}: {len(data) - pos} bytes after the last message")
    return RequestFile(path, fixed, messages, own if per_message else None)


def loadc_path() -> Path:
    """The built client: ``$AUTHZ_LOADC`` or ``benchmarks/loadc/loadc`` of this checkout."""
    env = os.environ.get(LOADC_ENV)
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "benchmarks/loadc/loadc"
    if not os.access(path, os.X_OK):
        raise NativeUnavailable(
            f"{path} is not built: make -C benchmarks/loadc (or make bench-load)"
        )
    return path


def message_count(config: LoadConfig, default: int = 200_000) -> int:
    """How many messages a run's file holds: enough for a whole open-loop run, else
    ``$AUTHZ_BENCH_NATIVE_MESSAGES`` (default 200,000; a faster run wraps and says so)."""
    if config.mode == "open":
        return int(config.rate * (config.warmup_s + config.duration_s)) + 1000
    return int(os.environ.get("AUTHZ_BENCH_NATIVE_MESSAGES", default))


def loadc_argv(
    requests: Path, target: str, config: LoadConfig, *, server_pid: int | None = None
) -> list[str]:
    """The command line for one run: ``config.connections`` connections, the in-flight
    requests (``config.concurrency``) spread over them (closed loop), or ``config.rate``."""
    check_loopback(target)
    streams = max(1, math.ceil(config.concurrency / config.connections))
    if streams > MAX_STREAMS:
        raise ValueError(f"{streams} streams per connection: at most {MAX_STREAMS}")
    argv = [
        str(loadc_path()),
        "--target", target,
        "--requests", str(requests),
        "--connections", str(config.connections),
        "--streams", str(streams),
        "--duration", f"{config.duration_s:g}",
        "--warmup", f"{config.warmup_s:g}",
        "--max-requests", str(config.max_requests),
    ]  # fmt: skip
    if config.mode == "open":
        argv += ["--rate", f"{config.rate:g}"]
    if server_pid:
        argv += ["--server-pid", str(server_pid)]
    return argv


def run_loadc(
    requests: Path,
    target: str,
    config: LoadConfig,
    *,
    scenario: str,
    items_per_request: int = 1,
    server_pid: int | None = None,
    cpu: int | None = None,
) -> tuple[LoadResult, dict[str, Any]]:
    """Run the C client (pinned to ``cpu`` when given) and return the result and its raw JSON."""
    argv = loadc_argv(requests, target, config, server_pid=server_pid)
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=config.warmup_s + config.duration_s + 30,
        check=False,
    )
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise RuntimeError(f"loadc failed ({done.returncode}): {done.stderr.strip()}")
    raw: dict[str, Any] = json.loads(done.stdout)
    return to_result(raw, config, scenario, target, items_per_request, started), raw


def to_result(
    raw: dict[str, Any],
    config: LoadConfig,
    scenario: str,
    target: str,
    items_per_request: int,
    started: str,
) -> LoadResult:
    """The C client's JSON as a ``LoadResult`` (same histogram buckets, same percentiles)."""
    hist = Histogram.from_dict(raw["histogram"])
    window = max(float(raw["duration_s"]), 1e-9)
    requests = int(raw["requests"])
    successes = int(raw["successes"])
    latency = {name: hist.percentile(p) for name, p in PERCENTILES.items()}
    latency.update(max=float(hist.max_us), mean=hist.mean_us)
    cpu_share = window / max(float(raw["cpu_window_s"]), 1e-9)  # CPU sampled at the bounds
    return LoadResult(
        scenario=scenario,
        target=target,
        mode=config.mode,
        concurrency=int(raw["connections"]) * int(raw["streams"]),
        connections=int(raw["connections"]),
        client_procs=1,
        target_rate=config.rate,
        warmup_s=config.warmup_s,
        duration_s=round(window, 3),
        requests=requests,
        successes=successes,
        errors={str(k): int(v) for k, v in raw["errors"].items()},
        throughput_rps=requests / window,
        success_rps=successes / window,
        latency_us=latency,
        items_per_request=items_per_request,
        items_per_s=successes * items_per_request / window,
        client_cpu_us_per_request=(
            float(raw["client_cpu_s"]) * cpu_share / requests * 1e6 if requests else None
        ),
        server_cpu_us_per_request=(
            float(raw["server_cpu_s"]) * cpu_share / requests * 1e6
            if requests and raw.get("server_cpu_s")
            else None
        ),
        send_lag_p99_us=raw.get("send_lag_p99_us"),
        started_at=started,
        histogram=hist.to_dict(),
    )
