"""PolicyAdmin servicer: Reload / PreviewReload / GetStatus / RevokeSession ↔ Backend.

Who may call them is IAM's answer, asked by the backend (``authz:Reload``,
``authz:PreviewReload``, ``authz:GetStatus``, ``authz:RevokeSession``: ``authz.permissions``).
Reports each reload to ``on_reload`` (metrics, health).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from authz import errors
from authz._gen.authz.v1 import admin_pb2, admin_pb2_grpc
from authz.engine.diff import ChangedDecision, Side
from authz.errors import Problem
from authz.server import callctx
from authz.server.ports import Backend, ReloadResult
from authz.server.servicers._fields import timestamp


class PolicyAdminServicer(admin_pb2_grpc.PolicyAdminServicer):
    def __init__(
        self,
        backend: Backend,
        *,
        on_reload: Callable[[ReloadResult], None] | None = None,
    ) -> None:
        self._backend = backend
        self._on_reload = on_reload

    def Reload(
        self, request: admin_pb2.ReloadRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ReloadResponse:
        result = self._backend.reload(callctx.require_identity(), force=request.force)
        if self._on_reload is not None:
            self._on_reload(result)
        return admin_pb2.ReloadResponse(
            revision=result.revision or "",
            changed=result.changed,
            error=result.error or "",
            problems=[_problem(p) for p in result.problems],
        )

    def PreviewReload(
        self, request: admin_pb2.PreviewReloadRequest, context: grpc.ServicerContext
    ) -> admin_pb2.PreviewReloadResponse:
        identity = callctx.require_identity()
        max_requests = request.max_requests or DEFAULT_PREVIEW_REQUESTS
        max_seconds = request.max_seconds or DEFAULT_PREVIEW_SECONDS
        if not 0 < max_requests <= DEFAULT_PREVIEW_REQUESTS:
            raise errors.ValidationError(
                f"max_requests must be between 1 and {DEFAULT_PREVIEW_REQUESTS}"
            )
        if not 0 < max_seconds <= 600:
            raise errors.ValidationError("max_seconds must be between 0 and 600")
        result = self._backend.preview_reload(
            identity,
            source=_SOURCES.get(request.source, "generated"),
            max_requests=max_requests,
            max_seconds=max_seconds,
        )
        report = result.report
        if report is None:
            return admin_pb2.PreviewReloadResponse(problems=[_problem(p) for p in result.problems])
        return admin_pb2.PreviewReloadResponse(
            serving_revision=report.old_revision,
            candidate_revision=report.new_revision,
            requests_replayed=report.requests,
            complete=report.complete,
            changed=[_changed(c) for c in report.changed],
            seconds=report.seconds,
        )

    def RevokeSession(
        self, request: admin_pb2.RevokeSessionRequest, context: grpc.ServicerContext
    ) -> admin_pb2.RevokeSessionResponse:
        expires_at = request.expires_at.seconds if request.HasField("expires_at") else None
        revocation = self._backend.revoke_session(
            callctx.require_identity(),
            session_id=request.session_id or None,
            access_key_id=request.access_key_id or None,
            reason=request.reason,
            expires_at=expires_at,
        )
        return admin_pb2.RevokeSessionResponse(
            kind=revocation.kind,
            id=revocation.value,
            revoked_at=Timestamp(seconds=revocation.revoked_at),
            expires_at=Timestamp(seconds=revocation.expires_at),
        )

    def GetStatus(
        self, request: admin_pb2.GetStatusRequest, context: grpc.ServicerContext
    ) -> admin_pb2.GetStatusResponse:
        status = self._backend.status(callctx.require_identity())
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


_SOURCES = {admin_pb2.REPLAY_SOURCE_AUDIT_LOG: "audit"}
DEFAULT_PREVIEW_REQUESTS = 200_000
DEFAULT_PREVIEW_SECONDS = 60.0


def _side(side: Side) -> admin_pb2.ReplayedDecision:
    return admin_pb2.ReplayedDecision(
        decision=side.decision,
        deciding_statements=list(side.statements),
        failing_layer=side.failing_layer or "",
        error=side.error or "",
    )


def _changed(change: ChangedDecision) -> admin_pb2.ChangedDecision:
    request = change.request
    return admin_pb2.ChangedDecision(
        principal=request.principal,
        action=request.action,
        resource=request.resource,
        origin=request.origin,
        serving=_side(change.old),
        candidate=_side(change.new),
    )


def _problem(problem: Problem) -> admin_pb2.RepositoryProblem:
    return admin_pb2.RepositoryProblem(
        file=problem.file, path=problem.path, code=problem.code, message=problem.message
    )
