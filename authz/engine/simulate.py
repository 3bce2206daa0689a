"""The AWS ``SimulateCustomPolicy`` API on the Cedar engine: request dict → response dict.

Request: ``PolicyInputList``, ``PermissionsBoundaryPolicyInputList``, ``ActionNames``,
``ResourceArns``, ``ResourcePolicy``, ``ResourceOwner``, ``CallerArn``, ``ContextEntries``, plus
the extensions ``SessionPolicyInputList``, ``ServiceControlPolicyLevels`` and
``ResourceControlPolicyLevels`` (lists of lists of JSON strings, root first). ``CallerArn`` may
be a user, the account root, an assumed-role session (role ARN from the context key
``aws:PrincipalArn`` when given) or a service principal name; absent, the identity policies are
evaluated on their own for the bare policy holder (AWS), and a ``ResourcePolicy`` then is an
``InvalidInput``. A resource ARN that names an account is owned by it (``ResourceOwner`` only
for ARNs without one); ``sts:AssumeRole*`` on a role evaluates ``ResourcePolicy`` as its trust
policy. ``ContextKeyType`` only decides list vs. single value: each condition operator
reads the value itself. Bad input raises ``ValidationError`` / ``MalformedPolicyDocument``.

``simulate_principal_policy(snapshot, request)`` is the ``SimulatePrincipalPolicy`` variant over a
repository snapshot (``PolicySourceArn`` resolved in the snapshot, ``PolicyInputList`` added to its
identity policies, ``ResourcePolicy`` overriding the repository's). Its results also carry
``OrganizationsDecisionDetail``, ``PermissionsBoundaryDecisionDetail``, ``Revision`` and
``FailingLayer``.

Owns the API shapes. Must not import cedarpy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from authz import deadline
from authz.engine.decision import Decision, Layer
from authz.engine.evaluate import ALL_LAYERS, Evaluator, default_evaluator
from authz.errors import InvalidInput, MalformedPolicyDocument, ValidationError
from authz.iam.model import (
    AuthRequest,
    Caller,
    CallerKind,
    ContextValue,
    Policy,
    PolicyLayers,
    PolicyType,
)
from authz.iam.parse import parse_policy
from authz.limits import DEFAULT_MAX_ITEMS, MAX_ITEMS_LIMIT
from authz.sizedcache import approx_size

if TYPE_CHECKING:
    from authz.engine.snapshot import Snapshot

_CONTEXT_TYPES = frozenset(
    {"string", "numeric", "boolean", "ip", "binary", "date"}
    | {f"{t}List" for t in ("string", "numeric", "boolean", "ip", "binary", "date")}
)
_SOURCE_TYPE = {
    Layer.IDENTITY: "IAM Policy",
    Layer.RESOURCE: "Resource Policy",
    Layer.TRUST: "Resource Policy",
    Layer.BOUNDARY: "Permissions Boundary Policy",
    Layer.SESSION: "Session Policy",
    Layer.SCP: "Service Control Policy",
    Layer.RCP: "Resource Control Policy",
}
_ACCOUNT = re.compile(r"^\d{12}$")
_ARN = re.compile(r"^arn:(?P<part>[^:]+):(?P<svc>iam|sts)::(?P<acct>\d{12}):(?P<rest>.+)$")


def simulate_custom_policy(
    request: Mapping[str, Any],
    *,
    evaluator: Evaluator | None = None,
    response_bytes: int | None = None,
) -> dict[str, Any]:
    """Evaluate the (action, resource) pairs of the page the request asks for (``MaxItems``,
    ``Marker``; see ``paginate``). Every policy is the caller's: partitions are compiled into
    the evaluator's small caller-policy cache, never its repository cache."""
    if not isinstance(request, Mapping):
        raise ValidationError("the request must be a json object")
    actions = _strings(request, "ActionNames", required=True)
    resources = _strings(request, "ResourceArns") or ["*"]
    page = Page.of(request, len(actions) * len(resources))
    layers = _layers(request)
    context = _context(request)
    caller = _custom_caller(request, context)
    owner = _owner(request.get("ResourceOwner"))
    _resource_handling_option(request.get("ResourceHandlingOption"))
    engine = evaluator or default_evaluator()

    def decide(action: str, resource: str) -> dict[str, Any]:
        # the account a resource ARN names owns it; ResourceOwner only for ARNs without one;
        # the bare policy holder (no CallerArn) is in the resource's account by definition
        account = None if caller is POLICY_HOLDER else _arn_account(resource) or owner
        auth = AuthRequest(caller, action, resource, account, context)
        trust = layers.resource is not None and _is_trust_request(action, resource)
        decision = engine.evaluate(layers, auth, trust=trust, transient=ALL_LAYERS)
        return _result(action, resource, decision)

    return paginate(page, actions, resources, decide, response_bytes)


@dataclass(frozen=True)
class Page:
    """The slice of the action-major (action, resource) pairs one call evaluates: from
    ``start`` (decoded from ``Marker``), at most ``size`` (``MaxItems``, default 100, as
    AWS), of ``total``; ``fingerprint`` ties a marker to the request it was issued for."""

    start: int
    size: int
    total: int
    fingerprint: str

    @classmethod
    def of(cls, request: Mapping[str, Any], total: int) -> Page:
        max_items = request.get("MaxItems")
        if max_items is None:
            size = DEFAULT_MAX_ITEMS
        elif isinstance(max_items, int) and 1 <= max_items <= MAX_ITEMS_LIMIT:
            size = max_items
        else:
            raise ValidationError(
                f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to "
                f"satisfy constraint: Member must have value between 1 and {MAX_ITEMS_LIMIT}"
            )
        fingerprint = _fingerprint(request)
        marker = request.get("Marker")
        start = 0
        if marker is not None and marker != "":
            start = _marker_start(marker, fingerprint, total)
        return cls(start, size, total, fingerprint)

    def marker(self, position: int) -> str:
        return f"{position}.{self.fingerprint}"


def _fingerprint(request: Mapping[str, Any]) -> str:
    """A digest of everything but the pagination fields: a marker is only valid for the
    request that produced it."""
    rest = {k: v for k, v in request.items() if k not in ("Marker", "MaxItems")}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _marker_start(marker: object, fingerprint: str, total: int) -> int:
    position, _, digest = str(marker).partition(".")
    if not (position.isdigit() and len(position) < 12 and digest == fingerprint):
        raise ValidationError(
            "1 validation error detected: Value at 'marker' failed to satisfy constraint: "
            "Member must be a marker returned by a previous call with the same parameters"
        )
    start = int(position)
    if not 0 < start < total:
        raise ValidationError(
            f"1 validation error detected: Value at 'marker' failed to satisfy constraint: "
            f"Member must point inside the {total} results of this request"
        )
    return start


def paginate(
    page: Page,
    actions: Sequence[str],
    resources: Sequence[str],
    decide: Callable[[str, str], dict[str, Any]],
    response_bytes: int | None = None,
) -> dict[str, Any]:
    """Decide only the pairs of ``page`` (checking the call's deadline before each), and stop
    early when the results would pass ``response_bytes`` (approximate; at least one result is
    returned): ``IsTruncated`` and ``Marker`` then say where the next call starts, so no
    result computed is thrown away for want of room except the one that did not fit."""
    results: list[dict[str, Any]] = []
    used = 0
    end = min(page.total, page.start + page.size)
    position = page.start
    width = len(resources)
    while position < end:
        deadline.check(f"simulating result {position + 1} of {page.total}")
        action, resource = actions[position // width], resources[position % width]
        result = decide(action, resource)
        size = approx_size(result)
        if response_bytes is not None and results and used + size > response_bytes:
            break
        used += size
        results.append(result)
        position += 1
    response: dict[str, Any] = {"EvaluationResults": results, "IsTruncated": position < page.total}
    if position < page.total:
        response["Marker"] = page.marker(position)
    return response


# The principal the PolicyInputList is attached to when the request names no CallerArn (AWS:
# the identity policies are evaluated on their own, with no principal constraint): no ARN, no
# unique id, no account; it is always in the resource's account.
POLICY_HOLDER = Caller(CallerKind.USER)
_TRUST_ACTIONS = frozenset(
    {"sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity"}
)
_RESOURCE_HANDLING = frozenset(
    {
        "EC2-Classic-InstanceStore",
        "EC2-Classic-EBS",
        "EC2-VPC-InstanceStore",
        "EC2-VPC-InstanceStore-Subnet",
        "EC2-VPC-EBS",
        "EC2-VPC-EBS-Subnet",
    }
)


def _custom_caller(request: Mapping[str, Any], context: Mapping[str, ContextValue]) -> Caller:
    """``CallerArn`` → the caller; without one, the bare policy holder. AWS requires
    ``CallerArn`` with a ``ResourcePolicy`` (its Principal element needs a value)."""
    arn = request.get("CallerArn")
    if arn is None or arn == "":
        if request.get("ResourcePolicy"):
            raise InvalidInput(
                "CallerArn is required when a ResourcePolicy is given: the resource policy's "
                "Principal element needs a caller to match"
            )
        return POLICY_HOLDER
    return caller_from_arn(arn, context)


def _arn_account(resource: str) -> str | None:
    parts = resource.split(":", 5)
    return parts[4] if len(parts) == 6 and _ACCOUNT.match(parts[4]) else None


def _is_trust_request(action: str, resource: str) -> bool:
    """AssumeRole* on a role: the ResourcePolicy is that role's trust policy (spec §3.5)."""
    parts = resource.split(":", 5)
    return (
        action.lower() in _TRUST_ACTIONS
        and len(parts) == 6
        and parts[2] == "iam"
        and parts[5].startswith("role/")
    )


def _resource_handling_option(value: object) -> None:
    if value is None or value == "" or value in _RESOURCE_HANDLING:
        return
    raise ValidationError(
        f"1 validation error detected: Value '{value}' at 'resourceHandlingOption' failed to "
        f"satisfy constraint: Member must be one of {', '.join(sorted(_RESOURCE_HANDLING))}"
    )


def source_type(layer: Layer, policy: str, *, repository: bool = False) -> str:
    """``SourcePolicyType``: the custom-policy wording, or AWS's PolicySourceType for
    repository policies (named by ARN or ``<account>:<kind>/<name>/inline/<policy>``)."""
    if not repository:
        return _SOURCE_TYPE[layer]
    if layer in (Layer.RESOURCE, Layer.TRUST):
        return "resource"
    if layer in (Layer.SCP, Layer.RCP):
        return "organizations"
    if policy.startswith("arn:aws:iam::aws:policy/"):
        return "aws-managed"
    if ":policy/" in policy:
        return "user-managed"
    for kind in ("user", "group", "role"):
        if f":{kind}/" in policy:
            return kind
    return "none"


def _result(action: str, resource: str, decision: Decision) -> dict[str, Any]:
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision.decision.value,
        "MatchedStatements": [
            {
                "SourcePolicyId": m.policy,
                "SourcePolicyType": source_type(m.layer, m.policy),
                "Sid": m.statement,
            }
            for m in decision.matched
        ],
        "MissingContextValues": list(decision.missing_context),
        # extension (as in SimulatePrincipalPolicy): the layer that refused, None when allowed
        "FailingLayer": decision.failing_layer.value if decision.failing_layer else None,
    }


def _strings(request: Mapping[str, Any], name: str, *, required: bool = False) -> list[str]:
    value = request.get(name)
    if value is None:
        if required:
            raise ValidationError(f"missing required parameter `{name}`")
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"parameter `{name}` must be a list of strings")
    if required and not value:
        raise ValidationError(f"parameter `{name}` must not be empty")
    return value


def _policies(request: Mapping[str, Any], name: str, ptype: PolicyType) -> tuple[Policy, ...]:
    return tuple(
        _parse(text, ptype, f"{name}.{i}") for i, text in enumerate(_strings(request, name), 1)
    )


def _parse(text: str, ptype: PolicyType, name: str) -> Policy:
    try:
        return parse_policy(text, ptype, name=name)
    except MalformedPolicyDocument as err:
        raise MalformedPolicyDocument(
            f"while parsing `{name}`: {err.message}",
            document=name,
            statement=err.statement,
            path=err.path,
        ) from err


def _layers(request: Mapping[str, Any]) -> PolicyLayers:
    boundaries = _policies(request, "PermissionsBoundaryPolicyInputList", PolicyType.BOUNDARY)
    if len(boundaries) > 1:
        raise ValidationError("`PermissionsBoundaryPolicyInputList` holds at most one policy")
    resource_text = request.get("ResourcePolicy")
    if resource_text is not None and not isinstance(resource_text, str):
        raise ValidationError("parameter `ResourcePolicy` must be a string")
    scp = _levels(request, "ServiceControlPolicyLevels", PolicyType.SCP)
    return PolicyLayers(
        identity=_policies(request, "PolicyInputList", PolicyType.IDENTITY),
        resource=_parse(resource_text, PolicyType.RESOURCE, "ResourcePolicy")
        if resource_text
        else None,
        boundary=boundaries[0] if boundaries else None,
        session=_policies(request, "SessionPolicyInputList", PolicyType.SESSION),
        scp=scp,
        rcp=_levels(request, "ResourceControlPolicyLevels", PolicyType.RCP),
    )


def _levels(
    request: Mapping[str, Any], name: str, ptype: PolicyType
) -> tuple[tuple[Policy, ...], ...]:
    """Organization policy levels, root first: each a list of JSON strings, or (the gRPC
    shape) an object ``{"PolicyInputList": [...]}``."""
    levels = request.get(name) or []
    if not isinstance(levels, list):
        raise ValidationError(f"parameter `{name}` must be a list of policy levels")
    out = []
    for n, level in enumerate(levels, 1):
        if isinstance(level, Mapping):
            level = level.get("PolicyInputList") or []
        if not isinstance(level, list):
            raise ValidationError(f"`{name}.{n}` must be a list of json policy strings")
        out.append(
            tuple(_parse(_text(t, name), ptype, f"{name}.{n}.{i}") for i, t in enumerate(level, 1))
        )
    return tuple(out)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"parameter `{name}` must hold json policy strings")
    return value


def _context(request: Mapping[str, Any]) -> dict[str, ContextValue]:
    entries = request.get("ContextEntries") or []
    if not isinstance(entries, list):
        raise ValidationError("parameter `ContextEntries` must be a list")
    out: dict[str, ContextValue] = {}
    for n, entry in enumerate(entries, 1):
        where = f"ContextEntries.{n}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("ContextKeyName"), str):
            raise ValidationError(f"`{where}` needs a string `ContextKeyName`")
        kind = entry.get("ContextKeyType", "string")
        if kind not in _CONTEXT_TYPES:
            raise ValidationError(f"`{where}`: unknown `ContextKeyType` `{kind}`")
        values = entry.get("ContextKeyValues", [])
        if not isinstance(values, list) or not all(
            isinstance(v, str | int | float | bool) for v in values
        ):
            raise ValidationError(f"`{where}`: `ContextKeyValues` must be a list of strings")
        texts = tuple(_scalar(v) for v in values)
        many = kind.endswith("List") or len(texts) != 1
        out[entry["ContextKeyName"].lower()] = texts if many else texts[0]
    return out


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _owner(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if _ACCOUNT.match(value):
            return value
        match = _ARN.match(value)
        if match is not None:
            return match.group("acct")
    raise ValidationError(
        f"parameter `ResourceOwner` must be an account id or root arn, got `{value}`"
    )


def caller_from_arn(arn: object, context: Mapping[str, ContextValue]) -> Caller:
    """``CallerArn`` → ``Caller`` (absent = anonymous; a dotted name = a service principal)."""
    if arn is None or arn == "":
        return Caller(CallerKind.ANONYMOUS)
    if not isinstance(arn, str):
        raise ValidationError("parameter `CallerArn` must be a string")
    if not arn.startswith("arn:") and "." in arn and "/" not in arn:
        return Caller(CallerKind.SERVICE, arn=arn)
    match = _ARN.match(arn)
    if match is None:
        raise ValidationError(f"parameter `CallerArn` is not a supported principal arn: `{arn}`")
    part, svc, acct, rest = match.group("part", "svc", "acct", "rest")
    userid = context.get("aws:userid")
    uid = userid if isinstance(userid, str) else None
    if svc == "iam" and rest == "root":
        return Caller(CallerKind.ROOT, arn, acct, unique_id=acct)
    if svc == "iam" and rest.startswith("user/"):
        return Caller(CallerKind.USER, arn, acct, unique_id=uid)
    if svc == "iam" and rest.startswith("role/"):
        return Caller(CallerKind.ROLE, arn, acct, role_arn=arn, unique_id=uid)
    if svc == "sts" and rest.startswith("assumed-role/") and rest.count("/") >= 2:
        listed = context.get("aws:principalarn")
        role_name = rest.split("/")[1]
        role_arn = listed if isinstance(listed, str) else f"arn:{part}:iam::{acct}:role/{role_name}"
        return Caller(CallerKind.ASSUMED_ROLE, arn, acct, role_arn=role_arn, unique_id=uid)
    if svc == "sts" and rest.startswith("federated-user/"):
        return Caller(CallerKind.FEDERATED_USER, arn, acct, unique_id=uid)
    raise ValidationError(f"parameter `CallerArn` is not a supported principal arn: `{arn}`")


def simulate_many(requests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [simulate_custom_policy(r) for r in requests]


def simulate_principal_policy(
    snapshot: Snapshot, request: Mapping[str, Any], *, response_bytes: int | None = None
) -> dict[str, Any]:
    """``SimulatePrincipalPolicy`` on a repository snapshot, one page (``paginate``); the
    caller's ``PolicyInputList`` and ``ResourcePolicy`` are compiled into the snapshot
    evaluator's caller-policy cache, never its repository cache."""
    from authz.engine.snapshot import build_request

    if not isinstance(request, Mapping):
        raise ValidationError("the request must be a json object")
    source = request.get("PolicySourceArn")
    if not isinstance(source, str) or not source:
        raise ValidationError("missing required parameter `PolicySourceArn`")
    actions = _strings(request, "ActionNames", required=True)
    resources = _strings(request, "ResourceArns") or ["*"]
    extra = _policies(request, "PolicyInputList", PolicyType.IDENTITY)
    text = request.get("ResourcePolicy")
    if text is not None and not isinstance(text, str):
        raise ValidationError("parameter `ResourcePolicy` must be a string")
    override = _parse(text, PolicyType.RESOURCE, "ResourcePolicy") if text else None
    context: dict[str, object] = {
        k: list(v) if isinstance(v, tuple) else v for k, v in _context(request).items()
    }
    caller = snapshot.caller(source)
    page = Page.of(request, len(actions) * len(resources))
    transient = frozenset(
        ([Layer.IDENTITY] if extra else []) + ([Layer.RESOURCE, Layer.TRUST] if override else [])
    )

    def decide(action: str, resource: str) -> dict[str, Any]:
        layers, trust = snapshot.layers(caller, action, resource, resource_policy=override)
        if extra:
            layers = replace(layers, identity=layers.identity + extra)
        auth = build_request(snapshot, caller, action, resource, context)
        decision = snapshot.evaluate(layers, auth, trust=trust, transient=transient)
        return _principal_result(action, resource, decision, layers, snapshot.revision)

    return paginate(page, actions, resources, decide, response_bytes)


def _principal_result(
    action: str, resource: str, decision: Decision, layers: PolicyLayers, revision: str
) -> dict[str, Any]:
    result = _result(action, resource, decision)
    for statement, matched in zip(result["MatchedStatements"], decision.matched, strict=True):
        statement["SourcePolicyType"] = source_type(matched.layer, matched.policy, repository=True)
    failing = decision.failing_layer
    result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": failing is not Layer.SCP}
    if layers.boundary is not None:
        result["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": failing is not Layer.BOUNDARY
        }
    result["Revision"] = revision
    return result
