"""The exception tree of authz. Every error carries a stable AWS-style code and a message
that names the input. Only the gRPC edge (authz.server.errors) turns these into statuses.

    AuthzError                       code            meaning
    ├── ValidationError              ValidationError     a request parameter breaks a constraint
    │   ├── InvalidAction            InvalidAction       an action the endpoint does not offer
    │   └── InvalidAuthorizationMessage  InvalidAuthorizationMessageException
    ├── MalformedPolicyDocument      MalformedPolicyDocument  a policy document is not valid
    ├── LimitExceeded                LimitExceeded       a size / count quota is exceeded
    ├── PackedPolicyTooLarge         PackedPolicyTooLarge
    ├── NoSuchEntity                 NoSuchEntity        a named user/role/policy does not exist
    ├── EntityAlreadyExists          EntityAlreadyExists
    ├── AccessDenied                 AccessDenied        authorization failed (carries the Decision)
    ├── InvalidClientTokenId         InvalidClientTokenId  unknown key / invalid or revoked token
    │   ├── SignatureDoesNotMatch    SignatureDoesNotMatch  a SigV4 signature or its scope is wrong
    │   ├── IncompleteSignature      IncompleteSignature  a SigV4 signature lacks a part
    │   ├── RequestExpired           RequestExpired      a signed request's date is out of window
    │   └── MissingAuthenticationToken  MissingAuthenticationToken  an unsigned request
    ├── ExpiredToken                 ExpiredToken        token past its expiry
    ├── InvalidIdentityToken         InvalidIdentityToken  a web identity token that does not verify
    ├── IDPRejectedClaim             IDPRejectedClaim    a web identity token's claim is refused
    ├── IDPCommunicationError        IDPCommunicationError  the issuer's keys cannot be fetched
    ├── RepositoryError              RepositoryInvalid   the policy repository has problems
    ├── ServiceUnavailable           ServiceUnavailable  no snapshot loaded yet
    ├── Throttling                   Throttling          overload / resource exhausted
    │   └── DeadlineExceeded         Throttling          the call's deadline passed: work stopped
    └── InternalFailure              InternalFailure     a bug; never an allow
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


class AuthzError(Exception):
    """Base class. ``code`` is the stable AWS-style error code."""

    code: ClassVar[str] = "InternalFailure"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"Error": {"Code": self.code, "Message": self.message}}


class ValidationError(AuthzError):
    code = "ValidationError"
    http_status = 400


class InvalidInput(ValidationError):
    """IAM's code for a request whose parameters do not fit together (e.g. a simulation
    ``ResourcePolicy`` without the ``CallerArn`` its Principal needs)."""

    code = "InvalidInput"


class MalformedPolicyDocument(AuthzError):
    """A policy document is not valid. ``location`` names document, statement and JSON path."""

    code = "MalformedPolicyDocument"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        document: str = "",
        statement: str | None = None,
        path: str = "",
    ) -> None:
        super().__init__(message, document=document, statement=statement, path=path)
        self.document = document
        self.statement = statement
        self.path = path

    @property
    def location(self) -> str:
        parts = []
        if self.document:
            parts.append(f"policy `{self.document}`")
        if self.statement is not None:
            parts.append(f"statement `{self.statement}`")
        if self.path:
            parts.append(f"at `{self.path}`")
        return ", ".join(parts)

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.message}" if loc else self.message


class LimitExceeded(AuthzError):
    code = "LimitExceeded"
    http_status = 409


class PackedPolicyTooLarge(AuthzError):
    code = "PackedPolicyTooLarge"
    http_status = 400


class NoSuchEntity(AuthzError):
    code = "NoSuchEntity"
    http_status = 404


class EntityAlreadyExists(AuthzError):
    code = "EntityAlreadyExists"
    http_status = 409


class AccessDenied(AuthzError):
    code = "AccessDenied"
    http_status = 403


class InvalidClientTokenId(AuthzError):
    code = "InvalidClientTokenId"
    http_status = 403

    def __init__(
        self,
        message: str = "The security token included in the request is invalid.",
        **details: Any,
    ) -> None:
        super().__init__(message, **details)


class SignatureDoesNotMatch(InvalidClientTokenId):
    """A SigV4 signature that does not verify, or a credential scope (date, region, service)
    this server does not accept."""

    code = "SignatureDoesNotMatch"

    def __init__(
        self,
        message: str = (
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details."
        ),
        **details: Any,
    ) -> None:
        super().__init__(message, **details)


class IncompleteSignature(InvalidClientTokenId):
    """A SigV4 ``Authorization`` header or presigned query that lacks a required part."""

    code = "IncompleteSignature"
    http_status = 400


class RequestExpired(InvalidClientTokenId):
    """A signed request whose ``X-Amz-Date`` is outside the allowed window (or a presigned
    request past its ``X-Amz-Expires``), or a request already seen (a replay)."""

    code = "RequestExpired"
    http_status = 400


class MissingAuthenticationToken(InvalidClientTokenId):
    code = "MissingAuthenticationToken"

    def __init__(
        self, message: str = "Request is missing Authentication Token", **details: Any
    ) -> None:
        super().__init__(message, **details)


class InvalidAuthorizationMessage(ValidationError):
    """STS DecodeAuthorizationMessage: a message that is not one of ours (or is tampered)."""

    code = "InvalidAuthorizationMessageException"

    def __init__(
        self,
        message: str = "The encoded authorization message is invalid or was not issued here",
        **details: Any,
    ) -> None:
        super().__init__(message, **details)


class InvalidAction(ValidationError):
    """An action the AWS-compatible endpoint does not implement."""

    code = "InvalidAction"


class ExpiredToken(AuthzError):
    code = "ExpiredToken"
    http_status = 403

    def __init__(
        self, message: str = "The security token included in the request is expired", **details: Any
    ) -> None:
        super().__init__(message, **details)


class InvalidIdentityToken(AuthzError):
    """AssumeRoleWithWebIdentity: the token is malformed, its signature does not verify, or its
    issuer or audience is not one the role's account trusts."""

    code = "InvalidIdentityToken"
    http_status = 400


class IDPRejectedClaim(AuthzError):
    """AssumeRoleWithWebIdentity: a claim of the token cannot be used (e.g. its session tags)."""

    code = "IDPRejectedClaim"
    http_status = 403


class IDPCommunicationError(AuthzError):
    """AssumeRoleWithWebIdentity: the identity provider's keys could not be fetched (retry)."""

    code = "IDPCommunicationError"
    http_status = 400


class ServiceUnavailable(AuthzError):
    code = "ServiceUnavailable"
    http_status = 503


class Throttling(AuthzError):
    code = "Throttling"
    http_status = 429


class DeadlineExceeded(Throttling):
    """The call's deadline (the caller's gRPC deadline or the server's maximum) passed while
    working: the work was stopped. AWS code ``Throttling`` (retryable); gRPC
    ``DEADLINE_EXCEEDED``."""


class InternalFailure(AuthzError):
    code = "InternalFailure"
    http_status = 500


@dataclass(frozen=True)
class Problem:
    """One problem found in a policy repository: file, JSON path, code, message."""

    file: str
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.path}" if self.path else self.file
        return f"{where}: {self.code}: {self.message}"


@dataclass
class RepositoryError(AuthzError):
    """The repository has problems; ``problems`` lists all of them, sorted."""

    problems: list[Problem] = field(default_factory=list)
    code: ClassVar[str] = "RepositoryInvalid"

    def __post_init__(self) -> None:
        first = str(self.problems[0]) if self.problems else "unknown problem"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        AuthzError.__init__(self, f"repository has {len(self.problems)} problem(s): {first}{more}")

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error with every problem, so a refused start names all of them."""
        out = super().to_dict()
        out["Error"]["Problems"] = [
            {"File": p.file, "Path": p.path, "Code": p.code, "Message": p.message}
            for p in self.problems
        ]
        return out
