"""SecurityTokenService servicer: AssumeRole / GetCallerIdentity / GetSigningKeys ↔ Backend."""

from __future__ import annotations

import grpc

from authz._gen.authz.v1 import sts_pb2, sts_pb2_grpc
from authz.server import callctx
from authz.server.origin import call_origin
from authz.server.ports import AssumeRoleParams, AssumeRoleResult, Backend, WebIdentityParams
from authz.server.servicers._fields import optional, required, timestamp


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
        ident = callctx.require_identity()
        origin = ident.origin or call_origin(context, self._trusted_proxies)
        result = self._backend.assume_role(ident, params, origin)
        response = sts_pb2.AssumeRoleResponse(
            credentials=_credentials(result),
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

    def AssumeRoleWithWebIdentity(
        self, request: sts_pb2.AssumeRoleWithWebIdentityRequest, context: grpc.ServicerContext
    ) -> sts_pb2.AssumeRoleWithWebIdentityResponse:
        """No caller identity (a public method of the edge): the token is the proof."""
        params = WebIdentityParams(
            role_arn=required(request.role_arn, "roleArn"),
            role_session_name=required(request.role_session_name, "roleSessionName"),
            web_identity_token=required(request.web_identity_token, "webIdentityToken"),
            provider_id=optional(request.provider_id),
            policy=optional(request.policy),
            policy_arns=tuple(
                required(p.arn, f"policyArns.{i + 1}.member.arn")
                for i, p in enumerate(request.policy_arns)
            ),
            duration_seconds=(
                request.duration_seconds if request.HasField("duration_seconds") else None
            ),
        )
        origin = callctx.origin() or call_origin(context, self._trusted_proxies)
        found = self._backend.assume_role_with_web_identity(params, origin)
        result = found.session
        response = sts_pb2.AssumeRoleWithWebIdentityResponse(
            credentials=_credentials(result),
            subject_from_web_identity_token=found.subject,
            assumed_role_user=sts_pb2.AssumedRoleUser(
                arn=result.assumed_role_arn, assumed_role_id=result.assumed_role_id
            ),
            provider=found.provider,
            audience=found.audience,
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


def _credentials(result: AssumeRoleResult) -> sts_pb2.Credentials:
    return sts_pb2.Credentials(
        access_key_id=result.access_key_id,
        secret_access_key=result.secret_access_key,
        session_token=result.session_token,
        expiration=timestamp(result.expiration),
    )
