"""``authz validate | test | import | simulate-principal-policy``: the policy repository on the
command line.

Owns argument wiring and output formats only: validation is ``authz.repo.load``, policy tests
``authz.repo.policytests`` (run on a snapshot), import ``authz.repo.importer``, simulation
``authz.engine.simulate``. Exit codes follow ``authz.cli``: 0 success, 1 problems found or tests
failed, 2 bad input (AWS-style error JSON on stderr). Must not import grpc.

    authz validate --repo DIR [--json]
    authz test --repo DIR [--json] [--quiet]
    authz import --authorization-details FILE --account ID --out DIR [--roles FILE] [--dry-run]
    authz simulate-principal-policy --repo DIR --cli-input-json FILE
    authz diff --repo OLD --candidate NEW [--requests AUDIT_LOG]   (exit 1: decisions change)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from authz import cli_params
from authz.cli_output import add_output_options, emit
from authz.cli_paging import paginate_all
from authz.cli_policy import add_simulate_flags, simulate_flags
from authz.errors import Problem, RepositoryError, ValidationError
from authz.repo.importer import import_authorization_details, role_durations
from authz.repo.load import check_repository, describe, problem_dict

__all__ = ["register"]


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2))


def _print_problems(
    problems: list[Problem], as_json: bool, warnings: list[Problem] | None = None
) -> None:
    if as_json:
        doc: dict[str, Any] = {"Problems": [problem_dict(p) for p in problems]}
        if warnings is not None:
            doc["Warnings"] = [problem_dict(w) for w in warnings]
        _print_json(doc)
    else:
        for warning in warnings or []:
            print(f"warning: {warning}")
        print(describe(problems))


def cmd_validate(args: argparse.Namespace) -> int:
    result = check_repository(Path(args.repo))
    _print_problems(result.problems, args.json, result.warnings)
    return 1 if result.problems else 0


def cmd_test(args: argparse.Namespace) -> int:
    from authz.engine.snapshot import build_snapshot, run_repo_tests
    from authz.repo.policytests import as_json, report

    try:
        snapshot = build_snapshot(Path(args.repo))
    except RepositoryError as err:
        _print_problems(err.problems, args.json)
        return 1
    results = run_repo_tests(snapshot)
    if args.json:
        _print_json({"Revision": snapshot.revision, "Results": as_json(results)})
    else:
        print(report(results, verbose=not args.quiet))
    if not results:
        print("no policy tests found", file=sys.stderr)
    return 0 if all(r.passed for r in results) else 1


def _read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as err:
        raise ValidationError(f"cannot read {what} `{path}`: {err.strerror}") from err
    except ValueError as err:
        raise ValidationError(f"{what} `{path}` is not valid JSON: {err}") from err


def cmd_import(args: argparse.Namespace) -> int:
    data = _read_json(args.authorization_details, "authorization details")
    durations = role_durations(_read_json(args.roles, "--roles")) if args.roles else None
    out = Path(args.out)
    summary = import_authorization_details(data, args.account, out, durations, dry_run=args.dry_run)
    emit(summary.as_dict(), args)
    for notice in summary.notices:
        print(f"note: {notice}", file=sys.stderr)
    verb = "would be" if args.dry_run else "were"
    print(
        f"{len(summary.added)} file(s) {verb} added, {len(summary.changed)} changed, "
        f"{len(summary.removed)} removed, {summary.unchanged} unchanged",
        file=sys.stderr,
    )
    if args.dry_run:
        return 0
    result = check_repository(out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.problems:
        print(describe(result.problems), file=sys.stderr)
        return 1
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from authz.engine.simulate import simulate_principal_policy
    from authz.engine.snapshot import build_snapshot

    flags = {"PolicySourceArn": args.policy_source_arn, **simulate_flags(args)}
    payload = cli_params.request(args.cli_input_json, flags)
    for required, flag in (
        ("PolicySourceArn", "--policy-source-arn"),
        ("ActionNames", "--action-names"),
    ):
        if not payload.get(required):
            raise ValidationError(f"{flag} (or `{required}` in --cli-input-json) is required")
    try:
        snapshot = build_snapshot(Path(args.repo))
    except RepositoryError as err:
        _print_problems(err.problems, False)
        return 1
    pages = paginate_all(
        lambda request: simulate_principal_policy(snapshot, request),
        payload,
        max_items=args.max_items,
        starting_token=args.starting_token,
        page_size=args.page_size,
    )
    emit(pages, args)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from authz.engine.diff import diff_snapshots, generated_requests, requests_from_audit
    from authz.engine.snapshot import build_snapshot

    try:
        old = build_snapshot(Path(args.repo), git=False)
        new = build_snapshot(Path(args.candidate), git=False)
    except RepositoryError as err:
        _print_problems(err.problems, False)
        return 1
    if args.requests:
        text = cli_params.read_text(args.requests, "--requests")
        requests = requests_from_audit(text.splitlines(), args.limit)
    else:
        requests = generated_requests((old, new), args.limit)
    report = diff_snapshots(old, new, requests, max_seconds=args.max_seconds)
    emit(report.as_dict(), args)
    changed = len(report.changed)
    state = "" if report.complete else " (partial: time budget reached)"
    print(
        f"{changed} of {report.requests} decision(s) change{state} in {report.seconds:.2f}s",
        file=sys.stderr,
    )
    return 1 if changed else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("validate", help="validate a policy repository (all problems)")
    p.add_argument("--repo", required=True, help="repository directory")
    p.add_argument("--json", action="store_true", help="print problems as JSON")
    p.set_defaults(handler=cmd_validate)

    p = subparsers.add_parser("test", help="run the repository's policy tests")
    p.add_argument("--repo", required=True, help="repository directory")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    p.set_defaults(handler=cmd_test)

    p = subparsers.add_parser(
        "import", help="convert `aws iam get-account-authorization-details` output to a repo"
    )
    p.add_argument("--authorization-details", required=True, help="JSON file, or - for stdin")
    p.add_argument("--account", required=True, help="12-digit account id")
    p.add_argument(
        "--out",
        required=True,
        help="repository directory to sync: the account's users, groups, roles and policies "
        "missing from the input are removed",
    )
    p.add_argument(
        "--roles",
        metavar="FILE",
        help="`aws iam list-roles` or `get-role` output (JSON, or - for stdin): fills each "
        "role's MaxSessionDuration, which the authorization details omit",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the added/changed/removed summary and write nothing",
    )
    add_output_options(p)
    p.set_defaults(handler=cmd_import)

    p = subparsers.add_parser(
        "diff",
        help="preview a policy change: every decision that differs between two repositories "
        "(exit 1 when any does)",
    )
    p.add_argument("--repo", required=True, help="the repository serving now")
    p.add_argument("--candidate", required=True, help="the repository about to serve")
    p.add_argument(
        "--requests",
        metavar="FILE",
        help="an audit log (JSON lines; Authorize and AssumeRole events are replayed); default: "
        "requests generated from every principal x the actions its policies name",
    )
    p.add_argument("--limit", type=int, default=200_000, help="at most this many distinct requests")
    p.add_argument(
        "--max-seconds", type=float, default=None, help="stop after this long (a partial report)"
    )
    add_output_options(p)
    p.set_defaults(handler=cmd_diff)

    p = subparsers.add_parser(
        "simulate-principal-policy", help="SimulatePrincipalPolicy against a repository"
    )
    p.add_argument("--repo", required=True, help="repository directory")
    p.add_argument(
        "--cli-input-json",
        help="the whole request as JSON: inline, file://PATH, a path or -; flags given beside "
        "it win",
    )
    p.add_argument(
        "--policy-source-arn", metavar="ARN", help="the user, group or role whose policies apply"
    )
    add_simulate_flags(p)
    p.add_argument("--caller-arn", help="ARN of the simulated caller (default: the source)")
    add_output_options(p)
    p.set_defaults(handler=cmd_simulate)
