"""Which IAM permission each of authz's own RPCs needs: one table (``RPC_PERMISSIONS``),
mirrored by docs/security.md, and the message of a refusal.

authz's administrative and simulation calls are authorized by IAM itself, as AWS authorizes
its own APIs: the caller's identity policies (and boundary, session policies, SCPs) must allow
the action on the resource, else ``AccessDenied`` with AWS's text. The check itself is the
backend's (``AuthzBackend._require``): it evaluates the caller exactly like an Authorize call.

Pure data: imports neither grpc nor the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

ON_BEHALF_ACTION = "authz:AuthorizeOnBehalf"
RELOAD_ACTION = "authz:Reload"
PREVIEW_RELOAD_ACTION = "authz:PreviewReload"
GET_STATUS_ACTION = "authz:GetStatus"
REVOKE_SESSION_ACTION = "authz:RevokeSession"
SIMULATE_PRINCIPAL_ACTION = "iam:SimulatePrincipalPolicy"
SIMULATE_CUSTOM_ACTION = "iam:SimulateCustomPolicy"
VALIDATE_POLICY_ACTION = "access-analyzer:ValidatePolicy"
# the AWS endpoint's IAM actions without a gRPC method (authz.server.aws)
CONTEXT_KEYS_CUSTOM_ACTION = "iam:GetContextKeysForCustomPolicy"
CONTEXT_KEYS_PRINCIPAL_ACTION = "iam:GetContextKeysForPrincipalPolicy"
DECODE_MESSAGE_ACTION = "sts:DecodeAuthorizationMessage"


@dataclass(frozen=True, slots=True)
class RpcPermission:
    """``rpc`` needs ``action`` on ``resource`` (``"*"`` or the request field it names)."""

    rpc: str
    action: str
    resource: str
    note: str


RPC_PERMISSIONS: tuple[RpcPermission, ...] = (
    RpcPermission(
        "Authorizer.Authorize / AuthorizeBatch with `principal` set",
        ON_BEHALF_ACTION,
        "*",
        "acting as an enforcement point that asks about another principal; mTLS service "
        "principals and `trusted_principal_arns` are trusted without it",
    ),
    RpcPermission("PolicyAdmin.Reload", RELOAD_ACTION, "*", "re-read the repository now"),
    RpcPermission(
        "PolicyAdmin.PreviewReload",
        PREVIEW_RELOAD_ACTION,
        "*",
        "the decisions a reload would change, with the deciding statements of both sides",
    ),
    RpcPermission(
        "PolicyAdmin.GetStatus",
        GET_STATUS_ACTION,
        "*",
        "revision, counts, cache statistics, the last reload error (file paths); "
        "readiness stays public through grpc.health.v1",
    ),
    RpcPermission(
        "PolicyAdmin.RevokeSession",
        REVOKE_SESSION_ACTION,
        "*",
        "refuse one STS session's token on every node (state database), as `authz sessions revoke`",
    ),
    RpcPermission(
        "PolicySimulator.SimulatePrincipalPolicy",
        SIMULATE_PRINCIPAL_ACTION,
        "PolicySourceArn",
        "checked before the principal is looked up (no NoSuchEntity without it)",
    ),
    RpcPermission(
        "PolicySimulator.SimulateCustomPolicy", SIMULATE_CUSTOM_ACTION, "*", "as in AWS IAM"
    ),
    RpcPermission(
        "PolicySimulator.ValidatePolicy",
        VALIDATE_POLICY_ACTION,
        "*",
        "as in AWS IAM Access Analyzer",
    ),
)

# Needs nothing: STS AssumeRole (authorized by the trust and identity policies themselves),
# GetCallerIdentity (AWS: always allowed for signed callers) and GetSigningKeys (public keys).
# AssumeRoleWithWebIdentity reads no caller credentials at all (the edge's PUBLIC_METHODS): the
# OIDC token in the request is the proof, and the role's trust policy alone decides.
