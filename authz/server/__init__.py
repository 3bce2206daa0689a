"""The gRPC edge of authz: the only package (with ``authz.client``) that imports ``grpc``.

ports.py        the Backend protocol and the plain request/response shapes
app.py          ServerConfig, create_server, serve (graceful shutdown), AuthzServer
workers.py      N processes on one port (SO_REUSEPORT)
interceptors.py request id, concurrency limit, authentication, metrics, audit hand-off
errors.py       exception → gRPC status + AWS error code (ErrorInfo + trailing metadata)
servicers/      thin proto ↔ Backend adapters
health.py       grpc.health.v1 driven by Backend.ready()
metrics.py      Prometheus metrics in a per-server registry, optional exporter port
audit.py        CloudTrail-like JSON-lines audit log through a bounded queue
logs.py         JSON log formatter carrying the request id, token redaction
callctx.py      per-call context variables (request id, identity)
"""

from authz.server.app import AuthzServer, ServerConfig, create_server, serve
from authz.server.interceptors import (
    ACCESS_KEY_ID_KEY,
    AUTHORIZATION_KEY,
    SECRET_ACCESS_KEY_KEY,
)
from authz.server.ports import (
    AssumeRoleParams,
    AssumeRoleResult,
    AuthMethod,
    AuthorizeParams,
    AuthorizeResult,
    Backend,
    CallerIdentityResult,
    CallOrigin,
    Identity,
    PreviewResult,
    ReloadResult,
    StatusResult,
    ValidatePolicyResult,
)
from authz.server.workers import run_workers

__all__ = [
    "ACCESS_KEY_ID_KEY",
    "AUTHORIZATION_KEY",
    "SECRET_ACCESS_KEY_KEY",
    "AssumeRoleParams",
    "AssumeRoleResult",
    "AuthMethod",
    "AuthorizeParams",
    "AuthorizeResult",
    "AuthzServer",
    "Backend",
    "CallOrigin",
    "CallerIdentityResult",
    "Identity",
    "PreviewResult",
    "ReloadResult",
    "ServerConfig",
    "StatusResult",
    "ValidatePolicyResult",
    "create_server",
    "run_workers",
    "serve",
]
