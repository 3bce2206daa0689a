"""PolicyAdmin servicer: Reload / GetStatus ↔ Backend.

Owns the admin access rule: when ``admin_principal_arns`` is set, only those callers may use
PolicyAdmin (``AccessDenied`` otherwise); when it is ``None`` any authenticated caller may.
Reports each reload to ``on_reload`` (metrics, health).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from authz import errors
from authz._gen.authz.v1 import admin_pb2, admin_pb2_grpc
from authz.errors import Problem
from authz.server import callctx
from authz.server.ports import Backend, Identity, ReloadResult
from authz.server.servicers._fields import timestamp


class PolicyAdminServicer(admin_pb2_grpc.PolicyAdminServicer):
    def __init__(
        self,
        backend: Backend,
        *,
        admin_principal_arns: frozenset[str] | None,
        on_reload: Callable[[ReloadResult], None] | None = None,
    ) -> None:
        self._backend = backend
        self._admins = admin_principal_arns
        self._on_reload = on_reload

    def _admin(self, action: str) -> Identity:
        ident = callctx.require_identity()
        if self._admins is not None and ident.caller.arn not in self._admins:
            raise errors.AccessDenied(
                f"User: {ident.caller.arn or 'anonymous'} is not authorized to perform: "
                f"authz:{action}"
            )
        return ident

    def Reload(
        self, request: admin_pb2.ReloadRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ReloadResponse:
        result = self._backend.reload(self._admin("Reload"))
        if self._on_reload is not None:
            self._on_reload(result)
        return admin_pb2.ReloadResponse(
            revision=result.revision or "",
            changed=result.changed,
            error=result.error or "",
            problems=[_problem(p) for p in result.problems],
        )

    def GetStatus(
        self, request: admin_pb2.GetStatusRequest, context: grpc.ServicerContext
    ) -> admin_pb2.GetStatusResponse:
        status = self._backend.status(self._admin("GetStatus"))
        return admin_pb2.GetStatusResponse(
            revision=status.revision or "",
            loaded_at=timestamp(status.loaded_at),
            counts=dict(status.counts),
            last_reload_error=status.last_reload_error or "",
            cache_stats=dict(status.cache_stats),
            ready=self._backend.ready(),
            last_reload_problems=[_problem(p) for p in status.last_reload_problems],
            last_reload_attempt=timestamp(status.last_reload_attempt),
        )


def _problem(problem: Problem) -> admin_pb2.RepositoryProblem:
    return admin_pb2.RepositoryProblem(
        file=problem.file, path=problem.path, code=problem.code, message=problem.message
    )
