"""Baseline harness: the least an AssumeRole service can do over gRPC.

``AssumeRole``: one pre-parsed cedarpy trust-policy decision plus one EdDSA (Ed25519) JWT
signed with PyJWT per RPC, the token returned as the response body. Plus grpc.health.v1 for
the echo baseline. Issue 6 compares authz's AssumeRole against this.

    python benchmarks/harness/sts_harness.py [--port 0] [--threads 16]
"""

from __future__ import annotations

import sys
import time
import uuid

import cedarpy
import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harness_policy import ACCOUNT, ROLE_ARN, assume_role_request, parse
from harness_server import index_of, serve

POLICY_SET, ENTITIES = parse()
SIGNING_KEY = Ed25519PrivateKey.generate()
KID = "bench-1"


def assume_role(request: bytes, context: grpc.ServicerContext) -> bytes:
    index = index_of(request)
    result = cedarpy.is_authorized(assume_role_request(index), POLICY_SET, ENTITIES)
    if result.decision != cedarpy.Decision.Allow:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "AccessDenied")
    now = int(time.time())
    claims = {
        "iss": "authz-bench",
        "sub": f"arn:aws:sts::{ACCOUNT}:assumed-role/bench-role/s{index}",
        "role_arn": ROLE_ARN,
        "account": ACCOUNT,
        "iat": now,
        "exp": now + 3600,
        "sid": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, SIGNING_KEY, algorithm="EdDSA", headers={"kid": KID})
    return token.encode()


if __name__ == "__main__":
    sys.exit(serve({"AssumeRole": assume_role}))
