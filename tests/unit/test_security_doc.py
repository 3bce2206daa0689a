"""docs/security.md mirrors the two tables the server enforces: every context key of
``authz.iam.context_keys`` and every permission of ``authz.permissions`` is listed there, and
the key classification is what the check uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authz.cedar.emit import COMPILE_TIME_KEYS, is_compile_time
from authz.errors import ValidationError
from authz.iam.context_keys import (
    ON_BEHALF_KEYS,
    SERVER_KEYS,
    SERVER_PREFIXES,
    KeyOwner,
    check_supplied_keys,
    owner_of,
)
from authz.permissions import RPC_PERMISSIONS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text(encoding="utf-8")
DOC_LOWER = DOC.lower()


def _rows(heading: str) -> set[str]:
    """The first-column keys of the table under ``heading``, lowercased."""
    section = DOC.split(heading, 1)[1].split("\n#", 1)[0]
    return {m.lower() for m in re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)}


def test_every_server_key_is_documented() -> None:
    documented = _rows("### Keys the server owns")
    assert documented == set(SERVER_KEYS) | {p + "*" for p in SERVER_PREFIXES}


def test_every_on_behalf_key_is_documented() -> None:
    assert _rows("### Keys only an enforcement point may supply") == set(ON_BEHALF_KEYS)


def test_every_permission_is_documented() -> None:
    section = DOC.split("## `authz:` actions", 1)[1]
    for permission in RPC_PERMISSIONS:
        assert f"| `{permission.action}` |" in section, permission.action
    actions = {p.action for p in RPC_PERMISSIONS if p.action.startswith("authz:")}
    assert actions == set(re.findall(r"`(authz:[A-Za-z]+)`", section))


def test_compile_time_variables_are_server_owned() -> None:
    """Partition cache keys hold only values the server states."""
    for key in COMPILE_TIME_KEYS:
        assert owner_of(key) is KeyOwner.SERVER, key
    assert (
        is_compile_time("aws:principaltag/x") and owner_of("AWS:PrincipalTag/X") is KeyOwner.SERVER
    )


@pytest.mark.parametrize("key", ["aws:SourceIp", "AWS:SECURETRANSPORT", "aws:sourcevpc"])
def test_origin_keys_only_on_behalf(key: str) -> None:
    check_supplied_keys([key], on_behalf=True)
    with pytest.raises(ValidationError, match=re.escape(f"`{key}`")):
        check_supplied_keys([key], on_behalf=False)


@pytest.mark.parametrize(
    "key", ["aws:RequestTag/team", "aws:ResourceTag/x", "s3:prefix", "aws:Referer"]
)
def test_request_keys_from_anyone(key: str) -> None:
    assert owner_of(key) is KeyOwner.REQUEST
    check_supplied_keys([key], on_behalf=False)
