"""Policy sub-commands of ``authz``: ``simulate-custom-policy``, ``validate-policy`` and
``translate``. Thin: read the input, call the library, print JSON (or Cedar text).

Exit codes (``authz.cli``): 0 success (whatever the simulated decisions), 1 a policy that is not
valid (``validate-policy``), 2 bad input or usage (AWS-style error JSON on stderr).
Must not import cedarpy (the translation goes through ``authz.cedar``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from authz.cedar.schema import validate_translation
from authz.cedar.translate import Translation, translate_policies
from authz.engine.simulate import simulate_custom_policy
from authz.errors import AuthzError, MalformedPolicyDocument, ValidationError
from authz.iam.model import PolicyType
from authz.iam.parse import parse_policy

POLICY_TYPES = {
    "identity": PolicyType.IDENTITY,
    "managed": PolicyType.MANAGED,
    "trust": PolicyType.TRUST,
    "resource": PolicyType.RESOURCE,
    "boundary": PolicyType.BOUNDARY,
    "session": PolicyType.SESSION,
    "scp": PolicyType.SCP,
}
_LAYER = {"identity": "identity", "managed": "identity"}


def read_input(source: str, what: str) -> str:
    """A file path, ``file://`` path, or ``-`` (stdin)."""
    if source == "-":
        return sys.stdin.read()
    path = Path(source.removeprefix("file://"))
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValidationError(
            f"cannot read {what} `{source}`: {err.strerror or err}".lower()
        ) from err


def _requests(text: str) -> tuple[list[Any], bool]:
    """One JSON document, or JSON Lines (one request per line)."""
    try:
        return [json.loads(text)], False
    except json.JSONDecodeError:
        pass
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValidationError(
                    f"--cli-input-json line {n} is not valid json: {err.msg}".lower()
                ) from err
    return out, True


def cmd_simulate(args: argparse.Namespace) -> int:
    requests, lines = _requests(read_input(args.cli_input_json, "--cli-input-json"))
    status = 0
    for request in requests:
        try:
            response = simulate_custom_policy(request)
        except AuthzError as err:
            if not lines:
                raise
            print(json.dumps(err.to_dict()), file=sys.stderr)
            status = 2
            continue
        print(json.dumps(response) if lines else json.dumps(response, indent=2))
    return status


def cmd_validate(args: argparse.Namespace) -> int:
    text = read_input(args.policy_document, "--policy-document")
    try:
        policy = parse_policy(text, POLICY_TYPES[args.policy_type], name=args.policy_document)
    except MalformedPolicyDocument as err:
        print(
            json.dumps(
                {
                    "Valid": False,
                    "ErrorCode": err.code,
                    "Message": err.message,
                    "Location": err.location,
                },
                indent=2,
            )
        )
        return 1
    translation = translate_policies([policy], _LAYER.get(args.policy_type, args.policy_type))
    out: dict[str, Any] = {"Valid": True, "ErrorCode": None, "Message": None}
    problems = validate_translation(translation)
    if translation.diagnostics or problems:
        out["Diagnostics"] = [*translation.diagnostics, *problems]
    print(json.dumps(out, indent=2))
    return 0


def translation_json(translation: Translation) -> dict[str, Any]:
    return {
        "policies": [
            {"id": s.policy_id, "effect": s.effect.value, "text": s.render()}
            for s in translation.statements
        ],
        "actionGroups": {gid: sorted(names) for gid, names in sorted(translation.groups.items())},
        "oracleFacts": {fid: describe_fact(f) for fid, f in sorted(translation.facts.items())},
        "contextKeys": sorted(translation.keys),
        "diagnostics": list(translation.diagnostics),
    }


def describe_fact(fact: object) -> dict[str, Any]:
    from authz.cedar.oracle import ActionFact, ConditionFact, ResourceFact
    from authz.cedar.pattern import pattern_text

    if isinstance(fact, ActionFact):
        return {"kind": "action", "pattern": fact.pattern}
    if isinstance(fact, ResourceFact):
        return {"kind": "resource", "pattern": pattern_text(fact.pattern)}
    assert isinstance(fact, ConditionFact)
    operator = (
        (f"{fact.qualifier}:" if fact.qualifier else "")
        + fact.base
        + ("IfExists" if fact.if_exists else "")
    )
    return {
        "kind": "condition",
        "operator": operator,
        "key": fact.key,
        "values": [pattern_text(v) for v in fact.values],
    }


def cmd_translate(args: argparse.Namespace) -> int:
    text = read_input(args.policy_document, "--policy-document")
    policy = parse_policy(text, POLICY_TYPES[args.policy_type], name=args.name or "policy")
    translation = translate_policies([policy], _LAYER.get(args.policy_type, args.policy_type))
    if args.json:
        print(json.dumps(translation_json(translation), indent=2))
    else:
        print(translation.text())
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "simulate-custom-policy", help="AWS SimulateCustomPolicy on the Cedar engine"
    )
    p.add_argument(
        "--cli-input-json", required=True, help="request JSON (or JSON Lines) file, or -"
    )
    p.set_defaults(handler=cmd_simulate)

    p = subparsers.add_parser("validate-policy", help="validate one policy document")
    p.add_argument("--policy-type", required=True, choices=sorted(POLICY_TYPES))
    p.add_argument("--policy-document", required=True, help="policy JSON file, or -")
    p.set_defaults(handler=cmd_validate)

    p = subparsers.add_parser("translate", help="print the Cedar translation of one policy")
    p.add_argument("--policy-type", required=True, choices=sorted(POLICY_TYPES))
    p.add_argument("--policy-document", required=True, help="policy JSON file, or -")
    p.add_argument("--name", help="policy name used in @id annotations (default: policy)")
    p.add_argument("--json", action="store_true", help="policies, ids and oracle facts as JSON")
    p.set_defaults(handler=cmd_translate)
