"""Every AWS managed policy in the shared corpus parses, translates, validates against the
generated schema (AWS's own authoring slips surface as diagnostics, not failures), builds a Cedar
policy set, and evaluates sampled requests without error, in agreement with the reference
evaluator when it is present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authz.cedar.policyset import Partition
from authz.cedar.schema import validate_translation
from authz.cedar.translate import translate_policies
from authz.engine.evaluate import Evaluator
from authz.iam.model import AuthRequest, Caller, CallerKind, Policy, PolicyLayers, PolicyType
from authz.iam.parse import parse_policy
from tests.cases.loader import MANAGED_POLICIES

try:
    from tests.reference.evaluator import evaluate as reference_evaluate
except ImportError:  # pragma: no cover - the reference lives beside this test
    reference_evaluate = None

FILES = sorted(MANAGED_POLICIES.glob("*.json")) if MANAGED_POLICIES.is_dir() else []
# Documented AWS authoring slips: (policy, diagnostic fragment). IAM tolerates them silently
# (the condition never matches); the translator keeps that meaning and reports them.
KNOWN_SLIPS = {("AIOpsAssistantPolicy", "`aws:viaawsservice` has type `bool`")}
USER = Caller(
    CallerKind.USER,
    "arn:aws:iam::111111111111:user/alice",
    "111111111111",
    unique_id="AIDAEXAMPLEUSERID0001",
)
ENGINE = Evaluator(cache_size=256)


def load(path: Path) -> tuple[dict[str, Any], Policy]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc, parse_policy(doc["Document"], PolicyType.MANAGED, name=doc["PolicyName"])


def samples(policy: Policy) -> list[tuple[str, str]]:
    """A few requests per policy: its first literal actions on its first resources (and ``*``)."""
    actions = [a for st in policy.statements for a in st.actions if "*" not in a and "?" not in a][
        :3
    ]
    resources = [r for st in policy.statements for r in st.resources if "$" not in r][:2] or ["*"]
    return [
        (a, r.replace("*", "x") if r != "*" else "*")
        for a in actions or ["s3:GetObject"]
        for r in resources
    ]


@pytest.mark.skipif(not FILES, reason="managed-policy corpus not available")
def test_corpus_size() -> None:
    assert len(FILES) > 1000


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_managed_policy(path: Path) -> None:
    doc, policy = load(path)
    translation = translate_policies([policy], "identity")
    for diagnostic in translation.diagnostics:
        assert any(
            name == doc["PolicyName"] and frag in diagnostic for name, frag in KNOWN_SLIPS
        ), diagnostic
    Partition(translation)  # Cedar parses it
    for action, resource in samples(policy):
        request = AuthRequest(
            USER, action, resource, "111111111111", {"aws:principaltag/team": "red"}
        )
        decision = ENGINE.evaluate(PolicyLayers(identity=(policy,)), request)
        assert not decision.errors, decision.errors
        if reference_evaluate is not None:
            ref = reference_evaluate(
                _vector(USER, action, resource), {"identity": [doc["Document"]]}
            )
            assert decision.decision.case_name == ref.decision, (action, resource)


def _vector(caller: Caller, action: str, resource: str) -> dict[str, Any]:
    principal = {
        "type": "user",
        "arn": caller.arn,
        "account": caller.account,
        "user_id": caller.unique_id,
    }
    return {
        "principal": principal,
        "action": action,
        "resource": {"arn": resource, "account": "111111111111"},
        "context": {"aws:PrincipalTag/team": "red"},
    }


@pytest.mark.skipif(not FILES, reason="managed-policy corpus not available")
def test_corpus_validates_against_schema() -> None:
    """All statements in the validation rendering, in batches (the validator is the slow part)."""
    errors: list[str] = []
    for start in range(0, len(FILES), 100):
        policies = [load(p)[1] for p in FILES[start : start + 100]]
        errors += validate_translation(translate_policies(policies, "identity"))
    assert errors == []
