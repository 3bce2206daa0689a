"""``authz sessions``: revoke STS sessions at once, on every node, without a repository commit.

Owns argument wiring and output only; the work is ``authz.sts.revocations.RevocationStore``
on the state database of ``--state-url`` (the server's ``state_url`` by default). Every node
refuses the session within its ``state_poll_ms`` + one reload. Must not import grpc or cedarpy.

    authz sessions revoke --session-id ID | --access-key-id ASIA… [--expires-at EPOCH]
                          [--reason TEXT] [--state-url URL]
    authz sessions list   [--state-url URL]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from authz.state import open_database
from authz.sts.revocations import RevocationStore

__all__ = ["register"]


def cmd_revoke(args: argparse.Namespace) -> int:
    db = open_database(args.state_url)
    try:
        revocation = RevocationStore(db).revoke(
            session_id=args.session_id,
            access_key_id=args.access_key_id,
            expires_at=args.expires_at,
            reason=args.reason,
        )
    finally:
        db.close()
    print(json.dumps({"Revocation": revocation.to_json()}, indent=2))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    db = open_database(args.state_url)
    try:
        revocations = RevocationStore(db).list()
    finally:
        db.close()
    print(json.dumps({"Revocations": [r.to_json() for r in revocations]}, indent=2))
    return 0


def register(subparsers: Any) -> None:
    from authz.config import Settings

    sessions = subparsers.add_parser(
        "sessions", help="revoke STS sessions on every node (state database)"
    )
    commands = sessions.add_subparsers(dest="sessions_command", required=True, metavar="COMMAND")

    def add(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        parser.set_defaults(handler=handler)
        parser.add_argument(
            "--state-url",
            default=str(getattr(Settings(), "state_url", "sqlite:///.authz-local/state.db")),
            help="the state database (default: %(default)s)",
        )
        return parser

    revoke = add("revoke", cmd_revoke, "refuse a session's token from now on, on every node")
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--session-id", help="the session id (the token's `jti`)")
    target.add_argument("--access-key-id", help="the session's temporary access key id (ASIA…)")
    revoke.add_argument(
        "--expires-at",
        type=int,
        metavar="EPOCH",
        help="forget the revocation after this time (the session's expiry; default: longer "
        "than any session lives)",
    )
    revoke.add_argument("--reason", default="", help="recorded with the revocation")
    add("list", cmd_list, "the revocations still in force")
