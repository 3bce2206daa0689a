"""A compiled partition: the cedarpy ``PolicySet`` and ``Entities`` handles of one layer for one
service prefix, its oracle fact table and context plan, and ``decide`` → ``LayerResult``.

A partition whose every statement is unconditional (``when { true }``: no action, resource,
principal or condition test — an SCP level holding only ``FullAWSAccess``, for one) has the same
answer for every request: ``constant`` holds it, computed as Cedar would (a forbid wins; the
matched ids sorted), and ``decide`` returns it without a native call (a native call costs
~116k instructions even for an empty context, ``cedar-context-20261206-185556``; a default
organisation has two such SCP levels per Authorize). When several non-constant partitions
apply to one request, the evaluator answers them with one call on a merged set
(``authz.cedar.merged``), which reuses ``native_request`` and reproduces ``_layer_result``
per member.

Fail closed: a Cedar error, a ``NoDecision`` or an exception is reported in ``errors`` and the
layer neither allows nor counts as a match; the combiner turns any error into a deny.

Owns the cedarpy call. Imports cedarpy (this package is its only importer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cedarpy

from authz.cedar.context import ContextPlan, RequestFacts, build_context
from authz.cedar.oracle import FactTable, Probe
from authz.cedar.translate import CedarStatement, Translation, TranslationError
from authz.iam.model import Effect

_PRINCIPAL = {"type": "Iam::Principal", "id": "caller"}
# Contexts are fresh trees of dicts, lists, strings, ints and bools: no cycle check, no spaces
# (a quarter less encoding time than ``json.dumps`` and fewer bytes for Cedar to parse).
_CONTEXT_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _unserializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# ``JSONEncoder.encode`` is Python code that builds the C encoder on every call; built once,
# the C encoder alone takes half the time (~1.5 µs less per native request, issue 15).
_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_ENCODE: Any = None
if _C_ENCODER is not None:
    _ENCODE = _C_ENCODER(
        None, _unserializable, json.encoder.encode_basestring_ascii, None, ":", ",", False,
        False, True,
    )  # fmt: skip


def encode_context(context: dict[str, object]) -> str:
    """``context`` as compact JSON (what ``_CONTEXT_JSON.encode`` gives)."""
    if _ENCODE is not None:
        return "".join(_ENCODE(context, 0))
    return _CONTEXT_JSON.encode(context)


@dataclass(frozen=True, slots=True)
class LayerResult:
    """One layer's verdict: ``allowed`` (a permit matched and no forbid), ``explicit_deny``
    (a forbid matched), the matched statement ids, and errors (fail closed)."""

    allowed: bool
    explicit_deny: bool
    matched: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def __init__(
        self,
        allowed: bool,
        explicit_deny: bool,
        matched: tuple[str, ...] = (),
        errors: tuple[str, ...] = (),
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "allowed", allowed)
        object.__setattr__(self, "explicit_deny", explicit_deny)
        object.__setattr__(self, "matched", matched)
        object.__setattr__(self, "errors", errors)

    def __hash__(self) -> int:
        return hash((self.allowed, self.explicit_deny, self.matched, self.errors))


EMPTY = LayerResult(allowed=False, explicit_deny=False)


class Partition:
    """One layer x one service prefix, compiled once and shared by every caller whose policies
    (and compile-time variable values) are the same."""

    def __init__(self, translation: Translation) -> None:
        self.translation = translation
        self.statements: dict[str, CedarStatement] = {
            s.policy_id: s for s in translation.statements
        }
        self.keys = translation.keys
        self.plan = ContextPlan.of(translation.uses, translation.flags)
        self.facts = FactTable(translation.facts)
        self._policy_set: cedarpy.PolicySet | None = None
        self._entities: cedarpy.Entities | None = None
        self._native_entities: object = None  # what the extension gets (``native_entities``)
        self.text_chars = 0  # size of the Cedar text (what byte-bounded caches charge for)
        self.constant = constant_result(translation.statements)
        if self.statements:
            text = translation.text()
            self.text_chars = len(text)
            try:
                self._policy_set = cedarpy.PolicySet.from_str(text)
                self._entities, self._native_entities = native_entities(translation.entities())
            except ValueError as err:
                first = str(err).splitlines()[0].lower() if str(err) else "parse error"
                raise TranslationError(f"cedar rejected the translated policies: {first}") from err
        # whether ``decide`` makes a native call (neither empty nor constant)
        self.native = self._policy_set is not None and self.constant is None

    def __len__(self) -> int:
        return len(self.statements)

    def decide(self, req: RequestFacts) -> LayerResult:
        if self.constant is not None:
            return self.constant
        request = self.request(req)
        return EMPTY if request is None else self.decide_one(request)

    def request(self, req: RequestFacts) -> dict[str, object] | None:
        """The native Cedar request for ``req`` (its context as a JSON string), or None when
        the partition is empty (``decide`` is then ``EMPTY`` without a Cedar call)."""
        if self._policy_set is None or self._entities is None:
            return None
        facts = self.facts
        oracle = facts.holding(Probe(req.action, req.resource, req.context)) if len(facts) else []
        context = build_context(self.plan, req, oracle)
        out: dict[str, object] = {  # ``native_request``, inlined: every single-partition request
            "principal": _PRINCIPAL,
            "action": {"type": "Iam::Action", "id": req.action},
            "resource": {"type": "Iam::Resource", "id": req.resource},
        }
        if context:  # no member at all: an empty one costs the call ~25k instructions
            out["context"] = encode_context(context)
        return out

    def decide_one(self, request: Mapping[str, object]) -> LayerResult:
        """One Cedar call for a ``request`` of this non-empty partition (fail closed)."""
        if self._policy_set is None or self._entities is None:
            return EMPTY
        try:
            return _is_authorized(request, self._policy_set, self._entities, self._native_entities)
        except Exception as err:
            return LayerResult(False, False, errors=(f"cedar evaluation failed: {err}".lower(),))

    def decide_many(self, requests: list[dict[str, object]]) -> list[LayerResult]:
        """``decide_one`` of each request, in one native batch call when the extension has
        the entry point. When that call fails as a whole, one call per request, so an error
        stays with the request that caused it: the results equal ``decide_one``'s."""
        if self._policy_set is None or self._entities is None:
            return [EMPTY] * len(requests)
        index: dict[tuple[object, ...], int] = {}  # a request asked twice is sent once
        unique: list[dict[str, object]] = []
        slots: list[int] = []
        for request in requests:
            slot = index.setdefault(request_key(request), len(unique))
            if slot == len(unique):
                unique.append(request)
            slots.append(slot)
        if _BATCH is None or len(unique) < 2:
            results = [self.decide_one(r) for r in unique]
        else:
            try:
                raws = _BATCH(unique, self._policy_set, self._native_entities, None, False)
                results = [_parsed(raw) for raw in raws]
                if len(results) != len(unique):
                    raise ValueError("the native batch answered a different number of requests")
            except Exception:
                results = [self.decide_one(r) for r in unique]
        return [results[slot] for slot in slots]


def native_request(plan: ContextPlan, facts: FactTable, req: RequestFacts) -> dict[str, object]:
    """The native Cedar request of ``req`` for a policy set reading ``plan`` with oracle
    ``facts``: the context holds only what the plan reads, as a JSON string."""
    oracle = facts.holding(Probe(req.action, req.resource, req.context)) if len(facts) else []
    context = build_context(plan, req, oracle)
    out: dict[str, object] = {
        "principal": _PRINCIPAL,
        "action": {"type": "Iam::Action", "id": req.action},
        "resource": {"type": "Iam::Resource", "id": req.resource},
    }
    if context:  # an empty context member costs the call ~25k instructions (none: 0)
        out["context"] = encode_context(context)
    return out


def constant_result(statements: tuple[CedarStatement, ...]) -> LayerResult | None:
    """The result every request gets when every statement is unconditional, else None."""
    if not statements or any(s.action or s.body for s in statements):
        return None
    forbids = tuple(sorted(s.policy_id for s in statements if s.effect is Effect.DENY))
    if forbids:
        return LayerResult(False, True, forbids)
    return LayerResult(True, False, tuple(sorted(s.policy_id for s in statements)))


def native_entities(entities: list[dict[str, object]]) -> tuple[cedarpy.Entities, object]:
    """A parsed entity store and what the extension is given for it: the handle, or for an
    empty store the text ``"[]"`` (the extension tries a string first; turning a handle down
    there costs ~8k instructions a call, more than parsing ``[]``: issue 15)."""
    handle = cedarpy.Entities.from_json_str(json.dumps(entities))
    return handle, (handle._inner if entities else "[]")


def _is_authorized(
    request: Mapping[str, object],
    policy_set: cedarpy.PolicySet,
    entities: cedarpy.Entities,
    native: object,
) -> LayerResult:
    """One decision; ``request`` carries its context as a JSON string. Calls the extension
    directly when it has the entry point cedarpy's own ``is_authorized`` wraps (one request
    list, no per-call copies or result objects: ~20 % of a small decision), else the public
    API."""
    if _BATCH is not None:
        raw: str = _BATCH([request], policy_set, native, None, False)[0]
        return _parsed(raw)
    result = cedarpy.is_authorized(dict(request), policy_set, entities)
    return _layer_result(
        {"decision": result.decision.value, "diagnostics": result.diagnostics._diagnostics}
    )


def request_key(request: Mapping[str, Any]) -> tuple[object, ...]:
    """A native request of one partition (the principal is always the same)."""
    return (request["action"]["id"], request["resource"]["id"], request.get("context"))


_BATCH = getattr(getattr(cedarpy, "_internal", None), "is_authorized_batch", None)
_PARSED: dict[str, LayerResult] = {}  # native result text -> LayerResult (bounded memo)
_PARSED_SIZE = 4096
_METRICS = ',"metrics":'


def _parsed(raw: str) -> LayerResult:
    """``_layer_result`` of a native JSON result, memoised on its text up to the top-level
    ``metrics`` member (results repeat: the same decision, reasons and errors; that text
    alone determines the LayerResult, and ``,"metrics":`` cannot occur unescaped inside a
    JSON string)."""
    cut = raw.rfind(_METRICS)  # the timings of the call: last, and never read
    key = raw[:cut] if cut > 0 else raw
    found = _PARSED.get(key)
    if found is None:
        found = _layer_result(json.loads(raw))
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[key] = found
    return found


def _layer_result(result: Mapping[str, Any]) -> LayerResult:
    diagnostics = result.get("diagnostics") or {}
    errors = tuple(str(e) for e in diagnostics.get("errors") or ())
    decision = result.get("decision")
    if decision == "NoDecision":
        errors = (*errors, "cedar returned no decision")
    by_reason = diagnostics.get("id_annotations_by_reason") or {}
    matched = tuple(sorted(by_reason.get(r, r) for r in diagnostics.get("reason") or ()))
    if errors:
        return LayerResult(False, False, matched, errors)
    if decision == "Allow":
        return LayerResult(True, False, matched)
    return LayerResult(False, bool(matched), matched)
