"""A compiled partition: the cedarpy ``PolicySet`` and ``Entities`` handles of one layer for one
service prefix, its oracle fact table and context plan, and ``decide`` → ``LayerResult``.

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

_PRINCIPAL = {"type": "Iam::Principal", "id": "caller"}


@dataclass(frozen=True, slots=True)
class LayerResult:
    """One layer's verdict: ``allowed`` (a permit matched and no forbid), ``explicit_deny``
    (a forbid matched), the matched statement ids, and errors (fail closed)."""

    allowed: bool
    explicit_deny: bool
    matched: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


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
        if self.statements:
            try:
                self._policy_set = cedarpy.PolicySet.from_str(translation.text())
                self._entities = cedarpy.Entities.from_json_str(json.dumps(translation.entities()))
            except ValueError as err:
                first = str(err).splitlines()[0].lower() if str(err) else "parse error"
                raise TranslationError(f"cedar rejected the translated policies: {first}") from err

    def __len__(self) -> int:
        return len(self.statements)

    def decide(self, req: RequestFacts) -> LayerResult:
        if self._policy_set is None or self._entities is None:
            return EMPTY
        oracle = (
            self.facts.holding(Probe(req.action, req.resource, req.context))
            if len(self.facts)
            else []
        )
        request = {
            "principal": _PRINCIPAL,
            "action": {"type": "Iam::Action", "id": req.action},
            "resource": {"type": "Iam::Resource", "id": req.resource},
            "context": json.dumps(build_context(self.plan, req, oracle)),
        }
        try:
            result = _is_authorized(request, self._policy_set, self._entities)
        except Exception as err:
            return LayerResult(False, False, errors=(f"cedar evaluation failed: {err}".lower(),))
        return _layer_result(result)


def _is_authorized(
    request: Mapping[str, object], policy_set: cedarpy.PolicySet, entities: cedarpy.Entities
) -> dict[str, Any]:
    """One decision as cedarpy's response dict (``decision``, ``diagnostics``); ``request``
    carries its context as a JSON string. Calls the extension directly when it has the entry
    point cedarpy's own ``is_authorized`` wraps (one request list, no per-call copies or
    result objects: ~20 % of a small decision), else the public API."""
    if _BATCH is not None:
        raw: str = _BATCH([request], policy_set, entities._inner, None, False)[0]
        found: dict[str, Any] = json.loads(raw)
        return found
    result = cedarpy.is_authorized(dict(request), policy_set, entities)
    return {"decision": result.decision.value, "diagnostics": result.diagnostics._diagnostics}


_BATCH = getattr(getattr(cedarpy, "_internal", None), "is_authorized_batch", None)


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
