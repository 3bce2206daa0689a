"""``AuthzClient``: one typed method per ``authz.v1`` RPC.

Owns the channel, per-call credentials metadata and the error contract: every failed call
raises the ``authz.errors`` exception named by the AWS error code in the status (see
``_status``), with the ``grpc.RpcError`` as its cause. Responses are the generated messages.

    with AuthzClient("127.0.0.1:50051", AccessKeyCredentials("AKIA…", secret)) as client:
        provider = client.assume_role_provider("arn:aws:iam::111122223333:role/app", "worker-1")
        app = AuthzClient("127.0.0.1:50051", provider)
        app.authorize("s3:GetObject", "arn:aws:s3:::bucket/key").decision
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc

from authz._gen.authz.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    authorizer_pb2,
    authorizer_pb2_grpc,
    common_pb2,
    simulator_pb2,
    simulator_pb2_grpc,
    sts_pb2,
    sts_pb2_grpc,
)
from authz.client._status import error_from_rpc
from authz.client.credentials import (
    AccessKeyCredentials,
    Credentials,
    CredentialsProvider,
    RefreshingCredentialsProvider,
    SessionCredentials,
)
from authz.client.signing import SigningInterceptor

R = TypeVar("R")
ContextInput = Mapping[str, str | Sequence[str]]


def build_authorize_request(
    action: str,
    resource: str,
    *,
    context: ContextInput | None = None,
    resource_account: str = "",
    session_token: str | None = None,
    principal_arn: str | None = None,
) -> authorizer_pb2.AuthorizeRequest:
    """An AuthorizeRequest; a context value that is a list/tuple becomes a list-typed entry."""
    request = authorizer_pb2.AuthorizeRequest(
        action=action, resource=resource, resource_account=resource_account
    )
    for key, value in (context or {}).items():
        if isinstance(value, str):
            request.context.add(key=key, values=[value], type=common_pb2.CONTEXT_KEY_TYPE_STRING)
        else:
            request.context.add(
                key=key, values=list(value), type=common_pb2.CONTEXT_KEY_TYPE_STRING_LIST
            )
    if session_token is not None:
        request.session_token = session_token
    elif principal_arn is not None:
        request.principal_arn = principal_arn
    return request


class AuthzClient:
    """A client for one server. ``credentials``: access key, session, a provider, or None.
    ``root_certificates``: the PEM CA of a TLS server (or pass ``channel_credentials``);
    ``client_certificate`` (PEM chain, PEM key) adds mTLS: the server knows the caller by its
    certificate (a service principal), with or without signed credentials.
    ``wait_for_ready`` makes calls wait (up to ``timeout``) for the server to come up."""

    def __init__(
        self,
        target: str,
        credentials: Credentials | CredentialsProvider | None = None,
        *,
        channel_credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = 10.0,
        options: Sequence[tuple[str, Any]] = (),
        channel: grpc.Channel | None = None,
        wait_for_ready: bool = False,
        root_certificates: bytes | None = None,
        client_certificate: tuple[bytes, bytes] | None = None,
    ) -> None:
        if channel_credentials is None and client_certificate is not None:  # mTLS
            chain, key = client_certificate
            channel_credentials = grpc.ssl_channel_credentials(
                root_certificates=root_certificates, private_key=key, certificate_chain=chain
            )
        elif channel_credentials is None and root_certificates is not None:  # TLS, server auth
            channel_credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        if channel is None:
            channel = (
                grpc.secure_channel(target, channel_credentials, options=list(options))
                if channel_credentials is not None
                else grpc.insecure_channel(target, options=list(options))
            )
        self._channel = channel
        self._credentials = credentials
        channel = grpc.intercept_channel(channel, SigningInterceptor(self._current_credentials))
        self.timeout = timeout
        self.wait_for_ready = wait_for_ready
        self._sts = sts_pb2_grpc.SecurityTokenServiceStub(channel)  # type: ignore[no-untyped-call]
        self._authorizer = authorizer_pb2_grpc.AuthorizerStub(channel)  # type: ignore[no-untyped-call]
        self._simulator = simulator_pb2_grpc.PolicySimulatorStub(channel)  # type: ignore[no-untyped-call]
        self._admin = admin_pb2_grpc.PolicyAdminStub(channel)  # type: ignore[no-untyped-call]

    @classmethod
    def from_environment(cls, target: str, **kwargs: Any) -> AuthzClient:
        """A client with the credentials of the standard chain (``authz.client.chain``:
        ``AUTHZ_*``, then ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
        then web identity (``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``, as the AWS SDKs
        order it), then the ``AWS_PROFILE`` profile of the shared credentials file)."""
        from authz.client.chain import resolve_credentials
        from authz.client.web_identity import WebIdentityCredentials, web_identity_first

        if web_identity_first(os.environ):
            client = cls(target, None, **kwargs)
            client.use_credentials(WebIdentityCredentials.from_environment(client))
            return client
        return cls(target, resolve_credentials(), **kwargs)

    def use_credentials(self, credentials: Credentials | CredentialsProvider | None) -> None:
        """Authenticate later calls with ``credentials`` (e.g. a provider built on this
        client, such as ``WebIdentityCredentials``)."""
        self._credentials = credentials

    # -- plumbing ---------------------------------------------------------------------------
    def _current_credentials(self) -> Credentials | None:
        creds = self._credentials
        if creds is not None and not isinstance(creds, AccessKeyCredentials | SessionCredentials):
            creds = creds.credentials()
        return creds

    def _metadata(self, request_id: str | None) -> list[tuple[str, str]]:
        """Per-call metadata besides the credentials (``SigningInterceptor`` adds those)."""
        return [("x-request-id", request_id)] if request_id else []

    def _call(
        self,
        method: Callable[..., Any],
        request: Any,
        expect: type[R],
        request_id: str | None = None,
    ) -> R:
        try:
            response = method(
                request,
                timeout=self.timeout,
                metadata=self._metadata(request_id),
                wait_for_ready=self.wait_for_ready,
            )
            return cast(R, response)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from err

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AuthzClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- SecurityTokenService -------------------------------------------------------------
    def assume_role(
        self,
        role_arn: str,
        role_session_name: str,
        *,
        duration_seconds: int | None = None,
        external_id: str = "",
        policy: str = "",
        policy_arns: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        transitive_tag_keys: Sequence[str] = (),
        serial_number: str = "",
        token_code: str = "",
        source_identity: str = "",
    ) -> sts_pb2.AssumeRoleResponse:
        request = sts_pb2.AssumeRoleRequest(
            role_arn=role_arn,
            role_session_name=role_session_name,
            duration_seconds=duration_seconds,
            external_id=external_id,
            policy=policy,
            policy_arns=[sts_pb2.PolicyDescriptorType(arn=a) for a in policy_arns],
            tags=[sts_pb2.Tag(key=k, value=v) for k, v in (tags or {}).items()],
            transitive_tag_keys=list(transitive_tag_keys),
            serial_number=serial_number,
            token_code=token_code,
            source_identity=source_identity,
        )
        return self._call(self._sts.AssumeRole, request, sts_pb2.AssumeRoleResponse)

    def assume_role_provider(
        self, role_arn: str, role_session_name: str, **kwargs: Any
    ) -> RefreshingCredentialsProvider:
        """A provider that calls AssumeRole (with this client's credentials) whenever the
        session nears expiry. ``kwargs``: ``assume_role`` parameters and the provider's
        ``refresh_margin`` / ``advisory_margin`` / ``clock``."""
        provider_keys = {"refresh_margin", "advisory_margin", "clock"}
        provider_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in provider_keys}

        def fetch() -> SessionCredentials:
            creds = self.assume_role(role_arn, role_session_name, **kwargs).credentials
            return SessionCredentials(
                token=creds.session_token,
                expiration=creds.expiration.ToDatetime(tzinfo=UTC),
                access_key_id=creds.access_key_id,
                secret=creds.secret_access_key,
            )

        return RefreshingCredentialsProvider(fetch, **provider_kwargs)

    def assume_role_with_web_identity(
        self,
        role_arn: str,
        role_session_name: str,
        web_identity_token: str,
        *,
        duration_seconds: int | None = None,
        policy: str = "",
        policy_arns: Sequence[str] = (),
        provider_id: str = "",
    ) -> sts_pb2.AssumeRoleWithWebIdentityResponse:
        """Exchange an OIDC token for a role session; sends no credentials of this client
        (``authz.client.signing.UNSIGNED_METHODS``)."""
        request = sts_pb2.AssumeRoleWithWebIdentityRequest(
            role_arn=role_arn,
            role_session_name=role_session_name,
            web_identity_token=web_identity_token,
            duration_seconds=duration_seconds,
            policy=policy,
            policy_arns=[sts_pb2.PolicyDescriptorType(arn=a) for a in policy_arns],
            provider_id=provider_id,
        )
        return self._call(
            self._sts.AssumeRoleWithWebIdentity,
            request,
            sts_pb2.AssumeRoleWithWebIdentityResponse,
        )

    def get_caller_identity(self) -> sts_pb2.GetCallerIdentityResponse:
        return self._call(
            self._sts.GetCallerIdentity,
            sts_pb2.GetCallerIdentityRequest(),
            sts_pb2.GetCallerIdentityResponse,
        )

    def get_signing_keys(self) -> str:
        """The JWKS JSON document."""
        response = self._call(
            self._sts.GetSigningKeys,
            sts_pb2.GetSigningKeysRequest(),
            sts_pb2.GetSigningKeysResponse,
        )
        return response.jwks_json

    # -- Authorizer ---------------------------------------------------------------------
    def authorize(
        self,
        action: str,
        resource: str,
        *,
        context: ContextInput | None = None,
        resource_account: str = "",
        session_token: str | None = None,
        principal_arn: str | None = None,
        request_id: str | None = None,
    ) -> authorizer_pb2.AuthorizeResponse:
        request = build_authorize_request(
            action,
            resource,
            context=context,
            resource_account=resource_account,
            session_token=session_token,
            principal_arn=principal_arn,
        )
        return self._call(
            self._authorizer.Authorize, request, authorizer_pb2.AuthorizeResponse, request_id
        )

    def authorize_batch(
        self, items: Sequence[authorizer_pb2.AuthorizeRequest]
    ) -> list[authorizer_pb2.AuthorizeResponse]:
        """Items from ``build_authorize_request``; results in the same order."""
        request = authorizer_pb2.AuthorizeBatchRequest(items=list(items))
        return list(
            self._call(
                self._authorizer.AuthorizeBatch, request, authorizer_pb2.AuthorizeBatchResponse
            ).results
        )

    # -- PolicySimulator ----------------------------------------------------------------
    def simulate_principal_policy(
        self, **fields: Any
    ) -> simulator_pb2.SimulatePrincipalPolicyResponse:
        """``fields``: the snake_case fields of SimulatePrincipalPolicyRequest."""
        request = simulator_pb2.SimulatePrincipalPolicyRequest(**fields)
        return self._call(
            self._simulator.SimulatePrincipalPolicy,
            request,
            simulator_pb2.SimulatePrincipalPolicyResponse,
        )

    def simulate_custom_policy(self, **fields: Any) -> simulator_pb2.SimulateCustomPolicyResponse:
        """``fields``: the snake_case fields of SimulateCustomPolicyRequest."""
        request = simulator_pb2.SimulateCustomPolicyRequest(**fields)
        return self._call(
            self._simulator.SimulateCustomPolicy,
            request,
            simulator_pb2.SimulateCustomPolicyResponse,
        )

    def validate_policy(
        self, policy_document: str, policy_type: str = "identity"
    ) -> simulator_pb2.ValidatePolicyResponse:
        """``policy_type``: identity, managed, trust, resource, boundary, session or scp."""
        request = simulator_pb2.ValidatePolicyRequest(
            policy_type=f"POLICY_TYPE_{policy_type.upper()}", policy_document=policy_document
        )
        return self._call(
            self._simulator.ValidatePolicy, request, simulator_pb2.ValidatePolicyResponse
        )

    # -- PolicyAdmin --------------------------------------------------------------------
    def reload(self, *, force: bool = False) -> admin_pb2.ReloadResponse:
        return self._call(
            self._admin.Reload, admin_pb2.ReloadRequest(force=force), admin_pb2.ReloadResponse
        )

    def preview_reload(
        self, *, audit_log: bool = False, max_requests: int = 0, max_seconds: float = 0.0
    ) -> admin_pb2.PreviewReloadResponse:
        source = (
            admin_pb2.REPLAY_SOURCE_AUDIT_LOG if audit_log else admin_pb2.REPLAY_SOURCE_GENERATED
        )
        request = admin_pb2.PreviewReloadRequest(
            source=source, max_requests=max_requests, max_seconds=max_seconds
        )
        return self._call(self._admin.PreviewReload, request, admin_pb2.PreviewReloadResponse)

    def get_status(self) -> admin_pb2.GetStatusResponse:
        return self._call(
            self._admin.GetStatus, admin_pb2.GetStatusRequest(), admin_pb2.GetStatusResponse
        )

    def revoke_session(
        self, *, session_id: str = "", access_key_id: str = "", reason: str = ""
    ) -> admin_pb2.RevokeSessionResponse:
        """Refuse one session's token on every node (``authz:RevokeSession``)."""
        request = admin_pb2.RevokeSessionRequest(
            session_id=session_id, access_key_id=access_key_id, reason=reason
        )
        return self._call(self._admin.RevokeSession, request, admin_pb2.RevokeSessionResponse)
