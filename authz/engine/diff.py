"""Preview a policy change: replay requests against two snapshots and list every decision that
changes, with the deciding statements on each side.

Owns the replayed request (``ReplayRequest``), where requests come from — the audit log's
``Authorize`` / ``AssumeRole`` events (``requests_from_audit``) or requests generated from every
principal × the actions and resources its policies name, plus ``sts:AssumeRole`` by every
principal a trust policy names (``generated_requests``) — and the comparison
(``diff_snapshots``). Bounded: at most ``limit`` requests, ``PER_PRINCIPAL`` per principal, and
an optional time budget after which the report says it is partial.

Replayed requests carry what the audit log kept: the caller-supplied context (and
``aws:SourceIp``), not session policies or session tags. Must not import grpc or cedarpy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from authz import courtesy
from authz.engine.decision import Decision
from authz.engine.snapshot import Snapshot, authorize
from authz.errors import AuthzError, Problem
from authz.iam.model import Policy
from authz.repo.entities import Repository

_log = logging.getLogger("authz.reload")

DEFAULT_LIMIT = 200_000
PER_PRINCIPAL = 256
SESSION_NAME = "authz-diff"


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """One question to ask both snapshots."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "generated"  # "generated" | "audit"

    def key(self) -> str:
        return json.dumps(
            [self.principal, self.action, self.resource, self.context], sort_keys=True
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "Principal": self.principal,
            "Action": self.action,
            "Resource": self.resource,
            "Context": dict(self.context),
            "Origin": self.origin,
        }


@dataclass(frozen=True, slots=True)
class Side:
    """The decision of one snapshot: the word, the deciding statements, the failing layer, or
    the error code when the request could not be decided (e.g. the principal is gone)."""

    decision: str
    statements: tuple[str, ...] = ()
    failing_layer: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "Decision": self.decision,
            "DecidingStatements": list(self.statements),
            "FailingLayer": self.failing_layer,
            "Error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ChangedDecision:
    request: ReplayRequest
    old: Side
    new: Side

    def as_dict(self) -> dict[str, Any]:
        return {**self.request.as_dict(), "Old": self.old.as_dict(), "New": self.new.as_dict()}


@dataclass
class DiffReport:
    old_revision: str
    new_revision: str
    requests: int = 0
    changed: list[ChangedDecision] = field(default_factory=list)
    complete: bool = True
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "OldRevision": self.old_revision,
            "NewRevision": self.new_revision,
            "RequestsReplayed": self.requests,
            "ChangedCount": len(self.changed),
            "Complete": self.complete,
            "Seconds": round(self.seconds, 3),
            "Changed": [c.as_dict() for c in self.changed],
        }


# -- where requests come from --------------------------------------------------------------


def _context_of(params: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for entry in params.get("context") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("key"), str):
            values = [str(v) for v in entry.get("values") or []]
            listed = str(entry.get("type", "")).endswith("_LIST") or len(values) > 1
            context[entry["key"]] = values if listed else (values[0] if values else "")
    source_ip = event.get("sourceIPAddress")
    if isinstance(source_ip, str) and source_ip:
        context.setdefault("aws:SourceIp", source_ip)
    return context


def request_from_event(event: Any) -> ReplayRequest | None:
    """The decision an audit event recorded, as a request; None for other events."""
    if not isinstance(event, Mapping) or event.get("errorCode") == "ValidationError":
        return None
    params = event.get("requestParameters") or {}
    response = event.get("responseElements") or {}
    caller = (event.get("userIdentity") or {}).get("arn")
    if not isinstance(params, Mapping) or not isinstance(response, Mapping):
        return None
    name = event.get("eventName")
    if name == "Authorize":
        principal = response.get("principalArn") or params.get("principalArn") or caller
        action, resource = params.get("action"), params.get("resource")
        context = _context_of(params, event)
    elif name == "AssumeRole":
        principal, action, resource = caller, "sts:AssumeRole", params.get("roleArn")
        context = _context_of({}, event)
    else:
        return None
    if not all(isinstance(v, str) and v for v in (principal, action, resource)):
        return None
    return ReplayRequest(str(principal), str(action), str(resource), context, "audit")


def requests_from_audit(lines: Iterable[str], limit: int = DEFAULT_LIMIT) -> list[ReplayRequest]:
    """Distinct Authorize / AssumeRole decisions of an audit log (JSON lines), oldest first,
    at most ``limit``; lines that are not events are skipped."""
    return _distinct((request_from_event(_json(line)) for line in lines), limit)


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _distinct(found: Iterable[ReplayRequest | None], limit: int) -> list[ReplayRequest]:
    seen: dict[str, ReplayRequest] = {}
    for request in found:
        if request is not None and len(seen) < limit:
            seen.setdefault(request.key(), request)
    return list(seen.values())


def _representative(pattern: str) -> str | None:
    """A concrete value that ``pattern`` matches (wildcards filled; ``*`` stays ``*``), or
    None for a pattern with policy variables."""
    if "${" in pattern:
        return None
    return pattern if pattern == "*" else pattern.replace("*", "x").replace("?", "x")


def _pairs(policies: Iterable[Policy]) -> Iterator[tuple[str, str]]:
    for policy in policies:
        for statement in policy.statements:
            actions = [a for a in statement.actions if a != "*"]
            resources = [_representative(r) for r in statement.resources] or ["*"]
            for action in actions:
                concrete = action.replace("*", "Any").replace("?", "X")
                for resource in resources:
                    if resource is not None:
                        yield concrete, resource


def _principals(repository: Repository) -> Iterator[tuple[str, str]]:
    """(principal to ask as, entity ARN) for every user and role (a role as a session)."""
    for user_arn in repository.users_by_arn:
        yield user_arn, user_arn
    for role in repository.roles_by_arn.values():
        yield f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{SESSION_NAME}", role.arn


def generated_requests(
    snapshots: Iterable[Snapshot], limit: int = DEFAULT_LIMIT
) -> list[ReplayRequest]:
    """Every principal × the (action, resource) pairs its identity policies name, in any of the
    snapshots, plus ``sts:AssumeRole`` by each user or role a trust policy names."""

    def produce() -> Iterator[ReplayRequest]:
        for snapshot in snapshots:
            repository = snapshot.repository
            for principal, _entity in _principals(repository):
                try:
                    policies = snapshot.principal(snapshot.caller(principal)).identity
                except AuthzError:
                    continue
                for n, (action, resource) in enumerate(_pairs(policies)):
                    if n >= PER_PRINCIPAL:
                        break
                    yield ReplayRequest(principal, action, resource)
            for role in repository.roles_by_arn.values():
                for statement in role.trust_policy.statements:
                    spec = statement.principal
                    for named in spec.aws if spec is not None else ():
                        if named in repository.users_by_arn or named in repository.roles_by_arn:
                            yield ReplayRequest(named, "sts:AssumeRole", role.arn)

    return _distinct(produce(), limit)


# -- the comparison --------------------------------------------------------------------------


def _side(snapshot: Snapshot, request: ReplayRequest) -> Side:
    try:
        caller = snapshot.caller(request.principal)
        decision: Decision = authorize(
            snapshot, caller, request.action, request.resource, request.context
        )
    except AuthzError as err:
        return Side("error", error=err.code)
    layer = decision.failing_layer.value if decision.failing_layer else None
    return Side(decision.decision.value, tuple(m.ref for m in decision.matched), layer)


def diff_snapshots(
    old: Snapshot,
    new: Snapshot,
    requests: Iterable[ReplayRequest],
    *,
    max_seconds: float | None = None,
    stop_after: int | None = None,
) -> DiffReport:
    """Ask both snapshots every request; a decision changed when the word (allowed,
    explicitDeny, implicitDeny) or the error differs; the deciding statements and failing
    layers of each side are reported with it. Stops early
    (``complete`` False) past ``max_seconds`` or once ``stop_after`` changes are found."""
    started = time.perf_counter()
    report = DiffReport(old.revision, new.revision)
    for request in requests:
        courtesy.pause()  # a preview or a reload's gate: serving first
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            report.complete = False
            break
        if stop_after is not None and len(report.changed) >= stop_after:
            report.complete = False
            break
        report.requests += 1
        before, after = _side(old, request), _side(new, request)
        if (before.decision, before.error) != (after.decision, after.error):
            report.changed.append(ChangedDecision(request, before, after))
    report.seconds = time.perf_counter() - started
    return report


GATE_MAX_REQUESTS = 50_000
GATE_MAX_SECONDS = 30.0
GATE_SHOWN = 10


def change_gate_problems(current: Snapshot, candidate: Snapshot, limit: int) -> list[Problem]:
    """The reload gate ``max_changed_decisions``: problems (refuse) when replaying generated
    requests changes more than ``limit`` decisions; empty (activate) otherwise. Bounded by
    ``GATE_MAX_REQUESTS`` requests and ``GATE_MAX_SECONDS``."""
    requests = generated_requests((current, candidate), GATE_MAX_REQUESTS)
    report = diff_snapshots(
        current, candidate, requests, max_seconds=GATE_MAX_SECONDS, stop_after=limit + 1
    )
    if len(report.changed) <= limit:
        if not report.complete:
            _log.warning(
                "max_changed_decisions gate: %d of %d requests replayed in %.0f s; "
                "the rest were not checked",
                report.requests,
                len(requests),
                report.seconds,
            )
        return []
    shown = [
        Problem(
            ".",
            "",
            "decision_changed",
            f"`{c.request.principal}` `{c.request.action}` on `{c.request.resource}`: "
            f"{c.old.decision} -> {c.new.decision}",
        )
        for c in report.changed[:GATE_SHOWN]
    ]
    summary = Problem(
        ".",
        "",
        "max_changed_decisions_exceeded",
        f"the change alters more than {limit} decision(s) (max_changed_decisions); preview it "
        "with `authz diff --repo SERVING --candidate NEW`, or activate it with "
        "`authz reload --force`",
    )
    return [summary, *shown]
