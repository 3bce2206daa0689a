"""``authz state``: the command line for the run-time state database, and the state options
every command using it shares (``--config``, ``--state-url``, ``--state-key-file``, defaulting
like ``authz serve``).

Owns argument wiring and output only; the importers are ``IMPORTERS`` (one per old JSON store:
append to the list to import another). Must not import grpc or cedarpy.

    authz state keygen  --key-file PATH     a new state key file (mode 0600, never over one)
    authz state migrate [--credentials-file F] [--mfa-file F]
                        import the JSON stores of earlier releases, in one transaction;
                        idempotent; lists access keys that must be re-issued
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from authz.cli_output import EXIT_USAGE
from authz.config import Settings, load_settings
from authz.errors import ValidationError
from authz.state.importing import Importer, ImportResult, Sources
from authz.state.runtime import RuntimeState, open_state
from authz.state.sealing import SealError, new_key_line
from authz.sts.credentials_legacy import import_access_keys
from authz.sts.mfa import import_mfa_devices

__all__ = ["IMPORTERS", "add_state_arguments", "open_cli_state", "register", "state_settings"]

# What `authz state migrate` imports, in order, in one transaction.
IMPORTERS: list[Importer] = [import_access_keys, import_mfa_devices]


def add_state_arguments(parser: argparse.ArgumentParser, *, config: bool = False) -> None:
    """``--state-url`` and ``--state-key-file`` (and ``--config`` when asked)."""
    if config:
        parser.add_argument("--config", type=Path, help="TOML settings file, as for serve")
    parser.add_argument(
        "--state-url",
        help="run-time state database: sqlite:///PATH or postgresql://… "
        "(default sqlite:///.authz-local/state.db)",
    )
    parser.add_argument(
        "--state-key-file",
        type=Path,
        help="key sealing the secrets in the state database (default .authz-local/state.key; "
        "created for SQLite only)",
    )


def state_settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The settings ``authz serve`` would use with the same ``--config`` and state flags."""
    return load_settings(
        getattr(args, "config", None),
        state_url=args.state_url,
        state_key_file=args.state_key_file,
        **overrides,
    )


@contextmanager
def open_cli_state(settings: Settings) -> Iterator[RuntimeState]:
    """The state of ``settings`` for one command (no watcher thread), closed at the end."""
    try:
        state = open_state(settings.state_url, settings.state_key_file)
    except SealError as err:
        raise ValidationError(f"state_key_file: {err.message}") from err
    try:
        yield state
    finally:
        state.close()


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


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = state_settings(args, credentials_file=args.credentials_file, mfa_file=args.mfa_file)
    sources = Sources(settings.credentials_file, settings.mfa_file)
    with open_cli_state(settings) as state:
        results: list[ImportResult] = []
        with state.db.transaction() as tx:  # all stores or none
            for importer in IMPORTERS:
                results.append(importer(tx, state.sealer, sources))
        print(json.dumps({"state_url": state.db.display_url,
                          "imports": [r.to_json() for r in results]}, indent=2))  # fmt: skip
    for result in results:
        for note in result.notes:
            if "MustReissue" in note:
                print(
                    f"re-issue {note['MustReissue']} (stored hashed, it cannot sign): "
                    f"authz keys create --user {note['UserArn']}, then "
                    f"authz keys delete --access-key-id {note['MustReissue']}",
                    file=sys.stderr,
                )
    return 0


def register(subparsers: Any) -> None:
    state = subparsers.add_parser("state", help="the run-time state database (keys, MFA, …)")
    commands = state.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    keygen = commands.add_parser("keygen", help="create a state key file (sealing secrets)")
    keygen.add_argument("--key-file", type=Path, required=True, help="the file to create")
    keygen.set_defaults(handler=cmd_keygen)
    migrate = commands.add_parser(
        "migrate", help="import the JSON stores of earlier releases (idempotent)"
    )
    add_state_arguments(migrate, config=True)
    migrate.add_argument(
        "--credentials-file",
        type=Path,
        help="old access-key store (default .authz-local/credentials.json; its key: FILE.key)",
    )
    migrate.add_argument(
        "--mfa-file", type=Path, help="old MFA device store (default .authz-local/mfa.json)"
    )
    migrate.set_defaults(handler=cmd_migrate)
