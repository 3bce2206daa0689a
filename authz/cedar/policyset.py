"""A compiled partition: the cedarpy ``PolicySet`` and ``Entities`` handles of one layer for one
service prefix, its oracle fact table and context plan, and ``decide`` → ``LayerResult``.

Fail closed: a Cedar error, a ``NoDecision`` or an exception is reported in ``errors`` and the
layer neither allows nor counts as a match; the combiner turns any error into a deny.

Owns the cedarpy call. Imports cedarpy (this package is its only importer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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
            "context": build_context(self.plan, req, oracle),
        }
        try:
            result = cedarpy.is_authorized(request, self._policy_set, self._entities)
        except Exception as err:
            return LayerResult(False, False, errors=(f"cedar evaluation failed: {err}".lower(),))
        return _layer_result(result)


def _layer_result(result: cedarpy.AuthzResult) -> LayerResult:
    diagnostics = result.diagnostics
    errors = tuple(str(e) for e in diagnostics.errors)
    decision = result.decision.value
    if decision == "NoDecision":
        errors = (*errors, "cedar returned no decision")
    by_reason = diagnostics.id_annotations_by_reason
    matched = tuple(sorted(by_reason.get(r, r) for r in diagnostics.reasons))
    if errors:
        return LayerResult(False, False, matched, errors)
    if decision == "Allow":
        return LayerResult(True, False, matched)
    return LayerResult(False, bool(matched), matched)
