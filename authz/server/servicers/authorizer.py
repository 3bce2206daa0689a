"""Authorizer servicer: Authorize ↔ ``Backend.authorize``, AuthorizeBatch ↔
``Backend.authorize_batch`` (one call per distinct subject of the batch).

Owns the wire ↔ model conversion of a decision question (context entries, decision enum,
matched statements) and the rule for deciding on behalf of another principal: only trusted
enforcement points (service principals, ARNs listed in ``trusted_principal_arns``, or callers
whose IAM policies allow ``authz:AuthorizeOnBehalf``) may set ``principal``; a batch fails as
a whole on the first invalid item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import grpc

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2, authorizer_pb2_grpc, common_pb2
from authz.engine.decision import Decision, EvalDecision
from authz.iam.model import Caller, CallerKind, ContextValue
from authz.limits import (
    MAX_ACTION_CHARS,
    MAX_ARN_CHARS,
    MAX_CONTEXT_KEY_CHARS,
    RequestLimits,
    check_action,
    check_arn,
    check_context,
)
from authz.permissions import ON_BEHALF_ACTION
from authz.server import callctx
from authz.server.ports import (
    AuthMethod,
    AuthorizeParams,
    AuthorizeResult,
    Backend,
    CallOrigin,
    Identity,
)
from authz.server.servicers._fields import at_most, required
from authz.sizedcache import SizedLRU, approx_size

_DECISION = {
    EvalDecision.ALLOWED: authorizer_pb2.DECISION_ALLOWED,
    EvalDecision.EXPLICIT_DENY: authorizer_pb2.DECISION_EXPLICIT_DENY,
    EvalDecision.IMPLICIT_DENY: authorizer_pb2.DECISION_IMPLICIT_DENY,
}

_LIST_TYPES = frozenset(
    {
        common_pb2.CONTEXT_KEY_TYPE_STRING_LIST,
        common_pb2.CONTEXT_KEY_TYPE_NUMERIC_LIST,
        common_pb2.CONTEXT_KEY_TYPE_BOOLEAN_LIST,
        common_pb2.CONTEXT_KEY_TYPE_DATE_LIST,
        common_pb2.CONTEXT_KEY_TYPE_IP_LIST,
        common_pb2.CONTEXT_KEY_TYPE_BINARY_LIST,
    }
)
_BOOLEAN_TYPES = frozenset(
    {common_pb2.CONTEXT_KEY_TYPE_BOOLEAN, common_pb2.CONTEXT_KEY_TYPE_BOOLEAN_LIST}
)
_STRING = common_pb2.CONTEXT_KEY_TYPE_STRING
_WIRE_MEMO_SIZE = 4096
_REPEAT_MAX_BYTES = 2048  # larger questions are not remembered
_REPEAT_MEMO_BYTES = 8 * 1024 * 1024
# The question whose answer lets a caller name another principal (authz.permissions).
_ON_BEHALF = AuthorizeParams(action=ON_BEHALF_ACTION, resource="*")


def context_from_wire(
    entries: Iterable[common_pb2.ContextEntry], prefix: str = ""
) -> dict[str, ContextValue]:
    """Context entries → lowercased keys; list types (or several values) become tuples."""
    out: dict[str, ContextValue] = {}
    for i, entry in enumerate(entries):
        raw_key = entry.key
        if not raw_key:
            required(raw_key, f"{prefix}context.{i + 1}.key")  # raises ValidationError
        key = raw_key.lower()
        if key in out:
            raise errors.ValidationError(f"duplicate context key `{entry.key}`")
        values = tuple(entry.values)
        kind = entry.type
        if kind == _STRING and len(values) == 1:  # the common case
            out[key] = values[0]
            continue
        if kind in _BOOLEAN_TYPES:
            values = tuple(v.lower() for v in values)
        if kind in _LIST_TYPES or (
            kind == common_pb2.CONTEXT_KEY_TYPE_UNSPECIFIED and len(values) != 1
        ):
            out[key] = values
        elif len(values) != 1:
            raise errors.ValidationError(
                f"context key `{entry.key}` has a single-valued type but {len(values)} values"
            )
        else:
            out[key] = values[0]
    return out


def decision_to_wire(
    decision: Decision, action: str, principal_arn: str
) -> authorizer_pb2.AuthorizeResponse:
    return authorizer_pb2.AuthorizeResponse(
        decision=_DECISION[decision.decision],
        matched_statements=[
            common_pb2.MatchedStatement(
                source_policy_id=m.policy,
                source_policy_type=str(m.layer),
                statement_id=m.statement,
                effect=m.effect,
                source_file=m.source or "",
            )
            for m in decision.matched
        ],
        failing_layer=str(decision.failing_layer) if decision.failing_layer else "",
        reason=decision.reason(action),
        missing_context_values=list(decision.missing_context),
        revision=decision.revision or "",
        principal_arn=principal_arn,
    )


def _params(
    request: authorizer_pb2.AuthorizeRequest, prefix: str, limits: RequestLimits
) -> AuthorizeParams:
    """The question, after the size limits (``authz.limits``) are checked."""
    action, resource, account = request.action, request.resource, request.resource_account
    entries = request.context
    context = _plain_context(entries, limits) if entries else {}
    if (
        context is None
        or not action
        or len(action) > MAX_ACTION_CHARS
        or not resource
        or len(resource) > MAX_ARN_CHARS
        or len(account) > MAX_ARN_CHARS
    ):  # something to refuse or a typed context: the checks in order, with their messages
        action = check_action(required(action, f"{prefix}action"), f"{prefix}action")
        resource = check_arn(required(resource, f"{prefix}resource"), f"{prefix}resource")
        check_arn(account, f"{prefix}resourceAccount")
        check_context(((e.key, e.values) for e in entries), limits, f"{prefix}context")
        context = context_from_wire(entries, prefix)
    return AuthorizeParams(
        action=action, resource=resource, resource_account=account or None, context=context
    )


def _plain_context(
    entries: Sequence[common_pb2.ContextEntry], limits: RequestLimits
) -> dict[str, ContextValue] | None:
    """``context_from_wire`` of entries that pass ``check_context`` and are all single string
    values (the common case), in one pass; None for anything else (``_params`` then runs the
    general checks and conversion, which raise the first error in their order)."""
    if len(entries) > limits.max_context_keys:
        return None
    max_values, max_chars = limits.max_context_values, limits.max_context_value_chars
    total = 0
    out: dict[str, ContextValue] = {}
    for entry in entries:
        key, values = entry.key, entry.values
        if entry.type != _STRING or len(values) != 1:
            return None
        value = values[0]
        if not key or len(key) > MAX_CONTEXT_KEY_CHARS or len(value) > max_chars:
            return None
        total += len(key) + len(value)
        low = key.lower()
        if total > limits.max_context_bytes or low in out or max_values < 1:
            return None
        out[low] = value
    return out


class AuthorizerServicer(authorizer_pb2_grpc.AuthorizerServicer):
    def __init__(
        self,
        backend: Backend,
        *,
        max_batch_size: int,
        trusted_principal_arns: frozenset[str],
        on_decision: Callable[[Decision], None] | None = None,
        limits: RequestLimits | None = None,
        repeat_memo_bytes: int = _REPEAT_MEMO_BYTES,
    ) -> None:
        self._backend = backend
        self._limits = limits or RequestLimits()
        self._max_batch = max_batch_size
        self._trusted = trusted_principal_arns
        self._on_decision = on_decision
        # Responses of recently returned Decision objects (decision-cache hits return the same
        # object, and equal evaluations share one): (id, action, principal) -> (decision,
        # response). Holding the decision keeps its id unique; the response message is only
        # read (serialised) afterwards.
        self._wire: dict[
            tuple[int, str, str], tuple[Decision, authorizer_pb2.AuthorizeResponse]
        ] = {}
        # Repeats: (caller, the request's deterministic serialisation) -> (revision, decision,
        # response) of an answer the backend called repeatable; used while that revision
        # serves. Skips parsing the context and the decision-cache lookup for a question asked
        # again (credentials are still checked by the edge on every call). An LRU bounded in
        # bytes (request, caller and response sizes). The origin is part of the key:
        # aws:SourceIp comes from the connection.
        self._repeats: SizedLRU[
            tuple[Caller, CallOrigin | None, bytes],
            tuple[str, Decision, authorizer_pb2.AuthorizeResponse],
        ] = SizedLRU(repeat_memo_bytes, max_entries=_WIRE_MEMO_SIZE)
        # The revision each memo's entries belong to: when another one serves, the memo starts
        # empty. An entry of a replaced revision can never answer again (a lookup needs the
        # serving revision, or its Decision objects, which a new snapshot does not return)
        # but stayed until the memo was full, with its response and the old snapshot's
        # decision, statements and caller: with a reload every 30 s, ~200 new Decision
        # objects per revision filled ``_wire``'s 4,096 entries over ~10 minutes, RSS
        # climbing ~0.8 MB a minute with it (docs/operations.md, "RSS under the soak").
        self._wire_revision: str | None = None
        self._repeats_revision = ""
        # Enforcement points whose authz:AuthorizeOnBehalf was allowed and repeatable:
        # (caller, origin) -> the revision it holds on (``_may_ask``); cleared when full.
        self._askers: dict[tuple[Caller, CallOrigin | None], str] = {}

    def Authorize(
        self, request: authorizer_pb2.AuthorizeRequest, context: grpc.ServicerContext
    ) -> authorizer_pb2.AuthorizeResponse:
        ident = callctx.require_identity()
        which = request.WhichOneof("principal")
        if which == "session_token" or ident.method is AuthMethod.SESSION_TOKEN:
            return self._decide(ident, request, "")[0]
        body = request.SerializeToString(deterministic=True)
        if len(body) > _REPEAT_MAX_BYTES:  # bounds the memory the memo can hold
            return self._decide(ident, request, "")[0]
        key = (ident.caller, ident.origin, body)
        found = self._repeats.get(key)
        if found is not None and found[0] == self._backend.current_revision():
            if self._on_decision is not None:
                self._on_decision(found[1])
            return found[2]
        subjects: dict[str, tuple[Identity, str | None]] = {}
        response, result = self._decide(ident, request, "", subjects)
        revision = result.decision.revision
        # a question asked on behalf of `principalArn` is remembered only when the caller's
        # permission to ask was itself repeatable on the same revision (or needs no IAM check)
        stable = all(r in ("", revision) for _, r in subjects.values())
        if result.repeatable and revision and stable and self._memo_serves(revision):
            size = len(body) + approx_size(ident.caller) + response.ByteSize() + 320
            self._repeats.put(key, (revision, result.decision, response), size=size)
        return response

    def _memo_serves(self, revision: str) -> bool:
        """May an answer decided on ``revision`` be remembered? Yes while the memo holds that
        revision; a newer serving revision empties the memo first; an answer of a revision
        already replaced is not remembered."""
        if revision == self._repeats_revision:
            return True
        if revision != self._backend.current_revision():
            return False
        self._repeats.clear()
        self._repeats_revision = revision
        return True

    def AuthorizeBatch(
        self, request: authorizer_pb2.AuthorizeBatchRequest, context: grpc.ServicerContext
    ) -> authorizer_pb2.AuthorizeBatchResponse:
        ident = callctx.require_identity()
        at_most(request.items, self._max_batch, "items")
        # Every item is validated (in order) before any is decided; items are then decided
        # per subject, each subject's items together (``Backend.authorize_batch``).
        groups: list[tuple[Identity, list[int], list[AuthorizeParams]]] = []
        subjects: dict[str, tuple[Identity, str | None]] = {}  # principal ARN -> subject
        for i, item in enumerate(request.items):
            params = _params(item, f"items.{i + 1}.", self._limits)
            subject = self._subject(ident, item, subjects)
            group = next((g for g in groups if g[0] is subject or g[0] == subject), None)
            if group is None:
                group = (subject, [], [])
                groups.append(group)
            group[1].append(i)
            group[2].append(params)
        results: dict[int, authorizer_pb2.AuthorizeResponse] = {}
        for subject, indexes, params_list in groups:
            decided = self._backend.authorize_batch(subject, params_list)
            for i, params, result in zip(indexes, params_list, decided, strict=True):
                results[i] = self._respond(result.decision, params.action, subject)
        return authorizer_pb2.AuthorizeBatchResponse(results=[results[i] for i in sorted(results)])

    def _decide(
        self,
        ident: Identity,
        request: authorizer_pb2.AuthorizeRequest,
        prefix: str,
        subjects: dict[str, tuple[Identity, str | None]] | None = None,
    ) -> tuple[authorizer_pb2.AuthorizeResponse, AuthorizeResult]:
        params = _params(request, prefix, self._limits)
        subject = self._subject(ident, request, subjects)
        result = self._backend.authorize(subject, params)
        return self._respond(result.decision, params.action, subject), result

    def _respond(
        self, decision: Decision, action: str, subject: Identity
    ) -> authorizer_pb2.AuthorizeResponse:
        if self._on_decision is not None:
            self._on_decision(decision)
        return self._to_wire(decision, action, subject.caller.arn)

    def _to_wire(
        self, decision: Decision, action: str, principal_arn: str
    ) -> authorizer_pb2.AuthorizeResponse:
        """``decision_to_wire``, memoised per returned Decision object, action and principal."""
        key = (id(decision), action, principal_arn)
        found = self._wire.get(key)
        if found is not None and found[0] is decision:
            return found[1]
        response = decision_to_wire(decision, action, principal_arn)
        revision = decision.revision
        if revision != self._wire_revision and revision == self._backend.current_revision():
            self._wire.clear()  # a new revision: the old one's Decision objects never return
            self._wire_revision = revision
        if len(self._wire) >= _WIRE_MEMO_SIZE:
            self._wire.clear()
        self._wire[key] = (decision, response)
        return response

    def _subject(
        self,
        ident: Identity,
        request: authorizer_pb2.AuthorizeRequest,
        subjects: dict[str, tuple[Identity, str | None]] | None = None,
    ) -> Identity:
        """The identity the question is about. A principal named by ARN is resolved once per
        call: ``subjects`` (principal ARN -> (identity, the revision on which the caller's
        permission to ask was repeatable; "" when it needs no IAM decision: service principals
        and ``trusted_principal_arns``; None when it was not repeatable)) is filled in."""
        which = request.WhichOneof("principal")
        if which is None:
            return ident
        if which == "principal_arn" and subjects is not None:
            found = subjects.get(request.principal_arn)
            if found is not None:
                return found[0]
        caller = ident.caller
        stable: str | None = ""
        if caller.kind is not CallerKind.SERVICE and caller.arn not in self._trusted:
            stable = self._may_ask(ident)
        if which == "session_token":
            return self._backend.authenticate_session_token(
                required(request.session_token, "sessionToken")
            )
        principal = check_arn(required(request.principal_arn, "principalArn"), "principalArn")
        subject = self._backend.resolve_principal(principal)
        if subjects is not None:
            subjects[request.principal_arn] = (subject, stable)
        return subject

    def _may_ask(self, ident: Identity) -> str | None:
        """``AccessDenied`` unless the caller's policies allow ``authz:AuthorizeOnBehalf``;
        else the revision on which that answer is repeatable (None when it is not). A
        repeatable grant is remembered per (caller, origin) while its revision serves."""
        key = (ident.caller, ident.origin)
        granted = self._askers.get(key)
        if granted is not None and granted == self._backend.current_revision():
            return granted
        asked = self._backend.authorize(ident, _ON_BEHALF)
        if not asked.decision.allowed:
            caller = ident.caller
            raise errors.AccessDenied(
                f"User: {caller.arn or 'anonymous'} is not authorized to perform: "
                "authz:AuthorizeOnBehalf on resource: * (only trusted enforcement points "
                "may set `principal`)"
            )
        revision = asked.decision.revision
        if not (asked.repeatable and revision):
            return None
        if len(self._askers) >= _WIRE_MEMO_SIZE:
            self._askers.clear()
        self._askers[key] = revision
        return revision
