"""Policy tests that live in the repository (``tests/*.yaml``): named requests with expected
decisions, run by ``authz test`` and before every reload is activated.

A suite::

    name: seed story                       # optional; default: the file name
    tests:
      - name: bob can assume foo
        principal: arn:aws:iam::111122223333:user/Bob
        action: sts:AssumeRole
        resource: arn:aws:iam::444455556666:role/foo
        expect: Allow                      # Allow | ExplicitDeny | ImplicitDeny
      - name: foo (assumed by Bob) reads the bucket
        principal: {assume_role: {caller: arn:aws:iam::111122223333:user/Bob,
                                   role: arn:aws:iam::444455556666:role/foo}}
        action: s3:GetObject
        resource: arn:aws:s3:::example-reports/q1.csv
        context: {aws:SecureTransport: true}
        expect: Allow
      - name: carol cannot assume foo      # the AssumeRole itself, short form
        assume_role: {caller: arn:aws:iam::111122223333:user/Carol,
                      role: arn:aws:iam::444455556666:role/foo}
        expect: ImplicitDeny
        layer: trust                       # optional: the failing layer

A principal given as ``{assume_role: …}`` first needs the AssumeRole to be allowed; the request
then runs as the session ``arn:aws:sts::ACCT:assumed-role/ROLE/<session_name or caller name>``.

Owns the suite format, its validation (problems with file + JSON path) and running. Evaluation
is injected (``Authorize``): from the engine only the ``Decision`` vocabulary is imported; no
cedarpy, no grpc.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from authz import courtesy
from authz.engine.decision import Decision, EvalDecision, Layer
from authz.errors import AuthzError, Problem
from authz.repo.fields import FieldReader, Problems
from authz.repo.layout import Document

EXPECT = {d.case_name: d for d in EvalDecision}
_TEST_KEYS = (
    "name", "principal", "action", "resource", "context", "expect", "layer", "assume_role",
    "description",
)  # fmt: skip

# (principal, action, resource, context) -> Decision
Authorize = Callable[[str, str, str, Mapping[str, object]], Decision]


@dataclass(frozen=True, slots=True)
class AssumeStep:
    caller: str
    role: str
    session_name: str


@dataclass(frozen=True, slots=True)
class PolicyTest:
    suite: str
    name: str
    file: str
    path: str
    principal: str
    action: str
    resource: str
    expect: EvalDecision
    context: Mapping[str, object] = field(default_factory=dict)
    via: AssumeStep | None = None
    layer: Layer | None = None


@dataclass(frozen=True, slots=True)
class TestResult:
    test: PolicyTest
    passed: bool
    decision: Decision | None
    detail: str  # why it failed, or the decision summary

    @property
    def label(self) -> str:
        return f"{self.test.suite}/{self.test.name}"


def load_suites(docs: list[Document], problems: Problems) -> list[PolicyTest]:
    """Parse every suite document; structural problems go to ``problems``."""
    out: list[PolicyTest] = []
    for doc in docs:
        fields = FieldReader(problems, doc.rel, doc.data)
        if not fields.ok:
            continue
        fields.allow_only(("name", "description", "tests"))
        suite = fields.string("name", PurePosixPath(doc.rel).stem) or doc.rel
        items = fields.objects("tests")
        if not items:
            fields.bad("$.tests", "a suite needs at least one test", "missing_field")
        seen: set[str] = set()
        for item in items:
            test = _parse_test(item, suite)
            if test is None:
                continue
            if test.name in seen:
                item.bad(item.at("name"), f"test `{test.name}` is defined twice",
                         "EntityAlreadyExists")  # fmt: skip
            seen.add(test.name)
            out.append(test)
    return out


def _parse_test(item: FieldReader, suite: str) -> PolicyTest | None:
    if not item.ok:
        return None
    item.allow_only(_TEST_KEYS)
    name = item.string("name", required=True)
    expect_text = item.string("expect", required=True)
    expect = EXPECT.get(expect_text or "")
    if expect_text is not None and expect is None:
        item.bad(item.at("expect"), f"`expect` must be one of {', '.join(EXPECT)}")
    layer = _layer(item)
    context = item.obj.get("context") or {}
    if not isinstance(context, Mapping):
        item.bad(item.at("context"), "`context` must be an object")
        context = {}
    shorthand = item.child("assume_role")
    if shorthand is not None:
        step = _assume_step(shorthand)
        principal, resource = (step.caller, step.role) if step else ("", "")
        action, via = "sts:AssumeRole", None
    else:
        via, principal = _principal(item)
        action = item.string("action", required=True) or ""
        resource = item.string("resource", required=True) or ""
    if name is None or expect is None or not principal or not action or not resource:
        return None
    return PolicyTest(
        suite, name, item.file, item.base, principal, action, resource, expect,
        dict(context), via, layer,
    )  # fmt: skip


def _layer(item: FieldReader) -> Layer | None:
    text = item.string("layer")
    if text is None:
        return None
    try:
        return Layer(text)
    except ValueError:
        choices = ", ".join(x.value for x in Layer)
        item.bad(item.at("layer"), f"`layer` must be one of {choices}")
        return None


def _principal(item: FieldReader) -> tuple[AssumeStep | None, str]:
    value = item.obj.get("principal")
    if isinstance(value, Mapping) and "assume_role" in value:
        outer = FieldReader(item.problems, item.file, value, item.at("principal"))
        outer.allow_only(("assume_role",))
        inner = outer.child("assume_role")
        step = _assume_step(inner) if inner is not None else None
        if step is None:
            return None, ""
        account, role_name = step.role.split(":")[4], step.role.rsplit("/", 1)[-1]
        return step, f"arn:aws:sts::{account}:assumed-role/{role_name}/{step.session_name}"
    return None, item.string("principal", required=True) or ""


def _assume_step(fields: FieldReader) -> AssumeStep | None:
    fields.allow_only(("caller", "role", "session_name"))
    caller = fields.string("caller", required=True)
    role = fields.string("role", required=True)
    if caller is None or role is None:
        return None
    if not role.startswith("arn:aws:iam::") or ":role/" not in role:
        fields.bad(fields.at("role"), f"`{role}` is not a role ARN")
        return None
    default = caller.rsplit("/", 1)[-1].split(":")[-1] or "session"
    return AssumeStep(caller, role, fields.string("session_name", default) or default)


def run_test(test: PolicyTest, authorize: Authorize) -> TestResult:
    """Run one test; an error (unknown principal, bad ARN) is a failure with the message."""
    try:
        if test.via is not None:
            step = authorize(test.via.caller, "sts:AssumeRole", test.via.role, {})
            if not step.allowed and test.expect is not EvalDecision.ALLOWED:
                return _judge(test, step, prefix="AssumeRole: ")
            if not step.allowed:
                return TestResult(test, False, step, f"AssumeRole denied: {_summary(step)}")
        decision = authorize(test.principal, test.action, test.resource, test.context)
    except AuthzError as err:
        return TestResult(test, False, None, f"error: {err.code}: {err.message}")
    return _judge(test, decision)


def _judge(test: PolicyTest, decision: Decision, prefix: str = "") -> TestResult:
    got = _summary(decision)
    want = test.expect.case_name + (f" (layer {test.layer.value})" if test.layer else "")
    if decision.decision is not test.expect:
        return TestResult(test, False, decision, f"{prefix}expected {want}, got {got}")
    if test.layer is not None and decision.failing_layer is not test.layer:
        return TestResult(test, False, decision, f"{prefix}expected {want}, got {got}")
    return TestResult(test, True, decision, prefix + got)


def _summary(decision: Decision) -> str:
    text = decision.decision.case_name
    if decision.failing_layer is not None:
        text += f" (layer {decision.failing_layer.value})"
    if decision.errors:
        text += f" errors: {'; '.join(decision.errors)}"
    return text


def run_tests(tests: list[PolicyTest], authorize: Authorize) -> list[TestResult]:
    results = []
    for test in tests:
        courtesy.pause()  # a reload's gate: serving first
        results.append(run_test(test, authorize))
    return results


def failure_problems(results: list[TestResult]) -> list[Problem]:
    """Failed tests as repository problems (the reload gate reports them like any other)."""
    return [
        Problem(r.test.file, r.test.path, "policy_test_failed", f"`{r.label}`: {r.detail}")
        for r in results
        if not r.passed
    ]


def report(results: list[TestResult], *, verbose: bool = True) -> str:
    """``opa test`` style: one line per test (failures always), then ``N passed, M failed``."""
    lines = []
    for r in results:
        if verbose or not r.passed:
            status = "PASS" if r.passed else "FAIL"
            lines.append(f"{status}: {r.label} ({r.test.file}) - {r.detail}")
    passed = sum(r.passed for r in results)
    lines.append("-" * 40)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def as_json(results: list[TestResult]) -> list[dict[str, Any]]:
    return [
        {
            "suite": r.test.suite,
            "name": r.test.name,
            "file": r.test.file,
            "passed": r.passed,
            "decision": r.decision.decision.case_name if r.decision else None,
            "failing_layer": (
                r.decision.failing_layer.value if r.decision and r.decision.failing_layer else None
            ),
            "detail": r.detail,
        }
        for r in results
    ]
