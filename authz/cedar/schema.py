"""The Cedar schema of translated output, generated from what a translation reads, and
``validate_translation``: the *validation rendering* (action tested against
``context.iam_action``, one declared action ``Iam::Action::"call"``) checked by Cedar's validator
(design note §7). It catches unguarded optional accesses and type confusion at compile time.

Owns the schema text. Imports cedarpy (this package is its only importer).
"""

from __future__ import annotations

import cedarpy

from authz.cedar.emit import ARN_FIELDS, REPRESENTATIONS, RES_ATTRIBUTES, attribute
from authz.cedar.pattern import cedar_string
from authz.cedar.translate import Translation

_ARN_PARTS = "{" + ", ".join(f'"{f}": String' for f in ARN_FIELDS) + "}"
_BASE_FIELDS = (
    '"iam_action": String',
    '"res_arn": String',
    *(f"{cedar_string(name)}?: String" for name in RES_ATTRIBUTES),
    '"oracle": Set<String>',
    '"keys": Set<String>',
    '"pids": Set<String>',
    '"pself": Set<String>',
)


def render_schema(uses: frozenset[tuple[str, str]]) -> str:
    """A schema declaring every context attribute the translation reads (all optional)."""
    fields = list(_BASE_FIELDS)
    for rep, key in sorted(uses):
        if rep != "keys":
            fields.append(f"{cedar_string(attribute(rep, key))}?: {REPRESENTATIONS[rep]}")
    context = ",\n    ".join(fields)
    return (
        "namespace Iam {\n"
        "  entity Principal;\n  entity Resource;\n"
        f"  type ArnParts = {_ARN_PARTS};\n"
        '  action "call" appliesTo {\n'
        "    principal: [Principal], resource: [Resource],\n"
        f"    context: {{\n    {context}\n    }}\n  }};\n}}\n"
    )


def validate_translation(translation: Translation) -> list[str]:
    """Validation errors (one line each, naming the statement); empty when valid."""
    if not translation.statements:
        return []
    text = translation.text(validation=True)
    try:
        result = cedarpy.validate_policies(
            text, cedarpy.Schema.from_str(render_schema(translation.uses))
        )
    except ValueError as err:
        return [f"cedar rejected the translation: {str(err).splitlines()[0].lower()}"]
    ids = result.id_annotations_by_policy_id
    out = []
    for error in result.errors:
        raw = error._error if hasattr(error, "_error") else {}
        pid = raw.get("policy_id", "") if isinstance(raw, dict) else ""
        message = raw.get("error", str(error)) if isinstance(raw, dict) else str(error)
        out.append(f"statement `{ids.get(pid, pid)}`: {message}")
    return out
