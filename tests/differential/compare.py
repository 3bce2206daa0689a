"""One differential comparison: the reference evaluator (tests/reference, the spec oracle)
against the product path (the product's parser, then the Cedar ``Evaluator``) on one
``(policies, request)`` pair in the ``authorize`` vector shape.

Owns ``compare`` (decision, failing layer and deciding statements; a disagreement is a
``Mismatch``) and ``write_case`` (a disagreement written out as a case file for the one
loader in tests/cases, with the reference's answer as the expected one). Shared by the
differential test in ``make test`` / ``make test-deep`` and the ``make fuzz`` runner.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authz.engine.evaluate import Evaluator
from authz.errors import MalformedPolicyDocument
from tests.cases.convert import layers_for, request_of
from tests.reference.evaluator import RefDecision
from tests.reference.evaluator import evaluate as reference_evaluate

DATA = Path(__file__).resolve().parents[1] / "cases" / "data"
# merge_sighting=1: an input with several layers that call Cedar takes ONE merged native call
# (authz.cedar.merged) from its first evaluation, so the reference checks that path.
ENGINE = Evaluator(merge_sighting=1)


@dataclass(frozen=True)
class Outcome:
    """What both sides must agree on: the vector decision spelling, the failing layer of a
    deny (None for Allow) and the sorted ``layer:policy:statement`` refs that decided."""

    decision: str
    failing_layer: str | None
    deciding: tuple[str, ...]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mismatch:
    policies: dict[str, Any]
    request: dict[str, Any]
    trust: bool
    expected: Outcome
    got: Outcome

    def describe(self) -> str:
        return json.dumps(
            {
                "expected": self.expected.__dict__,
                "got": self.got.__dict__,
                "trust": self.trust,
                "request": self.request,
                "policies": self.policies,
            },
            sort_keys=True,
        )


def reference_outcome(ref: RefDecision) -> Outcome:
    return Outcome(ref.decision, ref.layer, ref.deciding)


def product_outcome(policies: dict[str, Any], request: dict[str, Any], trust: bool) -> Outcome:
    """The product path's answer; raises ``MalformedPolicyDocument`` when its parser rejects
    a document (the generators aim at valid IAM; the parser's own tests cover rejections)."""
    layers = layers_for(policies, trust=trust)
    decision = ENGINE.evaluate(layers, request_of(request), trust=trust)
    layer = decision.failing_layer.value if decision.failing_layer is not None else None
    refs = tuple(sorted({m.ref for m in decision.matched}))
    return Outcome(decision.decision.case_name, layer, refs, decision.errors)


def compare(policies: dict[str, Any], request: dict[str, Any], *, trust: bool) -> Mismatch | None:
    """None when both sides agree; raises ``MalformedPolicyDocument`` as ``product_outcome``."""
    got = product_outcome(policies, request, trust)
    expected = reference_outcome(reference_evaluate(request, policies, trust=trust))
    if got == expected:
        return None
    return Mismatch(policies, request, trust, expected, got)


def is_rejected(policies: dict[str, Any], trust: bool) -> bool:
    try:
        layers_for(policies, trust=trust)
    except MalformedPolicyDocument:
        return True
    return False


def write_case(mismatch: Mismatch, directory: Path = DATA, *, note: str = "") -> Path:
    """The mismatch as ``differential-<hash>.json`` (one ``authorize`` case whose expected
    answer is the reference's), loaded by tests/cases/loader.py from then on."""
    body = json.dumps(
        {"policies": mismatch.policies, "request": mismatch.request, "trust": mismatch.trust},
        sort_keys=True,
    )
    digest = hashlib.sha256(body.encode()).hexdigest()[:10]
    expected = mismatch.expected
    case = {
        "id": f"diff-{digest}",
        "kind": "authorize",
        "name": "differential counterexample",
        "source": "tests/differential (reference evaluator)",
        "confidence": "medium",
        "trust": mismatch.trust,
        "request": mismatch.request,
        "policies": mismatch.policies,
        "expected": {
            "decision": expected.decision,
            "failing_layer": expected.failing_layer,
            "deciding": list(expected.deciding),
            "reason": note or "reference evaluator decision",
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"differential-{digest}.json"
    document = {"schema_version": 1, "topic": "differential", "description": "shrunk"}
    document["cases"] = [case]  # type: ignore[assignment]
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path
