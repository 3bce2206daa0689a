"""The ``authz`` command line: one sub-command per job, each registered by the module that
owns it. Thin: parse arguments, call the library, print JSON in AWS CLI shapes.

Exit codes: 0 success, 1 a negative result the command reports (invalid policy, failing
repo test), 2 bad input or usage (AWS-style error JSON on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from authz.errors import AuthzError

# Modules that contribute sub-commands through ``register(subparsers)``.
_COMMAND_MODULES = (
    "authz.cli_policy",
    "authz.cli_repo",
    "authz.cli_keys",
    "authz.cli_server",
    "authz.cli_client",
    "authz.bench.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authz",
        description="IAM-compatible STS and authorization decision point (gRPC, Cedar).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # that area is not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except AuthzError as err:
        print(json.dumps(err.to_dict(), indent=2), file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
