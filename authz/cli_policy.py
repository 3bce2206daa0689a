"""Policy sub-commands of ``authz``: ``simulate-custom-policy``, ``validate-policy`` and
``translate``. Thin: read the input, call the library, print JSON (or Cedar text).

Exit codes (``authz.cli_output``): 0 success (whatever the simulated decisions), 1 a policy that
is not valid (``validate-policy``), 2 bad input or usage (AWS-style error JSON on stderr).
Documents are inline JSON, ``file://PATH``, a path or ``-`` (``authz.cli_params``).
Must not import cedarpy (the translation goes through ``authz.cedar``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from authz import cli_params
from authz.cedar.schema import validate_translation
from authz.cedar.translate import Translation, translate_policies
from authz.cli_output import add_output_options, emit
from authz.cli_paging import add_arguments as add_paging_arguments
from authz.cli_paging import paginate_all
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
    """Inline JSON, a file path, ``file://`` path, or ``-`` (stdin); echoed exactly on error."""
    return cli_params.document_text(source, what)


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
                    f"--cli-input-json line {n} is not valid JSON: {err.msg}"
                ) from err
    return out, True


def simulate_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The individual SimulateCustomPolicy flags that were given, in the API's shape."""

    def documents(values: list[str] | None, what: str) -> list[str] | None:
        return [read_input(v, what) for v in values] if values else None

    return {
        "PolicyInputList": documents(args.policy_input_list, "--policy-input-list"),
        "PermissionsBoundaryPolicyInputList": documents(
            args.permissions_boundary_policy_input_list,
            "--permissions-boundary-policy-input-list",
        ),
        "ActionNames": args.action_names,
        "ResourceArns": args.resource_arns,
        "ResourcePolicy": (
            read_input(args.resource_policy, "--resource-policy") if args.resource_policy else None
        ),
        "ResourceOwner": args.resource_owner,
        "CallerArn": args.caller_arn,
        "ContextEntries": (
            cli_params.context_entries(args.context_entries) if args.context_entries else None
        ),
    }


def _pages(request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Every page of a simulation (or ``--max-items`` results and a ``NextToken``)."""
    return paginate_all(
        simulate_custom_policy,
        request,
        max_items=args.max_items,
        starting_token=args.starting_token,
        page_size=args.page_size,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    flags = simulate_flags(args)
    if any(v is not None for v in flags.values()) or args.cli_input_json is None:
        request = cli_params.request(args.cli_input_json, flags)
        for required in ("PolicyInputList", "ActionNames"):
            if not request.get(required):
                flag = "--policy-input-list" if required == "PolicyInputList" else "--action-names"
                raise ValidationError(f"{flag} (or `{required}` in --cli-input-json) is required")
        emit(_pages(request, args), args)
        return 0
    requests, lines = _requests(read_input(args.cli_input_json, "--cli-input-json"))
    status = 0
    for request in requests:
        try:
            response = _pages(request, args)
        except AuthzError as err:
            if not lines:
                raise
            print(json.dumps(err.to_dict()), file=sys.stderr)
            status = 2
            continue
        if lines:
            print(json.dumps(response))
        else:
            emit(response, args)
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


DOCUMENT_HELP = "policy JSON: inline, file://PATH, a path, or - for stdin"


def add_simulate_flags(p: argparse.ArgumentParser) -> None:
    """The SimulateCustomPolicy / SimulatePrincipalPolicy flags of the AWS CLI."""
    p.add_argument(
        "--policy-input-list",
        nargs="+",
        metavar="DOC",
        help="identity policies to simulate: inline JSON or file://PATH, one per item",
    )
    p.add_argument(
        "--permissions-boundary-policy-input-list",
        nargs="+",
        metavar="DOC",
        help="permissions boundary documents: inline JSON or file://PATH",
    )
    p.add_argument("--action-names", nargs="+", metavar="ACTION", help="actions to simulate")
    p.add_argument("--resource-arns", nargs="+", metavar="ARN", help="resources (default *)")
    p.add_argument(
        "--resource-policy", metavar="DOC", help="resource-based policy: inline JSON or file://"
    )
    p.add_argument("--resource-owner", metavar="ARN", help="account ARN owning the resources")
    p.add_argument(
        "--context-entries",
        nargs="+",
        metavar="ENTRY",
        help="context keys: ContextKeyName=k,ContextKeyValues=v1,v2,ContextKeyType=string "
        "(shorthand, one per item) or JSON",
    )
    add_paging_arguments(p)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "simulate-custom-policy", help="AWS SimulateCustomPolicy on the Cedar engine"
    )
    p.add_argument(
        "--cli-input-json",
        help="the whole request as JSON: inline, file://PATH, a path or - (JSON Lines: one "
        "request per line); flags given beside it win",
    )
    add_simulate_flags(p)
    p.add_argument(
        "--caller-arn", help="ARN of the simulated caller (required for ${aws:username} keys)"
    )
    add_output_options(p)
    p.set_defaults(handler=cmd_simulate)

    p = subparsers.add_parser("validate-policy", help="validate one policy document")
    p.add_argument(
        "--policy-type",
        required=True,
        choices=sorted(POLICY_TYPES),
        help="how the document is used",
    )
    p.add_argument("--policy-document", required=True, help=DOCUMENT_HELP)
    p.set_defaults(handler=cmd_validate)

    p = subparsers.add_parser("translate", help="print the Cedar translation of one policy")
    p.add_argument(
        "--policy-type",
        required=True,
        choices=sorted(POLICY_TYPES),
        help="how the document is used",
    )
    p.add_argument("--policy-document", required=True, help=DOCUMENT_HELP)
    p.add_argument("--name", help="policy name used in @id annotations (default: policy)")
    p.add_argument("--json", action="store_true", help="policies, ids and oracle facts as JSON")
    p.set_defaults(handler=cmd_translate)
