"""The common frame of the baseline harnesses: a tiny sync gRPC server (thread pool, generic
byte handlers, no project protos) with the standard health service, bound to 127.0.0.1 on a
free port that it prints as ``LISTENING 127.0.0.1:<port>`` on stdout, stopped by SIGTERM or
SIGINT. Imports nothing from authz, so the harnesses measure grpc + cedarpy alone.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE = "authz.bench.Harness"
Handler = Callable[[bytes, grpc.ServicerContext], bytes]


def serve(methods: Mapping[str, Handler], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--threads", type=int, default=16, help="server thread pool size")
    args = parser.parse_args(argv)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads))
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn) for name, fn in methods.items()
    }  # no (de)serializers: bytes in, bytes out
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    gc.collect()
    gc.freeze()  # as authz serve does (authz.server.app.tune_collector), so that
    gc.set_threshold(100_000, 50, 100)  # the baseline gets the same collector settings
    server.start()
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    print(f"LISTENING 127.0.0.1:{port}", flush=True)
    stopped.wait(timeout=3600.0)  # bounded even if nobody stops us
    server.stop(grace=0.5).wait(timeout=2.0)
    return 0


def index_of(request: bytes) -> int:
    """The request index the load generator sent (ASCII digits; 0 when empty)."""
    return int(request) if request else 0


if __name__ == "__main__":
    sys.exit(serve({}))
