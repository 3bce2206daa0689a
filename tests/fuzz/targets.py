"""The fuzz targets: what a caller or a repository author controls, each with its oracle.

``policy``      a policy document of every policy type (object or text; valid, mutated or
                random) → parse, translate (every layer, the statement's services), compile
                and decide: only the project's documented errors (``AuthzError``) may be
                raised; a document the parser accepts must translate and decide without
                errors.
``authorize`` / ``trust``  the differential run: a generated policy set and 2-4 requests
                through the reference evaluator and the product path
                (tests/differential/compare.py): decision, failing layer and deciding
                statements must be equal for each request (a case).
``rpc``         random protobuf messages for every RPC, sent to a real server on 127.0.0.1
                (tests/fuzz/rpc.py): no INTERNAL / UNKNOWN status, ever.
``repo``        a copy of the example repository with random, mutated or added files
                (tests/fuzz/repo.py): loading reports problems, it never raises anything
                but ``RepositoryError``.

Each target has a time bound per input (``BOUNDS``): an input slower than that is a finding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from authz.cedar.policyset import Partition
from authz.cedar.translate import translate_policies
from authz.engine.evaluate import Evaluator
from authz.errors import AuthzError
from authz.iam.model import AuthRequest, Caller, CallerKind, PolicyLayers, PolicyType
from authz.iam.parse import parse_policy
from tests.differential import pools as p
from tests.differential.compare import compare, is_rejected, write_case
from tests.differential.strategies import policy_sets_and_requests
from tests.fuzz.engine import REJECTED, Finding
from tests.fuzz.values import documents

# CPU seconds one input may take (generation excluded; a differential input holds up to four
# cases). Generous; a backtracking matcher or an unbounded loop blows through them by orders of
# magnitude.
BOUNDS = {"policy": 1.0, "authorize": 1.0, "trust": 1.0, "rpc": 2.0, "repo": 10.0}

EVALUATOR = Evaluator(cache_size=256)
WRITE_CASES = 5  # per process
_WRITTEN = [0]
_USER = Caller(
    CallerKind.USER,
    arn=f"arn:aws:iam::{p.ACCOUNT_A}:user/alice",
    account=p.ACCOUNT_A,
)
_LAYER = {
    PolicyType.IDENTITY: "identity",
    PolicyType.MANAGED: "identity",
    PolicyType.BOUNDARY: "boundary",
    PolicyType.SESSION: "session",
    PolicyType.SCP: "scp",
    PolicyType.RCP: "rcp",
    PolicyType.RESOURCE: "resource",
    PolicyType.TRUST: "trust",
}
# A policy type added to the model without a layer here would crash the fuzzer only when a
# seed happens to draw it: fail at import instead.
assert set(_LAYER) == set(PolicyType), set(PolicyType) - set(_LAYER)


_KIND = {PolicyType.RESOURCE: "resource", PolicyType.TRUST: "trust"}  # others: identity-like


@st.composite
def policy_inputs(draw: st.DrawFn) -> tuple[Any, PolicyType, str, str]:
    """(document, policy type, action, resource): mostly a document built for its type (so
    that it gets past the parser to translation and evaluation), now and then any."""
    ptype = draw(st.sampled_from(tuple(PolicyType)))
    kind = _KIND.get(ptype, "identity") if draw(st.integers(0, 4)) else None
    return (
        draw(documents(kind)),
        ptype,
        draw(st.sampled_from(p.ACTIONS + p.EXTRA_ACTIONS + ("sts:AssumeRole",))),
        draw(
            st.sampled_from(p.resource_arns(p.ACCOUNT_A) + p.resource_arns(p.ACCOUNT_B, "aws-cn"))
        ),
    )


def check_policy(value: tuple[Any, PolicyType, str, str]) -> Any:
    document, ptype, action, resource = value
    try:
        policy = parse_policy(document, ptype, name="fuzz")
    except AuthzError:
        return REJECTED  # documented: MalformedPolicyDocument, LimitExceeded
    layer = _LAYER[ptype]
    for service in {action.split(":")[0].lower(), "s3", None}:
        try:
            translation = translate_policies((policy,), layer, service=service)
            Partition(translation)
        except AuthzError as err:
            return Finding("mismatch", f"parsed but not translatable ({layer}): {err}")
    layers = PolicyLayers(identity=(policy,))
    trust = False
    if ptype in (PolicyType.RESOURCE, PolicyType.TRUST):
        layers = PolicyLayers(resource=policy)
        trust = ptype is PolicyType.TRUST
    elif ptype is PolicyType.BOUNDARY:
        layers = PolicyLayers(boundary=policy)
    elif ptype is PolicyType.SCP:
        layers = PolicyLayers(scp=((policy,),))
    elif ptype is PolicyType.RCP:
        layers = PolicyLayers(rcp=((policy,),))
    request = AuthRequest(caller=_USER, action=action, resource=resource, resource_account=None)
    decision = EVALUATOR.evaluate(layers, request, trust=trust)
    if decision.errors:
        return Finding("mismatch", f"decision errors: {decision.errors}")
    return None


def _differential(trust: bool) -> Callable[[tuple[dict[str, Any], list[dict[str, Any]]]], Any]:
    def check(value: tuple[dict[str, Any], list[dict[str, Any]]]) -> Any:
        policies, requests = value
        if is_rejected(policies, trust):
            return REJECTED
        for request in requests:
            mismatch = compare(policies, request, trust=trust)
            if mismatch is None:
                continue
            if _WRITTEN[0] < WRITE_CASES:  # the first few become case files to review, keep
                _WRITTEN[0] += 1
                write_case(mismatch, note="found by make fuzz")
            return Finding("mismatch", mismatch.describe())
        return len(requests)

    return check


def target(name: str) -> tuple[st.SearchStrategy[Any], Callable[[Any], Any]]:
    """(input strategy, check) of a target; rpc and repo import their heavier modules late."""
    if name == "policy":
        return policy_inputs(), check_policy
    if name == "authorize":
        return policy_sets_and_requests(), _differential(False)
    if name == "trust":
        return policy_sets_and_requests(trust=True), _differential(True)
    if name == "rpc":
        from tests.fuzz import rpc

        return rpc.inputs(), rpc.check
    if name == "repo":
        from tests.fuzz import repo

        return repo.inputs(), repo.check
    raise ValueError(f"unknown fuzz target `{name}`")
