"""Client commands against a running server, in AWS CLI shape: ``authz sts assume-role``,
``authz sts assume-role-with-web-identity``,
``authz sts get-caller-identity``, ``authz check`` (Authorize), ``authz reload`` and
``authz status`` (PolicyAdmin).

Credentials: the chain of ``authz.client.chain`` (``AUTHZ_*`` variables, then the AWS standard
variables and shared credentials profile, as boto3 resolves them). ``check`` prints a human
answer (``--output json`` for the response) and exits 1 on a deny; ``reload`` exits 1 when the
reload is refused. Output options and exit codes: ``authz.cli_output``.
``AUTHZ_CA_FILE`` (or ``--ca-file``) names the CA certificate (PEM) of a TLS server; without it
the channel is plaintext.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from authz import cli_params
from authz._gen.authz.v1 import authorizer_pb2
from authz.cli_output import EXIT_CODES_HELP, EXIT_NEGATIVE, EXIT_OK, add_output_options, emit
from authz.client import AuthzClient
from authz.client.chain import resolve_credentials
from authz.client.credentials import Credentials
from authz.client.web_identity import WebIdentityCredentials, web_identity_first
from authz.errors import ValidationError

DEFAULT_TARGET = "127.0.0.1:50051"


def credentials_from_env(env: dict[str, str] | None = None) -> Credentials | None:
    """The credential chain of ``authz.client.chain`` (AUTHZ_*, then AWS_* and profiles)."""
    return resolve_credentials(env)


def _client(args: argparse.Namespace) -> AuthzClient:
    ca_file = args.ca_file or os.environ.get("AUTHZ_CA_FILE")
    ca = None
    if ca_file:
        try:
            ca = Path(ca_file).read_bytes()
        except OSError as err:
            raise ValidationError(f"cannot read CA file `{ca_file}`: {err}") from err
    if web_identity_first(os.environ):  # a workload holding only a token file
        client = AuthzClient(args.target, None, root_certificates=ca, timeout=args.timeout)
        client.use_credentials(WebIdentityCredentials.from_environment(client))
        return client
    return AuthzClient(
        args.target, credentials_from_env(), root_certificates=ca, timeout=args.timeout
    )


def _assume_role(args: argparse.Namespace) -> int:
    tags = cli_params.tags(args.tags or [])
    policy = cli_params.document_text(args.policy, "--policy") if args.policy else ""
    with _client(args) as client:
        resp = client.assume_role(
            args.role_arn,
            args.role_session_name,
            duration_seconds=args.duration_seconds,
            external_id=args.external_id or "",
            policy=policy,
            tags=tags,
            transitive_tag_keys=args.transitive_tag_keys or (),
            serial_number=args.serial_number or "",
            token_code=args.token_code or "",
            source_identity=args.source_identity or "",
        )
    emit(_session_shape(resp), args)
    return 0


def _session_shape(resp: Any) -> dict[str, Any]:
    """An AssumeRole* response in the AWS CLI's shape (also what AUTHZ_CREDENTIALS_FILE reads)."""
    creds = resp.credentials
    return {
        "Credentials": {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "SessionToken": creds.session_token,
            "Expiration": creds.expiration.ToDatetime(tzinfo=UTC).isoformat(),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": resp.assumed_role_user.assumed_role_id,
            "Arn": resp.assumed_role_user.arn,
        },
        "EffectiveDurationSeconds": resp.effective_duration_seconds,
        "DurationCappedBy": resp.duration_capped_by,
        "Revision": resp.revision,
    }


def _assume_role_with_web_identity(args: argparse.Namespace) -> int:
    """No credentials are sent: the token is the proof."""
    token = args.web_identity_token
    if token.startswith("file://") or token == "-":
        token = cli_params.read_text(token, "--web-identity-token")
    policy = cli_params.document_text(args.policy, "--policy") if args.policy else ""
    with _client(args) as client:
        resp = client.assume_role_with_web_identity(
            args.role_arn,
            args.role_session_name,
            token.strip(),
            duration_seconds=args.duration_seconds,
            policy=policy,
            policy_arns=args.policy_arns or (),
            provider_id=args.provider_id or "",
        )
    doc = _session_shape(resp)
    doc["SubjectFromWebIdentityToken"] = resp.subject_from_web_identity_token
    doc["Audience"] = resp.audience
    doc["Provider"] = resp.provider
    emit(doc, args)
    return 0


def _get_caller_identity(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.get_caller_identity()
    emit({"UserId": resp.user_id, "Account": resp.account, "Arn": resp.arn}, args)
    return 0


_DECISIONS = {
    authorizer_pb2.DECISION_ALLOWED: "Allowed",
    authorizer_pb2.DECISION_EXPLICIT_DENY: "ExplicitDeny",
    authorizer_pb2.DECISION_IMPLICIT_DENY: "ImplicitDeny",
}


def authorize_dict(resp: authorizer_pb2.AuthorizeResponse) -> dict[str, Any]:
    """An Authorize response in AWS-style names, the decision as a word."""
    return {
        "Decision": _DECISIONS.get(resp.decision, "Unspecified"),
        "PrincipalArn": resp.principal_arn,
        "FailingLayer": resp.failing_layer,
        "Reason": resp.reason,
        "MatchedStatements": [
            {
                "SourcePolicyId": m.source_policy_id,
                "SourcePolicyType": m.source_policy_type,
                "StatementId": m.statement_id,
                "Effect": m.effect,
                "SourceFile": m.source_file,
            }
            for m in resp.matched_statements
        ],
        "MissingContextValues": list(resp.missing_context_values),
        "Revision": resp.revision,
    }


def check_text(doc: dict[str, Any], action: str, resource: str) -> str:
    """The human answer: ALLOWED/DENIED, who, what, why, which statements decided."""
    allowed = doc["Decision"] == "Allowed"
    verdict = "ALLOWED" if allowed else "DENIED"
    lines = [f"{verdict}: {doc['PrincipalArn'] or 'caller'} -> {action} on {resource}"]
    if not allowed:
        kind = "explicit deny" if doc["Decision"] == "ExplicitDeny" else "implicit deny"
        layer = f" in the {doc['FailingLayer']} layer" if doc["FailingLayer"] else ""
        lines.append(f"  {kind}{layer}")
    if doc["Reason"]:
        lines.append(f"  reason: {doc['Reason']}")
    for m in doc["MatchedStatements"]:
        where = f" ({m['SourceFile']})" if m["SourceFile"] else ""
        lines.append(
            f"  {m['Effect']} by statement {m['StatementId']} of {m['SourcePolicyId']}{where}"
        )
    if doc["MissingContextValues"]:
        lines.append("  missing context: " + ", ".join(doc["MissingContextValues"]))
    lines.append(f"  revision {doc['Revision']}")
    return "\n".join(lines)


def _check(args: argparse.Namespace) -> int:
    context: dict[str, str | list[str]] = {}
    for item in args.context or []:
        key, _, value = item.partition("=")
        context[key] = value.split(",") if args.list_keys and key in args.list_keys else value
    for entry in cli_params.context_entries(args.context_entries or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("ContextKeyName"), str):
            raise ValidationError("--context-entries: each entry needs ContextKeyName")
        values = entry.get("ContextKeyValues") or []
        listed = str(entry.get("ContextKeyType", "")).endswith("List") or len(values) > 1
        context[entry["ContextKeyName"]] = (
            list(values) if listed else str(values[0] if values else "")
        )
    with _client(args) as client:
        resp = client.authorize(
            args.action, args.resource, context=context, resource_account=args.resource_account
        )
    doc = authorize_dict(resp)
    if args.output is None and args.query is None:
        print(check_text(doc, args.action, args.resource))
    else:
        emit(doc, args)
    return EXIT_OK if resp.decision == authorizer_pb2.DECISION_ALLOWED else EXIT_NEGATIVE


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
        resp = client.reload(force=args.force)
    problems = _problem_dicts(resp.problems)
    doc = {
        "Revision": resp.revision,
        "Changed": resp.changed,
        "Error": resp.error,
        "Problems": problems,
    }
    emit(doc, args)
    if resp.error:
        print(refusal_text(resp.revision, problems, resp.error), file=sys.stderr)
        return 1
    return 0


def _preview_reload(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.preview_reload(
            audit_log=args.audit_log, max_requests=args.max_requests, max_seconds=args.max_seconds
        )
    doc = MessageToDict(resp, always_print_fields_with_no_presence=True)
    emit(doc, args)
    if resp.problems:
        problems = _problem_dicts(resp.problems)
        print(refusal_text("", problems, "the candidate does not build"), file=sys.stderr)
        return EXIT_NEGATIVE
    partial = "" if resp.complete else " (partial)"
    print(
        f"{len(resp.changed)} of {resp.requests_replayed} decision(s) change{partial}",
        file=sys.stderr,
    )
    return EXIT_NEGATIVE if resp.changed else EXIT_OK


def _status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.get_status()
    doc = MessageToDict(resp, preserving_proto_field_name=False)
    doc["lastReloadProblems"] = _problem_dicts(resp.last_reload_problems)
    emit(doc, args)
    if resp.last_reload_error:
        problems = doc["lastReloadProblems"]
        print(refusal_text(resp.revision, problems, resp.last_reload_error), file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    epilog = f"{EXIT_CODES_HELP}\n\n{CREDENTIALS_HELP}"
    fmt = argparse.RawDescriptionHelpFormatter
    sts = subparsers.add_parser("sts", help="STS calls against a running server")
    sts_sub = sts.add_subparsers(dest="sts_command", required=True, metavar="COMMAND")
    ar = sts_sub.add_parser(
        "assume-role",
        help="AssumeRole; prints temporary credentials",
        epilog=epilog,
        formatter_class=fmt,
    )
    ar.add_argument("--role-arn", required=True, help="ARN of the role to assume")
    ar.add_argument("--role-session-name", required=True, help="session name (2-64 of [\\w+=,.@-])")
    ar.add_argument(
        "--duration-seconds",
        type=int,
        help="session length, 900 up to the role's MaxSessionDuration (default 3600)",
    )
    ar.add_argument("--external-id", help="the external id the role's trust policy requires")
    ar.add_argument("--policy", help="inline session policy: inline JSON, file://PATH or a path")
    ar.add_argument(
        "--tags",
        nargs="*",
        metavar="TAG",
        help="session tags: Key=k,Value=v (one per item), JSON, or k=v",
    )
    ar.add_argument(
        "--transitive-tag-keys", nargs="*", metavar="KEY", help="session tag keys to pass on"
    )
    ar.add_argument("--source-identity", help="the source identity to set on the session")
    ar.add_argument("--serial-number", help="MFA device ARN (with --token-code)")
    ar.add_argument("--token-code", help="the device's current 6-digit code")
    ar.set_defaults(handler=_assume_role)
    web = sts_sub.add_parser(
        "assume-role-with-web-identity",
        help="AssumeRoleWithWebIdentity: an OIDC token for a role session (no credentials)",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    web.add_argument("--role-arn", required=True, help="ARN of the role to assume")
    web.add_argument(
        "--role-session-name", required=True, help="session name (2-64 of [\\w+=,.@-])"
    )
    web.add_argument(
        "--web-identity-token",
        required=True,
        help="the OIDC token, or file://PATH (e.g. a projected service-account token), or -",
    )
    web.add_argument(
        "--duration-seconds",
        type=int,
        help="session length, 900 up to the role's MaxSessionDuration (default 3600)",
    )
    web.add_argument("--policy", help="inline session policy: inline JSON, file://PATH or a path")
    web.add_argument("--policy-arns", nargs="*", metavar="ARN", help="managed session policies")
    web.add_argument("--provider-id", help="OAuth 2.0 providers only; omit for OIDC tokens")
    web.set_defaults(handler=_assume_role_with_web_identity)
    gci = sts_sub.add_parser(
        "get-caller-identity", help="who am I", epilog=epilog, formatter_class=fmt
    )
    gci.set_defaults(handler=_get_caller_identity)
    check = subparsers.add_parser(
        "check",
        help="Authorize: may the caller do ACTION on RESOURCE? (exit 1 on a deny)",
        epilog=epilog,
        formatter_class=fmt,
    )
    check.add_argument("--action", required=True, help="the IAM action, e.g. s3:GetObject")
    check.add_argument("--resource", required=True, help="the resource ARN (or *)")
    check.add_argument(
        "--resource-account", default="", help="12-digit account owning the resource"
    )
    check.add_argument(
        "--context", nargs="*", metavar="KEY=VALUE", help="request context values (our spelling)"
    )
    check.add_argument(
        "--list-keys", nargs="*", metavar="KEY", help="--context keys whose value is a comma list"
    )
    check.add_argument(
        "--context-entries",
        nargs="+",
        metavar="ENTRY",
        help="context as the AWS CLI spells it: "
        "ContextKeyName=k,ContextKeyValues=v1,v2,ContextKeyType=string, or JSON",
    )
    check.set_defaults(handler=_check)
    reload = subparsers.add_parser(
        "reload",
        help="PolicyAdmin Reload: rebuild the server's snapshot; exit 1 with every problem or "
        "failing policy test when the reload is refused",
        epilog=epilog,
        formatter_class=fmt,
    )
    reload.add_argument(
        "--force",
        action="store_true",
        help="activate even when the change alters more decisions than max_changed_decisions",
    )
    reload.set_defaults(handler=_reload)
    preview = subparsers.add_parser(
        "preview-reload",
        help="PolicyAdmin PreviewReload: every decision the repository on disk would change "
        "(exit 1 when any does)",
        epilog=epilog,
        formatter_class=fmt,
    )
    preview.add_argument(
        "--audit-log",
        action="store_true",
        help="replay the server's audit log instead of generated requests",
    )
    preview.add_argument(
        "--max-requests", type=int, default=0, help="at most this many requests (server default)"
    )
    preview.add_argument(
        "--max-seconds", type=float, default=0.0, help="time budget (server default 60)"
    )
    preview.set_defaults(handler=_preview_reload)
    status = subparsers.add_parser(
        "status",
        help="PolicyAdmin GetStatus: revision, counts, the last reload's refusal",
        epilog=epilog,
        formatter_class=fmt,
    )
    status.set_defaults(handler=_status)
    for parser in (ar, web, gci, check, reload, status, preview):
        parser.add_argument("--target", default=DEFAULT_TARGET, help="host:port of the server")
        parser.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for an answer"
        )
        parser.add_argument("--ca-file", help="CA certificate of a TLS server (AUTHZ_CA_FILE)")
        add_output_options(parser)


CREDENTIALS_HELP = """credentials, first found wins: AUTHZ_SESSION_TOKEN; AUTHZ_ACCESS_KEY_ID +
AUTHZ_SECRET_ACCESS_KEY; AUTHZ_CREDENTIALS_FILE; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
(+ AWS_SESSION_TOKEN); AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME:
AssumeRoleWithWebIdentity with the token, re-read at each refresh); the AWS_PROFILE profile
(else default) of AWS_SHARED_CREDENTIALS_FILE (else ~/.aws/credentials), e.g. written by
`authz keys create --profile NAME`."""
