"""The ``authz`` command line: one sub-command per job, each registered by the module that
owns it. Thin: parse arguments, call the library, print JSON in AWS CLI shapes.

Exit codes and output formats are ``authz.cli_output`` (0 success, 1 a negative answer, 2 usage
error or bad input, 254 service error, 255 anything else).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from importlib import metadata

from authz.cli_output import EXIT_CODES_HELP, EXIT_OTHER, EXIT_SERVICE, EXIT_USAGE
from authz.errors import AuthzError

# Modules that contribute sub-commands through ``register(subparsers)``.
_COMMAND_MODULES = (
    "authz.cli_policy",
    "authz.cli_repo",
    "authz.cli_keys",
    "authz.cli_state",
    "authz.cli_server",
    "authz.cli_client",
    "authz.cli_credentials",
    "authz.cli_sessions",
    "authz.agent",
    "authz.cli_devissuer",
    "authz.bench.cli",
)

ENVIRONMENT_HELP = """environment variables:
  AUTHZ_SESSION_TOKEN           session token of an assumed role (client commands)
  AUTHZ_ACCESS_KEY_ID           access key id (with AUTHZ_SECRET_ACCESS_KEY)
  AUTHZ_SECRET_ACCESS_KEY       secret of AUTHZ_ACCESS_KEY_ID
  AUTHZ_CREDENTIALS_FILE        JSON credentials file (keys create output, or assume-role output)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
                                the AWS standard variables, read after the AUTHZ_* ones
  AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME
                                web identity: an OIDC token file exchanged for a session of
                                AWS_ROLE_ARN (AssumeRoleWithWebIdentity), after the AWS_* keys
  AWS_PROFILE                   profile in the shared credentials file (default: default)
  AWS_SHARED_CREDENTIALS_FILE   shared credentials file (default: ~/.aws/credentials)
  AUTHZ_BENCH_RELOAD_MS         bench: reload interval of the reload scenario (default 500)
  AUTHZ_BENCH_FIXTURE           bench: internal, the fixture file handed to spawned clients
  AUTHZ_BENCH_HARNESS_DIR       bench: directory of the peer harness (default benchmarks/harness)

credentials, first found wins: AUTHZ_SESSION_TOKEN; AUTHZ_ACCESS_KEY_ID + AUTHZ_SECRET_ACCESS_KEY;
AUTHZ_CREDENTIALS_FILE; then the AWS chain as boto3 resolves it (AWS_* variables, web identity,
then the AWS_PROFILE profile of the shared credentials file). Enforcement points that set
`principal` on Authorize need `authz:AuthorizeOnBehalf` (see docs/security.md)."""


def version() -> str:
    try:
        return metadata.version("authz")
    except metadata.PackageNotFoundError:  # a source checkout that is not installed
        return "0.1.0"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authz",
        description="IAM-compatible STS and authorization decision point (gRPC, Cedar).",
        epilog=f"{EXIT_CODES_HELP}\n\n{ENVIRONMENT_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"authz {version()}", help="print the version"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # that area is not built yet
            raise
        module.register(subparsers)
    return parser


def _from_service(err: AuthzError) -> bool:
    """An error the server answered with (the client raises it from the gRPC error)."""
    cause = err.__cause__
    return cause is not None and type(cause).__module__.startswith("grpc")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except AuthzError as err:
        print(json.dumps(err.to_dict(), indent=2), file=sys.stderr)
        return EXIT_SERVICE if _from_service(err) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as err:
        print(f"authz: error: {err}", file=sys.stderr)
        return EXIT_OTHER
    return code


if __name__ == "__main__":
    sys.exit(main())
