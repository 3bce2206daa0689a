"""Baseline harness: the least a gRPC + cedarpy decision service can do.

``Decide``: one pre-parsed ``cedarpy.is_authorized`` over the 10-statement policy set per
RPC (the request index picks one of 1000 distinct requests). ``DecideBatch``: one
``is_authorized_batch`` of 100 requests per RPC. Plus grpc.health.v1 for the echo baseline.
The ratios of issue 6 compare authz's Authorize / AuthorizeBatch against these.

    python benchmarks/harness/cedar_harness.py [--port 0] [--threads 16]
"""

from __future__ import annotations

import sys

import cedarpy
import grpc
from harness_policy import parse, request_pool
from harness_server import index_of, serve

BATCH = 100
POLICY_SET, ENTITIES = parse()
POOL = request_pool()
BATCHES = [POOL[i : i + BATCH] for i in range(0, len(POOL), BATCH)]


def decide(request: bytes, _context: grpc.ServicerContext) -> bytes:
    result = cedarpy.is_authorized(POOL[index_of(request) % len(POOL)], POLICY_SET, ENTITIES)
    return b"\x01" if result.decision == cedarpy.Decision.Allow else b"\x00"


def decide_batch(request: bytes, _context: grpc.ServicerContext) -> bytes:
    batch = BATCHES[index_of(request) % len(BATCHES)]
    results = cedarpy.is_authorized_batch(batch, POLICY_SET, ENTITIES)
    return bytes(1 if r.decision == cedarpy.Decision.Allow else 0 for r in results)


if __name__ == "__main__":
    sys.exit(serve({"Decide": decide, "DecideBatch": decide_batch}))
