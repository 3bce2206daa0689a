"""The result of one authorization: the decision, why, and the AWS-style denial message.

Owns ``Decision`` and the vocabulary of deny reasons (spec §6.4). Imports neither cedarpy nor
grpc; both evaluators (Cedar path and the reference oracle in tests) can produce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EvalDecision(StrEnum):
    """The AWS SimulatePolicy vocabulary."""

    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"

    @property
    def case_name(self) -> str:
        """The spelling used by the public decision vectors."""
        return {"allowed": "Allow", "explicitDeny": "ExplicitDeny", "implicitDeny": "ImplicitDeny"}[
            self.value
        ]


class Layer(StrEnum):
    SCP = "scp"
    RCP = "rcp"
    RESOURCE = "resource"
    TRUST = "trust"
    IDENTITY = "identity"
    BOUNDARY = "boundary"
    SESSION = "session"


_EXPLICIT_PHRASE = {
    Layer.SCP: "with an explicit deny in a service control policy",
    Layer.RCP: "with an explicit deny in a resource control policy",
    Layer.RESOURCE: "with an explicit deny in a resource-based policy",
    Layer.TRUST: "with an explicit deny in a role trust policy",
    Layer.IDENTITY: "with an explicit deny in an identity-based policy",
    Layer.BOUNDARY: "with an explicit deny in a permissions boundary",
    Layer.SESSION: "with an explicit deny in a session policy",
}

_IMPLICIT_PHRASE = {
    # AWS words an SCP that does not allow as an explicit deny (spec §3.3 step 2).
    Layer.SCP: "with an explicit deny in a service control policy",
    Layer.RCP: "with an explicit deny in a resource control policy",
    Layer.RESOURCE: "because no resource-based policy allows the {action} action",
    Layer.TRUST: "because no role trust policy allows the {action} action",
    Layer.IDENTITY: "because no identity-based policy allows the {action} action",
    Layer.BOUNDARY: "because no permissions boundary allows the {action} action",
    Layer.SESSION: "because no session policy allows the {action} action",
}


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A statement that decided (an applicable Deny, or the Allows that granted)."""

    policy: str  # Policy.name
    layer: Layer
    statement: str  # Sid or #index
    effect: str  # "Allow" | "Deny"
    source: str | None = None  # file, when known

    @property
    def ref(self) -> str:
        return f"{self.layer}:{self.policy}:{self.statement}"


@dataclass(frozen=True, slots=True)
class Decision:
    decision: EvalDecision
    matched: tuple[MatchedStatement, ...] = ()
    failing_layer: Layer | None = None
    missing_context: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    revision: str | None = None

    @property
    def allowed(self) -> bool:
        return self.decision is EvalDecision.ALLOWED

    def reason(self, action: str) -> str:
        """One line: which layer decided, in AWS words."""
        if self.allowed:
            refs = ", ".join(m.ref for m in self.matched) or "implicit grant"
            return f"allowed by {refs}"
        if self.failing_layer is None:
            return "denied"
        table = (
            _EXPLICIT_PHRASE if self.decision is EvalDecision.EXPLICIT_DENY else _IMPLICIT_PHRASE
        )
        return table[self.failing_layer].format(action=action)

    def denial_message(
        self, caller_arn: str, action: str, resource: str, *, reason_action: str | None = None
    ) -> str:
        """The AccessDenied message in the current AWS style (spec §6.4). ``reason_action``
        names the permission that was missing when it differs from the refused operation
        (AssumeRole refused for want of ``sts:TagSession``)."""
        who = caller_arn or "anonymous"
        base = f"User: {who} is not authorized to perform: {action} on resource: {resource}"
        if self.failing_layer is None:
            return base
        return f"{base} {self.reason(reason_action or action)}"
