"""AssumeRoleWithWebIdentity: an OIDC token → the facts the role's trust policy is evaluated on.

Owns the request shape and its AWS limits (``WebIdentityParams``), finding the provider of the
role's account for the token's issuer, the key source of that provider (its repository JWKS, or
``authz.oidc.fetch``), and the trust context AWS builds from a verified token: the
``Federated`` principal (the provider ARN), ``<host/path>:sub``, ``:aud`` (``azp`` when present),
``:oaud``, ``:amr``, ``aws:FederatedProvider``, ``sts:RoleSessionName`` and the session tags of
the ``https://aws.amazon.com/tags`` claim. ``authz.sts.service`` evaluates and issues.
Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from authz.errors import IDPRejectedClaim, InvalidIdentityToken, ValidationError
from authz.iam.model import Caller, CallerKind, ContextValue
from authz.oidc.fetch import JwksCache
from authz.oidc.jwks import KeySet
from authz.oidc.verify import (
    DEFAULT_LEEWAY_SECONDS,
    MAX_TOKEN_CHARS,
    VerifiedToken,
    check_algorithm,
    issuer_of,
    parse_token,
    session_tags_claim,
    verify_token,
)
from authz.repo.entities import Repository
from authz.repo.oidc import OidcProvider
from authz.sts import assume_role as rules

ACTION = "sts:AssumeRoleWithWebIdentity"
DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
_SHOWN_ISSUER_CHARS = 256


@dataclass(frozen=True)
class WebIdentityParams:
    """The AssumeRoleWithWebIdentity request, AWS parameter names in snake_case."""

    role_arn: str
    role_session_name: str
    web_identity_token: str
    provider_id: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    duration_seconds: int | None = None

    def assume_role_params(self, tags: tuple[tuple[str, str], ...] = (),
                           transitive: tuple[str, ...] = ()) -> rules.AssumeRoleParams:  # fmt: skip
        """The parameters AssumeRole shares, for its validation and issuing."""
        return rules.AssumeRoleParams(
            role_arn=self.role_arn,
            role_session_name=self.role_session_name,
            duration_seconds=self.duration_seconds,
            policy=self.policy,
            policy_arns=self.policy_arns,
            tags=tags,
            transitive_tag_keys=transitive,
        )


def validate_params(p: WebIdentityParams) -> None:
    """AWS's limits on the two parameters AssumeRole does not have (the token is never echoed),
    then AssumeRole's own rules on the shared ones."""
    problems: list[str] = []
    if not 4 <= len(p.web_identity_token) <= MAX_TOKEN_CHARS:
        bound = (
            "greater than or equal to 4"
            if len(p.web_identity_token) < 4
            else f"less than or equal to {MAX_TOKEN_CHARS}"
        )
        problems.append(
            "Value at 'webIdentityToken' failed to satisfy constraint: Member must have length "
            + bound
        )
    if p.provider_id is not None and not 4 <= len(p.provider_id) <= 2048:
        problems.append(
            f"Value '{p.provider_id[:64]}' at 'providerId' failed to satisfy constraint: Member "
            "must have length between 4 and 2048"
        )
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ValidationError(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))
    rules.validate_params(p.assume_role_params())


class WebIdentityVerifier:
    """Verifies tokens against the providers of a repository snapshot (``jwks`` for the
    providers whose keys are fetched)."""

    def __init__(
        self,
        jwks: JwksCache | None = None,
        clock: Callable[[], float] = time.time,
        leeway: int = DEFAULT_LEEWAY_SECONDS,
    ) -> None:
        self.jwks = jwks or JwksCache()
        self._clock = clock
        self._leeway = leeway

    def verify(
        self, repository: Repository, account: str, token: str, provider_id: str | None
    ) -> tuple[OidcProvider, VerifiedToken]:
        parsed = parse_token(token)
        check_algorithm(parsed.header)
        issuer = issuer_of(parsed.payload)
        provider = repository.oidc_provider(account, issuer)
        if provider is None:
            raise InvalidIdentityToken(
                "No OpenIDConnect provider found in your account for "
                + issuer[:_SHOWN_ISSUER_CHARS]
            )
        if provider_id is not None and provider_id not in (provider.key_prefix, provider.issuer):
            raise InvalidIdentityToken(
                f"ProviderId {provider_id[:_SHOWN_ISSUER_CHARS]} is not the token's provider "
                f"{provider.key_prefix}: leave ProviderId out for OpenID Connect tokens"
            )
        verified = verify_token(
            parsed,
            issuer=provider.issuer,
            client_ids=provider.client_ids,
            key_set=lambda kid: self._keys(provider, kid),
            now=self._clock(),
            leeway=self._leeway,
        )
        return provider, verified

    def _keys(self, provider: OidcProvider, kid: str | None) -> KeySet:
        if provider.jwks is not None:
            return provider.jwks
        url = provider.jwks_uri or provider.issuer
        return self.jwks.keys(url, discover=provider.discovery, kid=kid)


def claim_tags(token: VerifiedToken) -> rules.SessionTags:
    """The session tags of the token's tags claim, under AssumeRole's tag rules; a claim that
    breaks them is ``IDPRejectedClaim`` naming the rule."""
    tags, transitive = session_tags_claim(token.claims)
    try:
        probe = rules.AssumeRoleParams(
            role_arn="arn:aws:iam::000000000000:role/probe", role_session_name="probe",
            tags=tuple(tags), transitive_tag_keys=tuple(transitive),
        )  # fmt: skip
        rules.validate_params(probe)
        return rules.session_tags(tags, transitive, {})
    except ValidationError as err:
        raise IDPRejectedClaim(f"The token's session tags are not valid: {err.message}") from err


def web_identity_caller(provider: OidcProvider) -> Caller:
    return Caller(CallerKind.WEB_IDENTITY, provider.arn)


def trust_context(
    provider: OidcProvider,
    token: VerifiedToken,
    session_name: str,
    tags: rules.SessionTags,
) -> dict[str, ContextValue]:
    """The keys AWS supplies when it evaluates the trust policy of an
    AssumeRoleWithWebIdentity call (lowercased, as the engine compares them)."""
    prefix = provider.key_prefix.lower()
    ctx: dict[str, ContextValue] = {
        "sts:rolesessionname": session_name,
        "aws:federatedprovider": provider.arn,
        f"{prefix}:sub": token.subject,
        f"{prefix}:aud": token.audience,
    }
    if token.other_audiences:
        ctx[f"{prefix}:oaud"] = token.other_audiences
    if token.amr:
        ctx[f"{prefix}:amr"] = token.amr
    if tags.tags:
        for key, value in tags.tags.items():
            ctx[f"aws:requesttag/{key.lower()}"] = value
        ctx["aws:tagkeys"] = tuple(tags.tags)
    if tags.transitive_keys:
        ctx["sts:transitivetagkeys"] = tags.transitive_keys
    return ctx
