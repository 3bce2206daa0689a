"""The hot dataclasses spell out ``__init__`` (and ``__hash__`` / ``__eq__`` where they are
cache keys) so that mypyc compiles them; the generated ones run interpreted, ~20x slower
(issue 15). Each must stay what the generated one would be: the fields, in order, with their
defaults, the hash of the compared fields, and equality field by field."""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from authz.cedar.context import RequestFacts
from authz.cedar.policyset import LayerResult
from authz.deadline import Deadline
from authz.engine.combine import Verdicts
from authz.engine.decision import Decision, EvalDecision, Layer
from authz.engine.evaluate import _Step
from authz.iam.model import AuthRequest, Caller, CallerKind, PolicyLayers
from authz.server.ports import AuthMethod, AuthorizeParams, AuthorizeResult, CallOrigin, Identity

EXPLICIT: list[type[Any]] = [
    RequestFacts, LayerResult, Deadline, Verdicts, _Step, Caller, AuthRequest, PolicyLayers,
    CallOrigin, Identity, AuthorizeParams, AuthorizeResult,
]  # fmt: skip
# what a required field is given when a class is built with its required fields only
_REQUIRED: dict[str, object] = {
    "action": "s3:getobject",
    "resource": "arn:aws:s3:::b/k",
    "context": {"aws:sourceip": "10.0.0.1"},
    "pids": ("a",),
    "pself": ("a",),
    "allowed": True,
    "explicit_deny": False,
    "at": 1.0,
    "budget": 2.0,
    "layer": Layer.IDENTITY,
    "partition": None,
    "result": LayerResult(True, False),
    "kind": CallerKind.USER,
    "caller": Caller(CallerKind.USER, "arn:aws:iam::111122223333:user/a"),
    "method": AuthMethod.ACCESS_KEY,
    "decision": Decision(EvalDecision.ALLOWED),
}


@pytest.mark.parametrize("cls", EXPLICIT, ids=lambda c: c.__name__)
def test_the_explicit_init_takes_the_fields_in_order(cls: type[Any]) -> None:
    # read from the source: a compiled ``__init__`` has no signature to inspect
    module = sys.modules[cls.__module__]
    source = Path(str(module.__file__)).parent / (cls.__module__.rsplit(".", 1)[1] + ".py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    (body,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    (init,) = [n for n in body.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    params = [a.arg for a in init.args.args[1:]]
    assert params == [f.name for f in dataclasses.fields(cls)]
    assert "__init__" in cls.__dict__  # the class's own, not the generated one


@pytest.mark.parametrize("cls", EXPLICIT, ids=lambda c: c.__name__)
def test_the_explicit_init_gives_the_field_defaults(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    required = {f.name: _REQUIRED[f.name] for f in fields if _no_default(f)}
    built = cls(**required)
    for f in fields:
        if f.name in required:
            assert getattr(built, f.name) == required[f.name], f.name
        elif f.default is not dataclasses.MISSING:
            assert getattr(built, f.name) == f.default, f.name
        else:
            assert getattr(built, f.name) == f.default_factory(), f.name  # type: ignore[misc]
    assert dataclasses.replace(built) == built


@pytest.mark.parametrize("cls", [Caller, LayerResult, CallOrigin], ids=lambda c: c.__name__)
def test_the_explicit_hash_is_the_hash_of_the_compared_fields(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    built = cls(**{f.name: _REQUIRED[f.name] for f in fields if _no_default(f)})
    assert hash(built) == hash(tuple(getattr(built, f.name) for f in fields if f.compare))


_OTHER: dict[str, object] = {
    "kind": CallerKind.ASSUMED_ROLE,
    "arn": "arn:aws:iam::111122223333:user/b",
    "account": "444455556666",
    "role_arn": "arn:aws:iam::111122223333:role/r",
    "unique_id": "AIDAEXAMPLE",
    "source_ip": "10.0.0.2",
    "secure_transport": True,
}


@pytest.mark.parametrize("cls", [Caller, CallOrigin], ids=lambda c: c.__name__)
def test_the_explicit_eq_compares_every_field(cls: type[Any]) -> None:
    """Equal when every compared field is (as the generated ``__eq__``), unequal when any one
    differs, and never equal to another type (even one with the same fields)."""
    assert "__eq__" in cls.__dict__
    fields = dataclasses.fields(cls)
    built = cls(**{f.name: _REQUIRED[f.name] for f in fields if _no_default(f)})
    assert built == dataclasses.replace(built)
    for f in fields:
        changed = dataclasses.replace(built, **{f.name: _OTHER[f.name]})
        assert changed != built and built != changed, f.name
        assert hash(changed) == hash(dataclasses.replace(changed))
    assert built != tuple(getattr(built, f.name) for f in fields)
    assert built.__eq__(object()) is NotImplemented


def test_frozen_classes_stay_frozen() -> None:
    caller = Caller(CallerKind.USER, "arn:aws:iam::111122223333:user/a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        caller.arn = "x"  # type: ignore[misc]
    assert Caller(CallerKind.USER, "arn:aws:iam::111122223333:user/a") == caller


def _no_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
