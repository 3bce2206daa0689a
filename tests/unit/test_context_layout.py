"""The Cedar request context's names cannot collide (``authz.cedar.emit``): a condition
attribute is ``<representation>.<key>`` for any key a policy author writes, so no fixed field
may be spelled like one, and the context builder must write nothing else."""

from __future__ import annotations

from authz.cedar.context import ContextPlan, RequestFacts, build_context
from authz.cedar.emit import REPRESENTATIONS, RES_ATTRIBUTES, attribute

FIXED = ("iam_action", "res_arn", "oracle", "keys", "pids", "pself", *RES_ATTRIBUTES)


def test_no_fixed_field_is_spelled_like_a_condition_attribute() -> None:
    for name in FIXED:
        rep, dot, _ = name.partition(".")
        assert not (dot and rep in REPRESENTATIONS), name
    assert not any("." in rep for rep in REPRESENTATIONS)


def test_keys_spelled_like_fixed_fields_stay_in_their_own_attributes() -> None:
    uses = frozenset({(rep, key) for rep in REPRESENTATIONS for key in FIXED}) | {("keys", "pids")}
    plan = ContextPlan.of(
        uses, frozenset({"iam_action", "res_arn", *RES_ATTRIBUTES, "pids", "pself"})
    )
    context = {key: "10.0.0.1" for key in FIXED}
    facts = RequestFacts(
        "s3:getobject", "arn:aws:s3:::b/k", context, ("arn:aws:iam::1:user/a",), ()
    )
    out = build_context(plan, facts, [])
    assert out["iam_action"] == "s3:getobject"
    assert out["res_arn"] == "arn:aws:s3:::b/k"
    assert out["pids"] == ["arn:aws:iam::1:user/a"]
    assert out["res_head"] == "arn:aws:s3::"
    assert out["res.resource"] == "b/k"
    assert out["keys"] == ["pids"]
    for key in FIXED:
        assert out[attribute("s", key)] == "10.0.0.1"
    allowed = {*FIXED, "keys"} | {attribute(rep, key) for rep, key in uses if rep != "keys"}
    assert set(out) <= allowed, set(out) - allowed


def test_the_context_encoder_writes_what_json_writes() -> None:
    """``encode_context`` (the C encoder built once) gives ``json.dumps``' compact text."""
    import json

    from authz.cedar.policyset import encode_context

    contexts: list[dict[str, object]] = [
        {},
        {"iam_action": "s3:getobject", "bool.aws:securetransport": True, "ip4.aws:sourceip": 1},
        {"mv.k": ["a", "é", '\u0000"\\'], "arn.k": {"prefix": "arn", "resource": "x:y"}},
        {"ip.aws:sourceip": {"__extn": {"fn": "ip", "arg": "::1"}}, "keys": []},
    ]
    for context in contexts:
        assert encode_context(context) == json.dumps(context, separators=(",", ":"))
    try:
        encode_context({"k": object()})
    except TypeError as err:
        assert "not JSON serializable" in str(err)
    else:
        raise AssertionError("an object that is not JSON was encoded")
