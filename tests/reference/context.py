"""Reference request context: key normalisation and the principal keys derived from the
principal object (iam-semantics.md §4.2, §4.6, §5; cases README "kind = authorize").

Owns ``Context`` (lowercased key -> string or list of strings) and ``build_context``. Listed
context values always win over derived ones. Imports nothing from ``authz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ContextValue = str | list[str]
Context = dict[str, ContextValue]

# aws:PrincipalType per principal kind (AWS global condition keys page).
_PRINCIPAL_TYPE = {
    "user": "User",
    "root": "Account",
    "assumed_role": "AssumedRole",
    "anonymous": "Anonymous",
}


def scalar(value: object) -> str:
    """A JSON scalar as IAM sees it: booleans are ``true``/``false``, numbers their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize(context: Mapping[str, Any]) -> Context:
    """Lowercase key names (§4.2); arrays stay lists (multivalued keys), scalars strings."""
    out: Context = {}
    for key, value in context.items():
        out[key.lower()] = [scalar(v) for v in value] if isinstance(value, list) else scalar(value)
    return out


def lookup(context: Context, key: str) -> ContextValue | None:
    return context.get(key.lower())


def derived_keys(principal: Mapping[str, Any]) -> Context:
    """Principal keys implied by the principal object (§4.6 table, §5, §6.2).

    user: PrincipalArn = user ARN, username = last path segment, userid = ``user_id`` if given;
    root: userid = account id; role session: PrincipalArn = the **role** ARN, userid =
    ``role_id:session`` if ``role_id`` is given; anonymous: only PrincipalType; service: none.
    """
    kind = principal["type"]
    out: Context = {}
    if kind in _PRINCIPAL_TYPE:
        out["aws:principaltype"] = _PRINCIPAL_TYPE[kind]
    if kind not in ("user", "root", "assumed_role"):
        return out
    arn = principal["arn"]
    out["aws:principalaccount"] = principal["account"]
    if kind == "user":
        out["aws:principalarn"] = arn
        out["aws:username"] = arn.rsplit("/", 1)[-1]
        if principal.get("user_id"):
            out["aws:userid"] = principal["user_id"]
    elif kind == "root":
        out["aws:principalarn"] = arn
        out["aws:userid"] = principal["account"]
    else:
        out["aws:principalarn"] = principal["role_arn"]
        if principal.get("role_id"):
            out["aws:userid"] = f"{principal['role_id']}:{arn.rsplit('/', 1)[-1]}"
    return out


def build_context(principal: Mapping[str, Any], listed: Mapping[str, Any]) -> Context:
    """The full request context: derived principal keys, overridden by the listed ones."""
    context = derived_keys(principal)
    context.update(normalize(listed))
    return context
