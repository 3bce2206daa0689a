"""Who may state which request context key: the server, an enforcement point asking on behalf
of a principal, or anyone. One table (``SERVER_KEYS`` / ``SERVER_PREFIXES`` /
``ON_BEHALF_KEYS``), the single source for the check below and for docs/security.md.

* **server** keys are facts about the principal, its credentials, the clock and (for a
  principal asking about itself) its connection. The server derives them (repository,
  organization.json, the verified token, the clock, the gRPC peer); a caller sending one is
  refused with ``ValidationError`` naming the key, whoever the caller is.
* **on-behalf** keys describe where an end user's request came from. The server derives them
  from the connection when a principal asks about itself (so it may not send them); an
  enforcement point asking on behalf of a principal (``Authorize.principal``) supplies the end
  user's values, which the server cannot see.
* every other key (``aws:RequestTag/*``, ``aws:TagKeys``, ``aws:ResourceTag/*``,
  ``aws:RequestedRegion``, ``aws:Referer``, ``aws:UserAgent``, service keys such as
  ``s3:prefix``) describes the request or its resource and may be sent by any caller.

Keys are compared lowercased (IAM context keys are case-insensitive). Simulations
(SimulateCustomPolicy, SimulatePrincipalPolicy) are not checked: they state hypotheses.
Pure data and one function; imports nothing of the engine, grpc or cedarpy.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from authz.errors import ValidationError


class KeyOwner(StrEnum):
    SERVER = "server"
    ON_BEHALF = "on-behalf"
    REQUEST = "request"


# key (lowercased) -> where the server takes its value from (docs/security.md mirrors this)
SERVER_KEYS: dict[str, str] = {
    "aws:principalarn": "the authenticated principal (a session's role ARN)",
    "aws:principalaccount": "the authenticated principal",
    "aws:principaltype": "the authenticated principal",
    "aws:principalorgid": "organization.json, when the principal's account is a member",
    "aws:principalorgpaths": "not derived: absent",
    "aws:principalisawsservice": "`true` for mTLS service principals, else `false`",
    "aws:principalservicename": "the mTLS service principal's name",
    "aws:principalservicenameslist": "not derived: absent",
    "aws:username": "the IAM user's name (absent for roles and sessions)",
    "aws:userid": "the user's or role's unique id (`AROA…:session` for sessions)",
    "aws:currenttime": "the server clock",
    "aws:epochtime": "the server clock",
    "aws:multifactorauthpresent": "the session token / a verified MFA code",
    "aws:multifactorauthage": "the session token / a verified MFA code",
    "aws:tokenissuetime": "the session token",
    "aws:sourceidentity": "the session token",
    "aws:federatedprovider": "the session token (the OIDC provider of AssumeRoleWithWebIdentity)",
    "aws:assumedroot": "not derived: absent",
}  # fmt: skip
SERVER_PREFIXES: dict[str, str] = {
    "aws:principaltag/": "the user's or role's tags in the repository, session tags over them",
}
ON_BEHALF_KEYS: dict[str, str] = {
    "aws:sourceip": "the gRPC peer address, or the last `x-forwarded-for` hop of a trusted proxy",
    "aws:securetransport": "whether the server's port is TLS",
    "aws:vpcsourceip": "not derived: absent",
    "aws:sourcevpc": "not derived: absent",
    "aws:sourcevpce": "not derived: absent",
    "aws:viaawsservice": "not derived: absent",
    "aws:calledvia": "not derived: absent",
    "aws:calledviafirst": "not derived: absent",
    "aws:calledvialast": "not derived: absent",
    "aws:sourcearn": "not derived: absent",
    "aws:sourceaccount": "not derived: absent",
    "aws:sourceorgid": "not derived: absent",
    "aws:sourceorgpaths": "not derived: absent",
}  # fmt: skip


# Identity-provider claim keys (``<issuer host/path>:sub``, ``accounts.google.com:aud``,
# ``token.actions.githubusercontent.com:sub``, ...): a host name before the first colon, which
# no service prefix has. Only a verified web identity token states them.
FEDERATION_CLAIM_KEYS = "`<issuer host/path>:<claim>` keys: the verified web identity token"


def is_federation_claim_key(low: str) -> bool:
    return "." in low.partition(":")[0]


def owner_of(key: str) -> KeyOwner:
    """Who may state ``key`` (any case)."""
    low = key.lower()
    if low in SERVER_KEYS or low.startswith(tuple(SERVER_PREFIXES)):
        return KeyOwner.SERVER
    if ":" in low and is_federation_claim_key(low):
        return KeyOwner.SERVER
    if low in ON_BEHALF_KEYS:
        return KeyOwner.ON_BEHALF
    return KeyOwner.REQUEST


def check_supplied_keys(keys: Iterable[str], *, on_behalf: bool, field: str = "context") -> None:
    """Refuse (``ValidationError`` naming the key) a key the caller may not state: a server
    key from anyone, an on-behalf key from a principal asking about itself."""
    for key in keys:
        owner = owner_of(key)
        if owner is KeyOwner.SERVER:
            raise ValidationError(
                f"{field} key `{key}` is owned by the server, which derives it from what it "
                "knows about the principal, its credentials and the clock: a request may not "
                "supply it"
            )
        if owner is KeyOwner.ON_BEHALF and not on_behalf:
            raise ValidationError(
                f"{field} key `{key}` is derived from the caller's connection: only an "
                "enforcement point asking on behalf of a principal may supply it"
            )
