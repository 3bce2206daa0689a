"""The ``authz.v1`` servicers: thin adapters between protobuf messages and ``Backend``.

Each servicer validates the presence of required fields (``ValidationError``), converts to the
plain shapes of ``authz.server.ports``, calls the backend and converts back. They raise
``AuthzError``; the edge interceptor turns that into a status.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from authz._gen.authz.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    authorizer_pb2,
    authorizer_pb2_grpc,
    simulator_pb2,
    simulator_pb2_grpc,
    sts_pb2,
    sts_pb2_grpc,
)
from authz.engine.decision import Decision
from authz.limits import RequestLimits
from authz.server.ports import Backend, ReloadResult
from authz.server.servicers.admin import PolicyAdminServicer
from authz.server.servicers.authorizer import AuthorizerServicer
from authz.server.servicers.simulator import PolicySimulatorServicer
from authz.server.servicers.sts import SecurityTokenServiceServicer

SERVICE_NAMES: tuple[str, ...] = (
    sts_pb2.DESCRIPTOR.services_by_name["SecurityTokenService"].full_name,
    authorizer_pb2.DESCRIPTOR.services_by_name["Authorizer"].full_name,
    simulator_pb2.DESCRIPTOR.services_by_name["PolicySimulator"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["PolicyAdmin"].full_name,
)

__all__ = [
    "SERVICE_NAMES",
    "AuthorizerServicer",
    "PolicyAdminServicer",
    "PolicySimulatorServicer",
    "SecurityTokenServiceServicer",
    "add_servicers",
]


def add_servicers(
    server: grpc.Server,
    backend: Backend,
    *,
    max_batch_size: int,
    trusted_principal_arns: frozenset[str],
    on_decision: Callable[[Decision], None] | None = None,
    on_reload: Callable[[ReloadResult], None] | None = None,
    trusted_proxies: frozenset[str] = frozenset(),
    limits: RequestLimits | None = None,
    max_message_bytes: int = 4 * 1024 * 1024,
    repeat_memo_bytes: int = 8 * 1024 * 1024,
) -> None:
    """Register the four ``authz.v1`` services on ``server``."""
    sts_pb2_grpc.add_SecurityTokenServiceServicer_to_server(  # type: ignore[no-untyped-call]
        SecurityTokenServiceServicer(backend, trusted_proxies), server
    )
    authorizer_pb2_grpc.add_AuthorizerServicer_to_server(  # type: ignore[no-untyped-call]
        AuthorizerServicer(
            backend,
            max_batch_size=max_batch_size,
            trusted_principal_arns=trusted_principal_arns,
            on_decision=on_decision,
            limits=limits,
            repeat_memo_bytes=repeat_memo_bytes,
        ),
        server,
    )
    simulator_pb2_grpc.add_PolicySimulatorServicer_to_server(  # type: ignore[no-untyped-call]
        PolicySimulatorServicer(backend, limits=limits, max_message_bytes=max_message_bytes),
        server,
    )
    admin_pb2_grpc.add_PolicyAdminServicer_to_server(  # type: ignore[no-untyped-call]
        PolicyAdminServicer(backend, on_reload=on_reload),
        server,
    )
