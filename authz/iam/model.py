"""The IAM model: parsed policy documents, callers and requests, as frozen dataclasses.

Owns the shapes every other stage shares. Imports neither cedarpy nor grpc.
A ``Policy`` is produced only by ``authz.iam.parse.parse_policy`` (which validates it);
everything downstream may assume the invariants documented on each field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class PolicyType(StrEnum):
    """How a document is used; decides which elements are allowed (spec §1.2)."""

    IDENTITY = "identity"  # inline identity policy (user / group / role)
    MANAGED = "managed"  # customer or AWS managed policy (identity-based)
    TRUST = "trust"  # role trust policy (resource-based, no Resource element)
    RESOURCE = "resource"  # resource-based policy (bucket policy, ...)
    BOUNDARY = "boundary"  # permissions boundary (a managed policy used as boundary)
    SESSION = "session"  # session policy passed to AssumeRole
    SCP = "scp"  # service control policy
    RCP = "rcp"  # resource control policy (Organizations; Principal is always "*")

    @property
    def has_principal(self) -> bool:
        return self in (PolicyType.TRUST, PolicyType.RESOURCE, PolicyType.RCP)


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key) pair of a Condition block with its values.

    ``operator`` is the full name as written (``ForAnyValue:StringLikeIfExists``);
    ``base`` the operator without qualifier or ``IfExists`` (``StringLike``).
    ``key`` keeps the spelling of the document; ``key_lc`` is its lowercased form.
    ``values`` are strings: JSON booleans become ``"true"``/``"false"``, numbers their text.
    """

    operator: str
    qualifier: str  # "" | "ForAllValues" | "ForAnyValue"
    base: str
    if_exists: bool
    key: str
    values: tuple[str, ...]

    @property
    def key_lc(self) -> str:
        return self.key.lower()


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """The value of a ``Principal`` / ``NotPrincipal`` element.

    ``wildcard`` is true for ``"*"`` and for ``{"AWS": "*"}``. ``aws`` holds the other AWS
    entries as written (account ids, ARNs, unique ids).
    """

    wildcard: bool = False
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement. Exactly one of ``actions``/``not_actions`` is non-empty; the same for
    resources (both empty only in a trust policy, where the role is the implicit resource)."""

    index: int
    sid: str | None
    effect: Effect
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    principal: PrincipalSpec | None = None
    not_principal: PrincipalSpec | None = None
    conditions: tuple[Condition, ...] = ()

    @property
    def label(self) -> str:
        """The Sid, or ``#<index>`` when the statement has none."""
        return self.sid if self.sid else f"#{self.index}"


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed, validated policy document.

    ``name`` identifies the document in decisions and errors (e.g. ``role/foo/trust``,
    ``arn:aws:iam::aws:policy/ReadOnlyAccess``); ``source`` is the file it came from, if any.
    ``variables`` is true when policy variables are expanded (Version 2012-10-17).
    """

    name: str
    policy_type: PolicyType
    version: str | None
    statements: tuple[Statement, ...]
    source: str | None = None
    policy_id: str | None = None
    digest: str = ""  # content hash of the canonical document (set by parse_policy)

    @property
    def variables(self) -> bool:
        return self.version == "2012-10-17"


class CallerKind(StrEnum):
    USER = "user"
    ROOT = "root"
    ROLE = "role"  # an IAM role acting directly (rare; no session)
    ASSUMED_ROLE = "assumed_role"
    FEDERATED_USER = "federated_user"
    SERVICE = "service"
    # the holder of a verified OIDC token asking to assume a role (AssumeRoleWithWebIdentity):
    # ``arn`` is the IAM OIDC provider ARN, the ``Federated`` principal trust policies name
    WEB_IDENTITY = "web_identity"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal of a request.

    ``arn`` is the principal's own ARN (session ARN for a role session, the service name for a
    service principal, ``""`` for anonymous). ``role_arn`` is set for role sessions.
    ``unique_id`` is the value of ``aws:userid`` (``AIDA…``, ``AROA…:session``, account id).
    """

    kind: CallerKind
    arn: str = ""
    account: str | None = None
    role_arn: str | None = None
    unique_id: str | None = None

    def __init__(
        self,
        kind: CallerKind,
        arn: str = "",
        account: str | None = None,
        role_arn: str | None = None,
        unique_id: str | None = None,
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "arn", arn)
        object.__setattr__(self, "account", account)
        object.__setattr__(self, "role_arn", role_arn)
        object.__setattr__(self, "unique_id", unique_id)

    def __hash__(self) -> int:  # a cache key of every request (the generated one: interpreted)
        return hash((self.kind, self.arn, self.account, self.role_arn, self.unique_id))

    def __eq__(self, other: object) -> bool:  # compared in cache lookups (generated: interpreted)
        if type(other) is not Caller:
            return NotImplemented
        return (
            self.kind == other.kind
            and self.arn == other.arn
            and self.account == other.account
            and self.role_arn == other.role_arn
            and self.unique_id == other.unique_id
        )

    @property
    def entity_arn(self) -> str:
        """The ARN that identity policies and ``aws:PrincipalArn`` refer to."""
        return self.role_arn if self.kind is CallerKind.ASSUMED_ROLE and self.role_arn else self.arn

    @property
    def user_name(self) -> str | None:
        if self.kind is CallerKind.USER:
            return self.arn.rsplit("/", 1)[-1]
        return None


ContextValue = str | tuple[str, ...]


def normalize_context(context: Mapping[str, object]) -> dict[str, ContextValue]:
    """Lowercase key names; lists become tuples of strings; scalars become strings."""
    out: dict[str, ContextValue] = {}
    for key, value in context.items():
        if type(value) is str:  # the common case first
            out[key.lower()] = value
        elif isinstance(value, list | tuple):
            out[key.lower()] = tuple(_scalar(v) for v in value)
        else:
            out[key.lower()] = _scalar(value)
    return out


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """One authorization question. ``context`` keys are lowercased (``normalize_context``)."""

    caller: Caller
    action: str
    resource: str
    resource_account: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def __init__(
        self,
        caller: Caller,
        action: str,
        resource: str,
        resource_account: str | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "caller", caller)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "resource_account", resource_account)
        object.__setattr__(self, "context", {} if context is None else context)


@dataclass(frozen=True, slots=True)
class PolicyLayers:
    """The policies that apply to one request, by layer (spec §3).

    ``resource`` is the resource-based policy (a role's trust policy for sts:AssumeRole).
    ``scp`` holds one tuple per level of the caller account's OU path, root first; an empty
    outer tuple means no SCPs apply. ``rcp`` likewise holds the resource control policies of
    each level of the *resource* account's OU path (empty when none apply); every level also
    has the AWS-managed ``RCPFullAWSAccess``, which cannot be detached, so RCPs only deny.
    """

    identity: tuple[Policy, ...] = ()
    resource: Policy | None = None
    boundary: Policy | None = None
    session: tuple[Policy, ...] = ()
    scp: tuple[tuple[Policy, ...], ...] = ()
    rcp: tuple[tuple[Policy, ...], ...] = ()

    def __init__(
        self,
        identity: tuple[Policy, ...] = (),
        resource: Policy | None = None,
        boundary: Policy | None = None,
        session: tuple[Policy, ...] = (),
        scp: tuple[tuple[Policy, ...], ...] = (),
        rcp: tuple[tuple[Policy, ...], ...] = (),
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "identity", identity)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "boundary", boundary)
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "scp", scp)
        object.__setattr__(self, "rcp", rcp)
