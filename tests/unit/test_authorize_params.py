"""The Authorize question from the wire (``authorizer._params``): its one-pass path for plain
string contexts gives what the general checks and conversion give, and every refusal keeps its
message and order (the first failing field), for valid and invalid requests alike."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2, common_pb2
from authz.limits import RequestLimits, check_action, check_arn, check_context
from authz.server.ports import AuthorizeParams
from authz.server.servicers._fields import optional, required
from authz.server.servicers.authorizer import _params, context_from_wire

LIMITS = RequestLimits(
    max_context_keys=3, max_context_values=2, max_context_value_chars=12, max_context_bytes=60
)
NO_VALUES = RequestLimits(max_context_values=0)


def _reference(
    request: authorizer_pb2.AuthorizeRequest, prefix: str, limits: RequestLimits
) -> AuthorizeParams:
    """The general path, as ``_params`` was before its one-pass form."""
    action = check_action(required(request.action, f"{prefix}action"), f"{prefix}action")
    resource = check_arn(required(request.resource, f"{prefix}resource"), f"{prefix}resource")
    check_arn(request.resource_account, f"{prefix}resourceAccount")
    check_context(((e.key, e.values) for e in request.context), limits, f"{prefix}context")
    return AuthorizeParams(
        action=action,
        resource=resource,
        resource_account=optional(request.resource_account),
        context=context_from_wire(request.context, prefix),
    )


def _outcome(
    decide: object, request: authorizer_pb2.AuthorizeRequest, limits: RequestLimits
) -> object:
    try:
        return decide(request, "items.2.", limits)  # type: ignore[operator]
    except errors.AuthzError as err:
        return (type(err).__name__, err.code, str(err))


_TYPES = [  # mostly the plain case, so that its edges (duplicates, limits) are met often
    *[common_pb2.CONTEXT_KEY_TYPE_STRING] * 6,
    common_pb2.CONTEXT_KEY_TYPE_STRING_LIST,
    common_pb2.CONTEXT_KEY_TYPE_BOOLEAN,
    common_pb2.CONTEXT_KEY_TYPE_UNSPECIFIED,
    common_pb2.CONTEXT_KEY_TYPE_IP,
]
_keys = st.sampled_from(["", "aws:SourceIp", "AWS:SOURCEIP", "s3:prefix", "k" * 300, "x:y"])
_entries = st.builds(
    lambda key, values, kind: common_pb2.ContextEntry(key=key, values=values, type=kind),
    _keys,
    st.one_of(
        st.lists(st.sampled_from(["1.2.3.4", "True", "v" * 13, "ab", ""]), min_size=1, max_size=1),
        st.lists(st.sampled_from(["", "1.2.3.4", "v" * 13]), max_size=3),
    ),
    st.sampled_from(_TYPES),
)
_requests = st.builds(
    lambda action, resource, account, context: authorizer_pb2.AuthorizeRequest(
        action=action, resource=resource, resource_account=account, context=context
    ),
    st.sampled_from(["", "a" * 129, *["s3:GetObject"] * 6]),
    st.sampled_from(["", "r" * 2049, *["arn:aws:s3:::b/k"] * 6]),
    st.sampled_from(["n" * 2049, *[""] * 3, *["111122223333"] * 3]),
    st.lists(_entries, max_size=5),
)


@settings(max_examples=600, deadline=None)
@given(_requests, st.sampled_from([LIMITS, RequestLimits(), NO_VALUES]))
def test_params_equal_the_general_checks_and_conversion(
    request: authorizer_pb2.AuthorizeRequest, limits: RequestLimits
) -> None:
    assert _outcome(_params, request, limits) == _outcome(_reference, request, limits)


def test_the_plain_context_path_converts_and_refuses_like_the_general_one() -> None:
    string = common_pb2.CONTEXT_KEY_TYPE_STRING
    plain = authorizer_pb2.AuthorizeRequest(action="s3:GetObject", resource="arn:aws:s3:::b/k")
    plain.context.add(key="aws:SourceIp", values=["10.0.0.1"], type=string)
    plain.context.add(key="s3:prefix", values=["home/"], type=string)
    params = _params(plain, "", RequestLimits())
    assert params.context == {"aws:sourceip": "10.0.0.1", "s3:prefix": "home/"}
    assert params == _reference(plain, "", RequestLimits())
    plain.context.add(key="AWS:SOURCEIP", values=["10.0.0.2"], type=string)  # a duplicate
    assert _outcome(_params, plain, LIMITS) == (
        "ValidationError",
        "ValidationError",
        "duplicate context key `AWS:SOURCEIP`",
    )


def test_the_limits_hold_at_their_edges() -> None:
    """The total of keys and values at the limit passes and one character more is refused;
    a limit of no values per key refuses even one."""

    def asked(*pairs: tuple[str, str]) -> authorizer_pb2.AuthorizeRequest:
        request = authorizer_pb2.AuthorizeRequest(action="s3:GetObject", resource="arn:aws:s3:::b")
        for key, value in pairs:
            request.context.add(key=key, values=[value], type=common_pb2.CONTEXT_KEY_TYPE_STRING)
        return request

    at_limit = asked(("k" * 20, "v" * 10), ("j" * 20, "w" * 10))  # 60 = max_context_bytes
    over = asked(("k" * 20, "v" * 10), ("j" * 20, "w" * 11))
    for request in (at_limit, over, asked(("aws:SourceIp", "10.0.0.1"))):
        for limits in (LIMITS, NO_VALUES):
            assert _outcome(_params, request, limits) == _outcome(_reference, request, limits)
    assert isinstance(_outcome(_params, at_limit, LIMITS), AuthorizeParams)
    assert _outcome(_params, over, LIMITS)[0] == "ValidationError"  # type: ignore[index]
