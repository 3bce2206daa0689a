"""Client commands against a running server, in AWS CLI shape: ``authz sts assume-role``,
``authz sts get-caller-identity``, ``authz check`` (Authorize).

Credentials, first found wins (as the AWS CLI does): ``AUTHZ_SESSION_TOKEN``;
``AUTHZ_ACCESS_KEY_ID`` + ``AUTHZ_SECRET_ACCESS_KEY``; the file named by
``AUTHZ_CREDENTIALS_FILE`` (JSON ``{"AccessKeyId", "SecretAccessKey"}`` or the
``{"Credentials": {...}}`` that ``assume-role`` prints, so its output can be used directly).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from authz.client import AuthzClient
from authz.client.credentials import AccessKeyCredentials, Credentials, SessionCredentials
from authz.errors import ValidationError

DEFAULT_TARGET = "127.0.0.1:50051"


def credentials_from_env(env: dict[str, str] | None = None) -> Credentials | None:
    env = dict(os.environ) if env is None else env
    if env.get("AUTHZ_SESSION_TOKEN"):
        return SessionCredentials(env["AUTHZ_SESSION_TOKEN"], datetime.max.replace(tzinfo=UTC))
    if env.get("AUTHZ_ACCESS_KEY_ID") and env.get("AUTHZ_SECRET_ACCESS_KEY"):
        return AccessKeyCredentials(env["AUTHZ_ACCESS_KEY_ID"], env["AUTHZ_SECRET_ACCESS_KEY"])
    path = env.get("AUTHZ_CREDENTIALS_FILE")
    if path:
        return _credentials_from_file(Path(path))
    return None


def _credentials_from_file(path: Path) -> Credentials:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValidationError(f"cannot read credentials file `{path}`: {err}") from err
    creds = data.get("Credentials", data)
    if creds.get("SessionToken"):
        expiration = datetime.fromisoformat(
            str(creds.get("Expiration", "9999-12-31T00:00:00+00:00"))
        )
        return SessionCredentials(creds["SessionToken"], expiration)
    if creds.get("AccessKeyId") and creds.get("SecretAccessKey"):
        return AccessKeyCredentials(creds["AccessKeyId"], creds["SecretAccessKey"])
    raise ValidationError(f"credentials file `{path}` holds neither an access key nor a session")


def _client(args: argparse.Namespace) -> AuthzClient:
    return AuthzClient(args.target, credentials_from_env(), timeout=args.timeout)


def _print(message: Any) -> None:
    print(json.dumps(MessageToDict(message), indent=2))


def _assume_role(args: argparse.Namespace) -> int:
    tags = dict(t.split("=", 1) for t in args.tags or [])
    with _client(args) as client:
        resp = client.assume_role(
            args.role_arn,
            args.role_session_name,
            duration_seconds=args.duration_seconds,
            external_id=args.external_id or "",
            policy=Path(args.policy).read_text(encoding="utf-8") if args.policy else "",
            tags=tags,
            transitive_tag_keys=args.transitive_tag_keys or (),
            serial_number=args.serial_number or "",
            token_code=args.token_code or "",
            source_identity=args.source_identity or "",
        )
    out = MessageToDict(resp)
    creds = out.get("credentials", {})
    aws_shape = {
        "Credentials": {
            "AccessKeyId": creds.get("accessKeyId"),
            "SecretAccessKey": creds.get("secretAccessKey"),
            "SessionToken": creds.get("sessionToken"),
            "Expiration": resp.credentials.expiration.ToDatetime(tzinfo=UTC).isoformat(),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": resp.assumed_role_user.assumed_role_id,
            "Arn": resp.assumed_role_user.arn,
        },
        "EffectiveDurationSeconds": resp.effective_duration_seconds,
        "DurationCappedBy": resp.duration_capped_by,
        "Revision": resp.revision,
    }
    print(json.dumps(aws_shape, indent=2))
    return 0


def _get_caller_identity(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.get_caller_identity()
    print(json.dumps({"UserId": resp.user_id, "Account": resp.account, "Arn": resp.arn}, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    context: dict[str, str | list[str]] = {}
    for item in args.context or []:
        key, _, value = item.partition("=")
        context[key] = value.split(",") if args.list_keys and key in args.list_keys else value
    with _client(args) as client:
        resp = client.authorize(
            args.action, args.resource, context=context, resource_account=args.resource_account
        )
    _print(resp)
    return 0


def _problem_dicts(problems: Any) -> list[dict[str, str]]:
    return [
        {"File": p.file, "Path": p.path, "Code": p.code, "Message": p.message} for p in problems
    ]


def refusal_text(
    serving: str,
    problems: list[dict[str, str]],
    error: str,
    *,
    command: str = "authz",
    repo: str = "DIR",
) -> str:
    """The human account of a refused reload: what still serves, each problem, what to run."""
    tests = any(p["Code"] == "policy_test_failed" for p in problems)
    lines = [f"RELOAD REFUSED - still serving revision {serving or '(none)'}"]
    for p in problems:
        where = f"{p['File']} {p['Path']}".strip()
        lines.append(f"  {where}: [{p['Code']}] {p['Message']}")
    if not problems:
        lines.append(f"  {error}")
    lines.append(
        f"run `{command} test --repo {repo}` to see every policy test"
        if tests
        else f"run `{command} validate --repo {repo}` to see every problem"
    )
    return "\n".join(lines)


def _reload(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.reload()
    problems = _problem_dicts(resp.problems)
    doc = {
        "Revision": resp.revision,
        "Changed": resp.changed,
        "Error": resp.error,
        "Problems": problems,
    }
    print(json.dumps(doc, indent=2))
    if resp.error:
        print(refusal_text(resp.revision, problems, resp.error), file=sys.stderr)
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.get_status()
    doc = MessageToDict(resp, preserving_proto_field_name=False)
    doc["lastReloadProblems"] = _problem_dicts(resp.last_reload_problems)
    print(json.dumps(doc, indent=2))
    if resp.last_reload_error:
        problems = doc["lastReloadProblems"]
        print(refusal_text(resp.revision, problems, resp.last_reload_error), file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    sts = subparsers.add_parser("sts", help="STS calls against a running server")
    sts_sub = sts.add_subparsers(dest="sts_command", required=True)
    ar = sts_sub.add_parser("assume-role", help="AssumeRole; prints temporary credentials")
    ar.add_argument("--role-arn", required=True)
    ar.add_argument("--role-session-name", required=True)
    ar.add_argument("--duration-seconds", type=int)
    ar.add_argument("--external-id")
    ar.add_argument("--policy", help="file holding an inline session policy")
    ar.add_argument("--tags", nargs="*", metavar="KEY=VALUE")
    ar.add_argument("--transitive-tag-keys", nargs="*")
    ar.add_argument("--source-identity")
    ar.add_argument("--serial-number", help="MFA device ARN (with --token-code)")
    ar.add_argument("--token-code", help="the device's current 6-digit code")
    ar.set_defaults(handler=_assume_role)
    gci = sts_sub.add_parser("get-caller-identity", help="who am I")
    gci.set_defaults(handler=_get_caller_identity)
    check = subparsers.add_parser("check", help="Authorize: may the caller do ACTION on RESOURCE?")
    check.add_argument("--action", required=True)
    check.add_argument("--resource", required=True)
    check.add_argument("--resource-account", default="")
    check.add_argument("--context", nargs="*", metavar="KEY=VALUE")
    check.add_argument("--list-keys", nargs="*", help="context keys whose value is a comma list")
    check.set_defaults(handler=_check)
    reload = subparsers.add_parser(
        "reload",
        help="PolicyAdmin Reload: rebuild the server's snapshot; exit 1 with every problem or "
        "failing policy test when the reload is refused",
    )
    reload.set_defaults(handler=_reload)
    status = subparsers.add_parser(
        "status", help="PolicyAdmin GetStatus: revision, counts, the last reload's refusal"
    )
    status.set_defaults(handler=_status)
    for parser in (ar, gci, check, reload, status):
        parser.add_argument("--target", default=DEFAULT_TARGET, help="host:port of the server")
        parser.add_argument("--timeout", type=float, default=10.0)
