"""Bad-input table for ``parse_policy``: each row asserts the error code, the exact message and
the location (statement label + JSON path). Plus valid edge cases, the AWS managed policies,
and a Hypothesis fuzz test: arbitrary JSON never produces anything but a ``Policy`` or a
``MalformedPolicyDocument``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authz.errors import MalformedPolicyDocument
from authz.iam import quotas
from authz.iam.model import Effect, PolicyType
from authz.iam.parse import parse_policy
from tests.cases.loader import MANAGED_POLICIES

V = "2012-10-17"
BUCKET = "arn:aws:s3:::example_bucket"
MANAGED = PolicyType.MANAGED
TRUST = PolicyType.TRUST
RESOURCE = PolicyType.RESOURCE
IDENTITY = PolicyType.IDENTITY
SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
INVALID_PRINCIPAL = "Invalid principal in policy"
TRUST_ACTIONS = (
    "Trust Policy statement actions can only be sts:AssumeRole, "
    "sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity"
)


def doc(*statements: dict[str, Any], version: str | None = V) -> str:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        body = {"Version": version, **body}
    return json.dumps(body)


def allow(**members: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET, **members}


def trust(**members: Any) -> dict[str, Any]:
    principal = {"AWS": "arn:aws:iam::123456789012:root"}
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **members}


# id, document text, policy type, message, statement label, JSON path
BAD: list[tuple[str, str, PolicyType, str, str | None, str]] = [
    # malformed JSON and wrong top-level shapes
    ("not-json", "This is not a json document", MANAGED, SYNTAX, None, "$"),
    ("truncated", '{"Version": "2012-10-17", "Statement": [', MANAGED, SYNTAX, None, "$"),
    ("array-top", "[]", MANAGED, SYNTAX, None, "$"),
    ("nan", doc(allow(Condition={"NumericEquals": {"a": "x"}})).replace('"x"', "NaN"),
     MANAGED, SYNTAX, None, "$"),
    ("deep", "[" * 50_000 + "]" * 50_000, MANAGED, SYNTAX, None, "$"),
    ("huge-int", doc(allow(Condition={"NumericEquals": {"a": 1}})).replace("1}", "1" * 5000 + "}"),
     MANAGED, SYNTAX, None, "$"),
    ("unknown-top", json.dumps({"Version": V, "Statement": allow(), "Extra field": 1}),
     MANAGED, SYNTAX, None, "$['Extra field']"),
    ("bad-version", doc(allow(), version="2013-10-17"), MANAGED, SYNTAX, None, "$.Version"),
    ("no-version-managed", doc(allow(), version=None), MANAGED,
     "Policy document must be version 2012-10-17 or greater.", None, "$.Version"),
    ("id-list", json.dumps({"Version": V, "Id": ["x"], "Statement": allow()}),
     MANAGED, SYNTAX, None, "$.Id"),
    ("empty-statements", doc(), MANAGED, SYNTAX, None, "$.Statement"),
    ("statement-string", json.dumps({"Version": V, "Statement": ["afd"]}),
     MANAGED, SYNTAX, "#0", "$.Statement[0]"),
    # duplicate JSON keys, wherever they are
    ("duplicate-top", '{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": []}',
     MANAGED, SYNTAX, None, "$.Version"),
    ("duplicate-in-statement",
     doc(allow(Sid="A")).replace('"Effect"', '"Action": "s3:x", "Effect"'),
     MANAGED, SYNTAX, "A", "$.Statement[0].Action"),
    ("duplicate-in-condition",
     doc(allow(Condition={"StringEquals": {"k": "1"}})).replace('"k": "1"', '"k": "1", "k": "2"'),
     MANAGED, SYNTAX, "#0", "$.Statement[0].Condition.StringEquals.k"),
    # wrong types
    ("sid-object", doc(allow(Sid={})), MANAGED, SYNTAX, "#0", "$.Statement[0].Sid"),
    ("effect-number", doc(allow(Effect=1)), MANAGED, SYNTAX, "#0", "$.Statement[0].Effect"),
    ("effect-unknown", doc(allow(Effect="Permit")), MANAGED, SYNTAX, "#0", "$.Statement[0].Effect"),
    ("action-object", doc(allow(Action={})), MANAGED, SYNTAX, "#0", "$.Statement[0].Action"),
    ("resource-list-object", doc(allow(Resource=["arn:aws:s3:::b", {}])), MANAGED, SYNTAX, "#0",
     "$.Statement[0].Resource[1]"),
    ("action-and-notaction", doc(allow(NotAction="s3:x")), MANAGED, SYNTAX, "#0",
     "$.Statement[0].NotAction"),
    ("unknown-member", doc(allow(Extra=1)), MANAGED, SYNTAX, "#0", "$.Statement[0].Extra"),
    ("condition-array", doc(allow(Condition=[])), MANAGED, SYNTAX, "#0",
     "$.Statement[0].Condition"),
    ("condition-body-string", doc(allow(Condition={"StringEquals": "b"})), MANAGED, SYNTAX, "#0",
     "$.Statement[0].Condition.StringEquals"),
    ("condition-value-object", doc(allow(Condition={"StringEquals": {"aws:Foo": {"a": 1}}})),
     MANAGED, SYNTAX, "#0", "$.Statement[0].Condition.StringEquals['aws:Foo']"),
    ("condition-value-null", doc(allow(Condition={"StringEquals": {"k": ["a", None]}})),
     MANAGED, SYNTAX, "#0", "$.Statement[0].Condition.StringEquals.k[1]"),
    ("principal-list", doc(trust(Principal=["x"])), TRUST, SYNTAX, "#0",
     "$.Statement[0].Principal"),
    ("principal-unknown-kind", doc(trust(Principal={"User": "x"})), TRUST, SYNTAX, "#0",
     "$.Statement[0].Principal.User"),
    # unknown condition operators (an empty body is tolerated, see VALID)
    ("unknown-operator", doc(allow(Condition={"StringEqualz": {"a": "1"}})), MANAGED, SYNTAX,
     "#0", "$.Statement[0].Condition.StringEqualz"),
    ("double-colon-operator", doc(allow(Condition={"ForAnyValue::StringEquals": {"a": "1"}})),
     MANAGED, SYNTAX, "#0", "$.Statement[0].Condition['ForAnyValue::StringEquals']"),
    ("null-ifexists", doc(allow(Condition={"NullIfExists": {"a": "true"}})), MANAGED, SYNTAX,
     "#0", "$.Statement[0].Condition.NullIfExists"),
    # legacy parsing: effect case, dates, resource shape
    ("effect-case", doc(allow(Sid="S", Effect="allow")), MANAGED, LEGACY, "S",
     "$.Statement[0].Effect"),
    ("date-word", doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "sdfdsf"}})),
     MANAGED, LEGACY, "#0", "$.Statement[0].Condition.DateGreaterThan['aws:CurrentTime']"),
    ("date-month-13", doc(allow(Condition={"DateLessThan": {"a": ["2020-01-01", "234-13"]}})),
     MANAGED, LEGACY, "#0", "$.Statement[0].Condition.DateLessThan.a[1]"),
    ("date-offset-1-digit",
     doc(allow(Condition={"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+1"}})),
     MANAGED, LEGACY, "#0", "$.Statement[0].Condition.DateLessThanEquals.a"),
    ("date-epoch-overflow", doc(allow(Condition={"DateLessThan": {"a": "9223372036854775808"}})),
     MANAGED, LEGACY, "#0", "$.Statement[0].Condition.DateLessThan.a"),
    ("date-variable",
     doc(allow(Condition={"ForAnyValue:DateLessThanIfExists": {"a": "${aws:CurrentTime}"}})),
     MANAGED, LEGACY, "#0", "$.Statement[0].Condition['ForAnyValue:DateLessThanIfExists'].a"),
    ("resource-legacy", doc(allow(Resource="arn:aws:s3::example_bucket")), MANAGED, LEGACY, "#0",
     "$.Statement[0].Resource"),
    ("legacy-before-sid", doc(allow(Sid="A"), allow(Sid="A", Effect="DENY")), MANAGED, LEGACY,
     "A", "$.Statement[1].Effect"),
    # Sids
    ("sid-duplicate", doc(allow(Sid="A"), allow(Sid="A")), MANAGED,
     "Statement IDs (SID) in a single policy must be unique.", "A", "$.Statement[1].Sid"),
    ("sid-characters", doc(allow(Sid="Allow-Read")), IDENTITY,
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular "
     "expression [0-9A-Za-z]*", "Allow-Read", "$.Statement[0].Sid"),
    # actions and resources
    ("no-actions", doc(allow(Action=[])), MANAGED, "Policy statement must contain actions.", "#0",
     "$.Statement[0].Action"),
    ("no-vendor", doc(allow(Action=["s3:x", "invalid"])), MANAGED,
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", "#0",
     "$.Statement[0].Action[1]"),
    ("vendor-space", doc(allow(Action="a a:ListBucket")), MANAGED, "Vendor a a is not valid", "#0",
     "$.Statement[0].Action"),
    ("no-resources", doc({"Effect": "Allow", "Action": "s3:x"}), IDENTITY,
     "Policy statement must contain resources.", "#0", "$.Statement[0].Resource"),
    ("not-arn", doc(allow(Resource="invalid resource")), MANAGED,
     'Resource invalid resource must be in ARN format or "*".', "#0", "$.Statement[0].Resource"),
    ("not-arn-prefix", doc(allow(Resource="urn:aws:s3:::b")), MANAGED,
     'Resource urn:aws:s3:::b must be in ARN format or "*".', "#0", "$.Statement[0].Resource"),
    ("partition", doc(allow(Resource="a:b:cadfsdf")), MANAGED,
     'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".', "#0",
     "$.Statement[0].Resource"),
    ("two-bad-resources",
     doc(allow(Resource=["arn:error:s3:::example_bucket", "arn:error:s3::example_bucket"])),
     MANAGED, 'Partition "error" is not valid for resource "arn:error:s3:::example_bucket".',
     "#0", "$.Statement[0].Resource[0]"),
    ("iam-region", doc(allow(Resource="arn:aws:iam:us-east-1::user/x")), MANAGED,
     "IAM resource arn:aws:iam:us-east-1::user/x cannot contain region information.", "#0",
     "$.Statement[0].Resource"),
    ("vendor-before-resource", doc(allow(Action="x")), MANAGED,
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", "#0",
     "$.Statement[0].Action"),
    # principals
    ("identity-principal", doc(allow(Principal="*")), IDENTITY,
     "Policy document should not specify a principal.", "#0", "$.Statement[0].Principal"),
    ("partial-wildcard-principal",
     doc(trust(Principal={"AWS": ["123456789012", "arn:aws:iam::123456789012:user/*"]})),
     TRUST, INVALID_PRINCIPAL, "#0", "$.Statement[0].Principal.AWS[1]"),
    ("service-wildcard", doc(trust(Principal={"Service": "*.amazonaws.com"})), TRUST,
     INVALID_PRINCIPAL, "#0", "$.Statement[0].Principal.Service"),
    ("group-principal", doc(trust(Principal={"AWS": "arn:aws:iam::123456789012:group/g"})),
     TRUST, INVALID_PRINCIPAL, "#0", "$.Statement[0].Principal.AWS"),
    ("trust-no-principal", doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), TRUST,
     INVALID_PRINCIPAL, "#0", "$.Statement[0].Principal"),
    ("trust-not-principal",
     doc({"Effect": "Deny", "NotPrincipal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}),
     TRUST, "Has prohibited field NotPrincipal.", "#0", "$.Statement[0].NotPrincipal"),
    # trust-policy actions and elements
    ("trust-s3-action", doc(trust(Action=["sts:AssumeRole", "s3:GetObject"])), TRUST,
     TRUST_ACTIONS, "#0", "$.Statement[0].Action[1]"),
    ("trust-star-action", doc(trust(Action="*")), TRUST, TRUST_ACTIONS, "#0",
     "$.Statement[0].Action"),
    ("trust-resource", doc(trust(Resource="*")), TRUST, "Has prohibited field Resource.", "#0",
     "$.Statement[0].Resource"),
    # control and out-of-range characters
    ("control-character", doc(allow(Resource="arn:aws:s3:::b#")).replace("#", "\x01"), MANAGED,
     "Policy document contains the character U+0001, which is not allowed (only TAB, LF, CR "
     "and U+0020-U+00FF).", "#0", "$.Statement[0].Resource"),
    ("non-latin", '{"Version":"2012-10-17","Statement":{"Sid":"A","Effect":"Allow",'
     '"Action":"s3:x","Resource":"arn:aws:s3:::b/\u4e2d"}}', MANAGED,
     "Policy document contains the character U+4E2D, which is not allowed (only TAB, LF, CR "
     "and U+0020-U+00FF).", "A", "$.Statement.Resource"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "policy_type", "message", "statement", "path"),
    [pytest.param(*row[1:], id=row[0]) for row in BAD],
)
def test_bad_document(
    text: str, policy_type: PolicyType, message: str, statement: str | None, path: str
) -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(text, policy_type, name="doc")
    err = info.value
    assert (err.code, err.message, err.statement, err.path) == (
        "MalformedPolicyDocument",
        message,
        statement,
        path,
    )
    assert err.document == "doc"
    assert str(err).startswith("policy `doc`")


VALID: list[tuple[str, str, PolicyType]] = [
    ("unknown-operator-empty", doc(allow(Condition={"x": {}, "y": {}})), MANAGED),
    ("empty-condition", doc(allow(Condition={})), MANAGED),
    ("empty-value-list", doc(allow(Condition={"DateGreaterThan": {"a": []}})), MANAGED),
    ("dates", doc(allow(Condition={"DateGreaterThan": {"a": [
        "2017-07-01T00:00:00Z", "2016-12-13T21:20:37.593194+00:00", "01T", "1350432000",
        "2020-01-01T10:00-05:00", "2020", "2020-06", 1350432000]}})), MANAGED),
    ("json-bool-and-number",
     doc(allow(Condition={"Bool": {"a": True}, "NumericEquals": {"b": 1.5}})),
     MANAGED),
    ("numeric-variable-literal", doc(allow(Condition={"NumericEquals": {"a": "${aws:x}"}})),
     MANAGED),
    ("escaped-control-character", doc(allow(Resource="arn:aws:s3:::b\x01")), MANAGED),
    ("sid-empty-twice", doc(allow(Sid=""), allow(Sid="")), MANAGED),
    ("resource-no-principal", doc(allow()), RESOURCE),
    ("resource-sid-free", doc(allow(Sid="Allow public read", Principal="*")), RESOURCE),
    ("no-version-inline", doc(allow(), version=None), IDENTITY),
    ("version-2008-trust", doc(trust(), version="2008-10-17"), TRUST),
    ("short-arn", doc(allow(Resource="arn:aws:fdsasf")), MANAGED),
    ("s3-access-point", doc(allow(Resource="arn:aws:s3:us-west-2:123456789012:accesspoint/a")),
     MANAGED),
    ("iam-root-and-star", doc(allow(Resource=["arn:aws:iam::123456789012:root",
                                              "arn:aws:iam::*:*"])), MANAGED),
    ("trust-principals", doc(trust(Principal={
        "AWS": ["*", "123456789012", "AIDAEXAMPLEUSERID0001",
                "arn:aws:sts::123456789012:assumed-role/r/s", "arn:aws:iam::123456789012:role/a/b"],
        "Service": "ec2.amazonaws.com",
        "Federated": ["cognito-identity.amazonaws.com",
                      "arn:aws:iam::123456789012:saml-provider/Okta"],
    }, Action=["sts:AssumeRole", "sts:TagSession", "sts:assumerolewithwebidentity"])), TRUST),
    ("trust-sts-wildcard", doc(trust(Action="sts:AssumeRole*")), TRUST),
    ("trust-star-principal", doc(trust(Principal="*")), TRUST),
    ("resource-not-principal", doc(allow(Effect="Deny", NotPrincipal={"AWS": "123456789012"})),
     RESOURCE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "policy_type"), [pytest.param(*row[1:], id=row[0]) for row in VALID]
)
def test_valid_document(text: str, policy_type: PolicyType) -> None:
    policy = parse_policy(text, policy_type, name="doc")
    assert policy.statements and policy.digest


def test_statement_shape() -> None:
    text = doc(
        allow(Sid="A", Condition={"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": ["a", "b"]}}),
        {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "*"},
    )
    first, second = parse_policy(text, MANAGED, name="doc").statements
    assert (first.sid, first.label, first.effect, first.resources) == ("A", "A", Effect.ALLOW,
                                                                      (BUCKET,))  # fmt: skip
    condition = first.conditions[0]
    assert (condition.qualifier, condition.base, condition.if_exists) == (
        "ForAnyValue",
        "StringLike",
        True,
    )
    assert condition.values == ("a", "b")
    assert (second.label, second.not_actions, second.not_resources) == ("#1", ("iam:*",), ("*",))


def test_mapping_input_with_odd_keys() -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy({"Version": V, "Statement": allow(Condition={"StringEquals": {1: "a"}})},
                     MANAGED)  # fmt: skip
    assert info.value.path == "$.Statement.Condition.StringEquals['1']"


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("managed", doc(allow(Resource=["arn:aws:s3:::" + "b" * 6200])),
         "Cannot exceed quota for PolicySize: 6144"),
        ("trust", doc(trust(Condition={"StringEquals": {"sts:ExternalId": "x" * 2100}})),
         "Cannot exceed quota for ACLSizePerRole: 2048"),
    ],
)  # fmt: skip
def test_over_quota_document_is_valid_grammar_but_over_quota(
    kind: str, text: str, message: str
) -> None:
    policy_type = MANAGED if kind == "managed" else TRUST
    parse_policy(text, policy_type)  # sizes are not a grammar problem
    problems = quotas.document_size_problems(kind, text, "$.Document")
    assert [(p.code, p.message, p.path) for p in problems] == [
        ("LimitExceeded", message, "$.Document")
    ]


def test_every_aws_managed_policy_parses() -> None:
    files = sorted(MANAGED_POLICIES.glob("*.json"))
    assert len(files) > 1500  # the whole corpus, not a partial unpack
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        parse_policy(json.dumps(data["Document"]), MANAGED, name=data["PolicyName"])
        parse_policy(data["Document"], MANAGED, name=data["PolicyName"])


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_keys = st.sampled_from(
    ["Version", "Statement", "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
     "Principal", "NotPrincipal", "Condition", "AWS", "Service", "StringEquals", "DateLessThan",
     "ForAnyValue:StringLike", "aws:CurrentTime", "Id", "x"]
) | st.text(max_size=8)  # fmt: skip
_values = st.sampled_from(
    ["2012-10-17", "Allow", "deny", "*", "s3:GetObject", "sts:AssumeRole", "arn:aws:s3:::b/*",
     "arn:aws:iam::123456789012:user/*", "2020-01-01T00:00:00Z", "a:b", "\x00", "\u4e2d"]
)  # fmt: skip
_json = st.recursive(
    _scalars | _values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=_json, policy_type=st.sampled_from(list(PolicyType)), as_text=st.booleans())
def test_fuzz_only_malformed_policy_document(
    obj: Any, policy_type: PolicyType, as_text: bool
) -> None:
    document: Any = json.dumps(obj) if as_text else obj
    if not as_text and not isinstance(obj, dict):
        document = {"Version": V, "Statement": obj}
    try:
        policy = parse_policy(document, policy_type, name="fuzz")
    except MalformedPolicyDocument as err:
        assert err.path.startswith("$")
        return
    assert policy.statements


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_fuzz_arbitrary_text(text: str) -> None:
    with contextlib.suppress(MalformedPolicyDocument):
        parse_policy(text, MANAGED)
