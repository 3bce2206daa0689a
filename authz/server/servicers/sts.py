"""SecurityTokenService servicer: AssumeRole / GetCallerIdentity / GetSigningKeys ↔ Backend."""

from __future__ import annotations

import ipaddress

import grpc

from authz._gen.authz.v1 import sts_pb2, sts_pb2_grpc
from authz.server import callctx
from authz.server.ports import AssumeRoleParams, Backend, CallOrigin
from authz.server.servicers._fields import optional, required, timestamp


def peer_ip(peer: str) -> str | None:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` → the address; None for other transports."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return None


def source_ip(context: grpc.ServicerContext, trusted_proxies: frozenset[str]) -> str | None:
    """The caller's address: the peer, or the last ``x-forwarded-for`` hop when the peer is a
    trusted proxy (and that hop is a valid IP address)."""
    peer = peer_ip(context.peer())
    if peer is None or peer not in trusted_proxies:
        return peer
    for key, value in context.invocation_metadata():
        if key == "x-forwarded-for" and isinstance(value, str):
            hop = value.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def _is_tls(context: grpc.ServicerContext) -> bool:
    return b"ssl" in (context.auth_context().get("transport_security_type") or b"")


class SecurityTokenServiceServicer(sts_pb2_grpc.SecurityTokenServiceServicer):
    def __init__(self, backend: Backend, trusted_proxies: frozenset[str] = frozenset()) -> None:
        self._backend = backend
        self._trusted_proxies = trusted_proxies

    def AssumeRole(
        self, request: sts_pb2.AssumeRoleRequest, context: grpc.ServicerContext
    ) -> sts_pb2.AssumeRoleResponse:
        params = AssumeRoleParams(
            role_arn=required(request.role_arn, "roleArn"),
            role_session_name=required(request.role_session_name, "roleSessionName"),
            duration_seconds=(
                request.duration_seconds if request.HasField("duration_seconds") else None
            ),
            external_id=optional(request.external_id),
            policy=optional(request.policy),
            policy_arns=tuple(
                required(p.arn, f"policyArns.{i + 1}.member.arn")
                for i, p in enumerate(request.policy_arns)
            ),
            tags=tuple(
                (required(t.key, f"tags.{i + 1}.member.key"), t.value)
                for i, t in enumerate(request.tags)
            ),
            transitive_tag_keys=tuple(request.transitive_tag_keys),
            serial_number=optional(request.serial_number),
            token_code=optional(request.token_code),
            source_identity=optional(request.source_identity),
        )
        origin = CallOrigin(
            source_ip=source_ip(context, self._trusted_proxies),
            secure_transport=b"ssl"
            in (context.auth_context().get("transport_security_type") or b""),
        )
        result = self._backend.assume_role(callctx.require_identity(), params, origin)
        response = sts_pb2.AssumeRoleResponse(
            credentials=sts_pb2.Credentials(
                access_key_id=result.access_key_id,
                secret_access_key=result.secret_access_key,
                session_token=result.session_token,
                expiration=timestamp(result.expiration),
            ),
            assumed_role_user=sts_pb2.AssumedRoleUser(
                arn=result.assumed_role_arn, assumed_role_id=result.assumed_role_id
            ),
            source_identity=result.source_identity or "",
            effective_duration_seconds=result.effective_duration_seconds,
            duration_capped_by=result.duration_capped_by or "",
            revision=result.revision or "",
        )
        if result.packed_policy_size is not None:
            response.packed_policy_size = result.packed_policy_size
        return response

    def GetCallerIdentity(
        self, request: sts_pb2.GetCallerIdentityRequest, context: grpc.ServicerContext
    ) -> sts_pb2.GetCallerIdentityResponse:
        result = self._backend.get_caller_identity(callctx.require_identity())
        return sts_pb2.GetCallerIdentityResponse(
            user_id=result.user_id, account=result.account, arn=result.arn
        )

    def GetSigningKeys(
        self, request: sts_pb2.GetSigningKeysRequest, context: grpc.ServicerContext
    ) -> sts_pb2.GetSigningKeysResponse:
        return sts_pb2.GetSigningKeysResponse(jwks_json=self._backend.signing_keys_jwks())
