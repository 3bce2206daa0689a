"""The gRPC stack alone, in instructions per call: grpcio's thread-pool server against its
asyncio server (``grpc.aio``), each answering the health Check and nothing else, counted
whole by callgrind while the C client sends ``--calls`` calls (an idle segment of the same
length subtracted). Issue 15 asked whether the stack could cost less; this answers whether
moving authz to ``grpc.aio`` would be a way.

    python benchmarks/echo_instr.py [--calls 400]

Prints one line per server and writes ``results/echo-instr-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpc_instr import control, read_parts  # noqa: E402
from sigv4_bench import free_port, wait_port  # noqa: E402

from authz.bench import native, scenarios  # noqa: E402
from authz.bench.loadgen import LoadConfig  # noqa: E402
from authz.bench.report import write_result  # noqa: E402

SERVER = """
import asyncio, sys
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

kind, port = sys.argv[1], int(sys.argv[2])
if kind == "sync":  # what authz serve runs (its edge adds its own work on top)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()
else:
    class Health(health_pb2_grpc.HealthServicer):
        async def Check(self, request, context):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    async def main():
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())
"""


def count(kind: str, calls: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="echo-instr-"))
    out, port = work / "cg.out", free_port()
    (work / "server.py").write_text(SERVER)
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=no",
         f"--callgrind-out-file={out}", sys.executable, str(work / "server.py"), kind,
         str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port, proc, timeout=300)
        path = native.write_request_file(work / "echo.bin", scenarios.native_echo(10))

        def send(n: int) -> int:
            config = LoadConfig(concurrency=4, connections=1, duration_s=600, warmup_s=0,
                                max_requests=n)  # fmt: skip
            result, _raw = native.run_loadc(path, f"127.0.0.1:{port}", config, scenario=kind)
            if result.errors or result.successes < n:
                raise SystemExit(f"{kind}: {result.successes} answered, {result.errors}")
            return result.successes

        send(200)  # uncounted warm-up
        control(proc.pid, "-i", "on")
        control(proc.pid, "--dump=start")
        started = time.monotonic()
        answered = send(calls)
        seconds = time.monotonic() - started
        control(proc.pid, "--dump=busy")
        time.sleep(seconds)
        control(proc.pid, "--dump=idle")
        control(proc.pid, "-i", "off")
    finally:
        proc.terminate()
        proc.wait(60)
    parts = read_parts(out)
    return {"calls": answered, "busy": parts[2], "idle": parts[3],
            "per_call": round((parts[2] - parts[3]) / answered)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    native.loadc_path()
    servers = {}
    for kind in ("sync", "aio"):
        servers[kind] = count(kind, args.calls)
        print(kind, servers[kind]["per_call"], "instructions per health Check", flush=True)
    doc = {"benchmark": "echo-instr", "command": f"python benchmarks/echo_instr.py --calls "
           f"{args.calls}", "servers": servers}  # fmt: skip
    dest = write_result(args.out, "echo-instr", doc)
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
