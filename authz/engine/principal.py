"""Who is asking, and which policies speak for them: principal ARN → ``Caller``; a caller (plus
action and resource) → ``PolicyLayers``; a caller → the principal context facts
(``aws:PrincipalArn``, ``aws:userid``, ``aws:username``, ``aws:PrincipalTag/*``, ...).

Owns the resolution rules over a ``Repository``: a user's identity policies are its inline and
attached policies plus those of its groups; a role's (and every session's) are the role's
inline and attached policies; the boundary is the entity's; SCP levels come from the caller
account's OU path; the resource layer is the role's trust policy for ``sts:AssumeRole`` (and
``sts:TagSession``/``sts:SetSourceIdentity``) on a repo role, else the resource policy of the
resource ARN. Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from authz.errors import NoSuchEntity, ValidationError
from authz.iam.model import Caller, CallerKind, Policy, PolicyLayers
from authz.repo.entities import Repository, Role, User

TRUST_ACTIONS = frozenset(
    {"sts:assumerole", "sts:assumerolewithwebidentity", "sts:tagsession", "sts:setsourceidentity"}
)
_ACCOUNT = re.compile(r"^\d{12}$")
_IAM = re.compile(r"^arn:aws:iam::(\d{12}):(root|user/.+|role/.+)$")
_SESSION = re.compile(r"^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/(.+)$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/")


@dataclass(frozen=True, slots=True)
class Entity:
    """The repository entity behind a caller (at most one of the two is set)."""

    user: User | None = None
    role: Role | None = None


def resolve_caller(repo: Repository, principal: str) -> Caller:
    """A principal string → ``Caller``: a user, role or root ARN, an assumed-role session ARN,
    an account id, a service principal name (``ci.internal``), or ``""``/``*`` for anonymous.

    Principals of accounts this repository describes must exist (``NoSuchEntity``); ARNs of
    other accounts are accepted as external callers without policies.
    """
    if principal in ("", "*", "anonymous"):
        return Caller(CallerKind.ANONYMOUS)
    if _ACCOUNT.match(principal):
        principal = f"arn:aws:iam::{principal}:root"
    session = _SESSION.match(principal)
    if session:
        account, role_name, session_name = session.groups()
        role = repo.role_by_name(account, role_name)
        if role is None:
            return _external(repo, principal, account, CallerKind.ASSUMED_ROLE)
        unique = f"{role.unique_id}:{session_name}"
        return Caller(CallerKind.ASSUMED_ROLE, principal, account, role.arn, unique)
    iam = _IAM.match(principal)
    if iam:
        account, rest = iam.groups()
        if rest == "root":
            return Caller(CallerKind.ROOT, principal, account, None, account)
        if rest.startswith("user/"):
            user = repo.users_by_arn.get(principal)
            if user is None:
                return _external(repo, principal, account, CallerKind.USER)
            return Caller(CallerKind.USER, principal, account, None, user.unique_id)
        role = repo.roles_by_arn.get(principal)
        if role is None:
            return _external(repo, principal, account, CallerKind.ROLE)
        return Caller(CallerKind.ROLE, principal, account, principal, role.unique_id)
    if principal.startswith("arn:"):
        raise ValidationError(f"principal `{principal}` is not a user, role, root or session ARN")
    return Caller(CallerKind.SERVICE, principal)


def _external(repo: Repository, arn: str, account: str, kind: CallerKind) -> Caller:
    if account in repo.accounts:
        raise NoSuchEntity(f"principal `{arn}` not found in account {account}")
    role_arn = None
    if kind is CallerKind.ASSUMED_ROLE:
        role_arn = f"arn:aws:iam::{account}:role/{arn.split('/')[1]}"
    return Caller(kind, arn, account, role_arn, None)


def entity_of(repo: Repository, caller: Caller) -> Entity:
    if caller.kind is CallerKind.USER:
        return Entity(user=repo.users_by_arn.get(caller.arn))
    if caller.kind in (CallerKind.ROLE, CallerKind.ASSUMED_ROLE) and caller.role_arn:
        return Entity(role=repo.roles_by_arn.get(caller.role_arn))
    return Entity()


def identity_policies(repo: Repository, entity: Entity) -> tuple[Policy, ...]:
    """Inline then attached policies; a user's groups follow in GroupList order; each managed
    policy once."""
    out: list[Policy] = []
    seen: set[str] = set()

    def add(inline: tuple[Policy, ...], attached: tuple[str, ...]) -> None:
        out.extend(inline)
        for arn in attached:
            managed = repo.managed_policy(arn)
            if managed is not None and arn not in seen:
                seen.add(arn)
                out.append(managed.policy)

    if entity.user is not None:
        user = entity.user
        add(user.inline, user.attached)
        groups = repo.accounts[user.account].groups
        for name in user.groups:
            group = groups.get(name.lower())
            if group is not None:
                add(group.inline, group.attached)
    elif entity.role is not None:
        add(entity.role.inline, entity.role.attached)
    return tuple(out)


def boundary_policy(repo: Repository, entity: Entity) -> Policy | None:
    owner = entity.user or entity.role
    if owner is None or owner.boundary is None:
        return None
    managed = repo.managed_policy(owner.boundary)
    return managed.policy if managed else None


def trust_target(repo: Repository, action: str, resource: str) -> Role | None:
    """The repo role whose trust policy is the resource policy of this request, if any."""
    if action.lower() not in TRUST_ACTIONS:
        return None
    return repo.roles_by_arn.get(resource)


def missing_role(repo: Repository, action: str, resource: str) -> bool:
    """A trust action on a role ARN of an account this repository describes, where no such
    role exists. It is evaluated as a role whose trust policy allows nothing, so a caller
    learns nothing from the answer that it would not learn for an existing role that does
    not trust it (no existence oracle: docs/security.md)."""
    if action.lower() not in TRUST_ACTIONS or resource in repo.roles_by_arn:
        return False
    found = _ROLE_ARN.match(resource)
    return found is not None and found.group(1) in repo.accounts


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    """What a principal's entity contributes to every request it makes: identity policies, the
    boundary, the SCP levels of its account and its context facts (without session tags).
    Depends on the entity, not the session, so a snapshot can cache it per entity."""

    identity: tuple[Policy, ...] = ()
    boundary: Policy | None = None
    scp: tuple[tuple[Policy, ...], ...] = ()
    facts: Mapping[str, str] = field(default_factory=dict)


def principal_key(caller: Caller) -> tuple[str, str, str | None]:
    """The cache key of ``principal_policies``: the entity, not the session."""
    return (str(caller.kind), caller.entity_arn, caller.account)


def principal_policies(repo: Repository, caller: Caller) -> PrincipalPolicies:
    if caller.kind is CallerKind.ANONYMOUS:
        return PrincipalPolicies(facts={"aws:PrincipalType": "Anonymous"})
    if caller.kind is CallerKind.WEB_IDENTITY:  # the token's facts come with the request
        return PrincipalPolicies(facts={"aws:PrincipalType": "WebIdentityUser"})
    if caller.kind is CallerKind.SERVICE:
        return PrincipalPolicies(
            facts={
                "aws:PrincipalType": "AWSService",
                "aws:PrincipalIsAWSService": "true",
                "aws:PrincipalServiceName": caller.arn,
            }
        )
    entity = entity_of(repo, caller)
    scp: tuple[tuple[Policy, ...], ...] = ()
    facts: dict[str, str] = {"aws:PrincipalIsAWSService": "false"}  # AWS: on every signed call
    org = repo.organization
    if org is not None and caller.account is not None:
        scp = org.scp_levels(caller.account)
        if org.contains(caller.account):
            facts["aws:PrincipalOrgID"] = org.id
    owner = entity.user or entity.role
    for key, value in (owner.tags if owner is not None else {}).items():
        facts[f"aws:PrincipalTag/{key}"] = value
    return PrincipalPolicies(
        identity_policies(repo, entity), boundary_policy(repo, entity), scp, facts
    )


def policy_layers(
    repo: Repository,
    caller: Caller,
    action: str,
    resource: str,
    *,
    principal: PrincipalPolicies | None = None,
    session_policies: tuple[Policy, ...] = (),
    resource_policy: Policy | None = None,
) -> tuple[PolicyLayers, bool]:
    """The layers for one request and whether it is a trust evaluation (AssumeRole on a role,
    also on a ``missing_role``). ``resource_policy`` overrides the repository's resource policy
    (SimulatePrincipalPolicy)."""
    if principal is None:
        principal = principal_policies(repo, caller)
    role = trust_target(repo, action, resource)
    if resource_policy is None:
        if role is not None:
            resource_policy = role.trust_policy
        else:
            found = repo.resource_policy(resource)
            resource_policy = found.policy if found else None
    layers = PolicyLayers(
        identity=principal.identity,
        resource=resource_policy,
        boundary=principal.boundary,
        session=session_policies if caller.kind is CallerKind.ASSUMED_ROLE else (),
        scp=principal.scp,
        rcp=rcp_levels(repo, caller, action, resource),
    )
    return layers, role is not None or missing_role(repo, action, resource)


# Services whose resources RCPs apply to (AWS Organizations user guide, "List of AWS services
# that support RCPs", 2025); other services' resources are not capped by RCPs.
RCP_SERVICES = frozenset(
    {"s3", "sts", "kms", "sqs", "secretsmanager", "cognito-identity", "logs", "dynamodb", "ecr",
     "aoss"}
)  # fmt: skip


def rcp_levels(
    repo: Repository, caller: Caller, action: str, resource: str
) -> tuple[tuple[Policy, ...], ...]:
    """The RCP levels that cap this request (Organizations RCP rules): those of the account
    owning the resource — the caller's own account for an action on ``*`` — when it is a member
    account (never the management account), for a service RCPs support, unless the caller is a
    service-linked role."""
    org = repo.organization
    if org is None or not org.rcps:
        return ()
    if action.split(":", 1)[0].lower() not in RCP_SERVICES:
        return ()
    if ":role/aws-service-role/" in caller.entity_arn:
        return ()
    owner = resource_account(repo, resource) or (caller.account if resource == "*" else None)
    return org.rcp_levels(owner) if owner else ()


def resource_account(repo: Repository, resource: str) -> str | None:
    """The account owning a resource: a repo role, the ARN's account field, or the account
    whose ``resources/`` holds its policy; None when unknown."""
    parts = resource.split(":", 5)
    if len(parts) == 6 and _ACCOUNT.match(parts[4]):
        return parts[4]
    found = repo.resource_policy(resource)
    return found.account if found else None


def principal_facts(
    repo: Repository,
    caller: Caller,
    session_tags: Mapping[str, str] | None = None,
    *,
    principal: PrincipalPolicies | None = None,
) -> dict[str, str]:
    """The context keys the repository knows about the principal (spec §4.6, §5) beyond those
    the evaluator derives from the ``Caller`` itself: ``aws:PrincipalTag/*`` (session tags
    over the user's or role's tags), ``aws:PrincipalOrgID``, ``aws:PrincipalIsAWSService``
    (and ``aws:PrincipalServiceName`` for service callers), and ``aws:PrincipalType`` for
    anonymous and service callers. Keys in AWS spelling (``authz.iam.context_keys``)."""
    if principal is None:
        principal = principal_policies(repo, caller)
    facts = dict(principal.facts)
    if caller.kind is CallerKind.ASSUMED_ROLE and session_tags:
        for key, value in session_tags.items():
            facts[f"aws:PrincipalTag/{key}"] = value
    return facts
