"""Hostile values for the fuzz targets: strings a caller or a repository author could send,
random JSON, and mutations of valid IAM policy documents (a valid document with one node
replaced, deleted or re-typed, or its text cut or spliced).

Owns only generation (Hypothesis strategies); the targets in ``targets`` decide what is a
crash. Valid documents come from the differential generators (tests/differential).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.differential import pools as p
from tests.differential.strategies import policies_of

Json = Any

# Strings that broke or could break parsers, matchers and validators: empty, wildcards and
# variables cut short, separators, control and non-BMP characters, numbers and dates out of
# range, long runs (bounded: the size limits are a separate issue item), ARN look-alikes.
EDGE_STRINGS = (
    "",
    " ",
    "*",
    "?",
    "**?*",
    "${",
    "${}",
    "${aws:username",
    "${*}${?}${$}",
    "${aws:PrincipalTag/${aws:username}}",
    "${aws:username, 'x'",
    "arn:",
    "arn:aws",
    "arn:aws:s3:::",
    ":::::",
    "arn:aws:iam::123456789012:root",
    "arn:aws:iam::*:role/*",
    "arn:aws:sts::123456789012:assumed-role/r/s",
    "123456789012",
    "AIDAEXAMPLE",
    "\x00",
    "\t\n\r",
    "\u202e\u200b",
    "é",
    "\U0001f600",
    "\ud7ff",
    "1e400",
    "-1e-400",
    "NaN",
    "Infinity",
    "-0",
    "0x10",
    "99999999999999999999999999",
    "2020-13-45T99:99:99Z",
    "999999999999",
    "-62135596800",
    "2020-05-15T12:00:00+25:00",
    "10.0.0.0/33",
    "::1/129",
    "256.256.256.256",
    "true",
    "True",
    "null",
    "{}",
    "[]",
    "StringEquals",
    "ForAllValues:StringLikeIfExists",
    "aWxsZWdhbA=",
    "a" * 300,
    "*a" * 40 + "?b",
    "x" * 2100,
)
WORDS = (
    "Version",
    "Statement",
    "Sid",
    "Effect",
    "Allow",
    "Deny",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
    "AWS",
    "Service",
    "Federated",
    "CanonicalUser",
    "2012-10-17",
    "2008-10-17",
    "Id",
)


def text() -> st.SearchStrategy[str]:
    """A string: mostly from the pools above and the differential pools, sometimes random."""
    return st.one_of(
        st.sampled_from(EDGE_STRINGS),
        st.sampled_from(WORDS),
        st.sampled_from(p.ACTION_PATTERNS + p.RESOURCE_PATTERNS + p.STRING_POLICY_VALUES),
        st.sampled_from(p.ACTIONS + p.resource_arns(p.ACCOUNT_A) + p.STRING_KEYS),
        st.text(max_size=40),
    )


def scalars() -> st.SearchStrategy[Json]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        text(),
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Json]:
    """Any JSON value, keys mostly from the IAM vocabulary."""
    keys = st.one_of(st.sampled_from(WORDS), text())
    return st.recursive(
        scalars(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=max_leaves,
    )


_KINDS = ("identity", "resource", "trust")


@st.composite
def valid_documents(draw: st.DrawFn, kind: str | None = None) -> Json:
    """A valid document of ``kind`` (identity, resource or trust; any when None)."""
    kind = kind or draw(st.sampled_from(_KINDS))
    if kind == "trust":
        return draw(policies_of(kind="trust", actions=("sts:AssumeRole", "sts:TagSession")))
    return draw(policies_of(kind=kind))


def _paths(node: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _replace(node: Json, path: tuple[Any, ...], value: Json, delete: bool) -> Json:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        copy = dict(node)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(node[head], rest, value, delete)
        return copy
    copy_list = list(node)
    if delete and not rest:
        del copy_list[head]
    else:
        copy_list[head] = _replace(node[head], rest, value, delete)
    return copy_list


@st.composite
def mutated_documents(draw: st.DrawFn, kind: str | None = None) -> Json:
    """A valid document with 1-3 nodes replaced by random JSON, deleted or wrapped in a list."""
    doc = draw(valid_documents(kind))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(("replace", "replace", "delete", "wrap", "scalar")))
        if how == "delete" and path:
            doc = _replace(doc, path, None, True)
        elif how == "wrap":
            current: Json = doc
            for step in path:
                current = current[step]
            doc = _replace(doc, path, [current, current], False)
        elif how == "scalar":
            doc = _replace(doc, path, draw(scalars()), False)
        else:
            doc = _replace(doc, path, draw(json_values()), False)
    return doc


@st.composite
def gently_mutated_documents(draw: st.DrawFn, kind: str | None = None) -> Json:
    """A valid document with 1-3 string leaves replaced by other strings (edge values, pool
    values, random text): often still valid, so it reaches translation and evaluation."""
    doc = draw(valid_documents(kind))
    for _ in range(draw(st.integers(1, 3))):
        leaves = [path for path in _paths(doc) if isinstance(_at(doc, path), str)]
        if not leaves:
            break
        doc = _replace(doc, draw(st.sampled_from(leaves)), draw(text()), False)
    return doc


def _at(node: Json, path: tuple[Any, ...]) -> Json:
    for step in path:
        node = node[step]
    return node


@st.composite
def document_texts(draw: st.DrawFn, kind: str | None = None) -> str:
    """Document text: a valid or mutated document serialised, then maybe cut, spliced with
    random text or given a duplicate key; or random text outright."""
    how = draw(st.sampled_from(("valid", "mutated", "cut", "splice", "duplicate", "random")))
    if how == "random":
        return str(draw(st.one_of(text(), st.text(max_size=200))))
    doc = draw(valid_documents(kind) if how == "valid" else mutated_documents(kind))
    raw = json.dumps(doc)
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if how == "splice":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(text()) + raw[at:]
    if how == "duplicate" and raw.startswith("{"):
        return '{"Version": "2012-10-17", ' + raw[1:]
    return raw


def documents(kind: str | None = None) -> st.SearchStrategy[Json]:
    """A policy document (based on ``kind``, any when None) as an object (valid, gently or
    roughly mutated, random JSON) or as text."""
    return st.one_of(
        valid_documents(kind),
        gently_mutated_documents(kind),
        gently_mutated_documents(kind),
        mutated_documents(kind),
        json_values(),
        document_texts(kind),
    )
