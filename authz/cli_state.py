"""``authz state``: the command line for the run-time state database.

Owns argument wiring and output only. Must not import grpc or cedarpy.

    authz state keygen  --key-file PATH          a new state key file (mode 0600, never over one)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from authz.cli_output import EXIT_USAGE
from authz.state.sealing import new_key_line

__all__ = ["register"]


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a new key file; refuses to replace an existing one (its secrets would be lost)."""
    path: Path = args.key_file
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"authz state keygen: `{path}` exists; not replacing a state key", file=sys.stderr)
        return EXIT_USAGE
    with os.fdopen(fd, "wb") as out:
        out.write(new_key_line())
    print(f"created state key file {path} (mode 0600): give every node the same file")
    return 0


def register(subparsers: Any) -> None:
    state = subparsers.add_parser("state", help="the run-time state database (keys, MFA, …)")
    commands = state.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    keygen = commands.add_parser("keygen", help="create a state key file (sealing secrets)")
    keygen.add_argument("--key-file", type=Path, required=True, help="the file to create")
    keygen.set_defaults(handler=cmd_keygen)
