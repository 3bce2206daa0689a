"""``authz keys``: the command line for signing keys, long-term access keys and virtual MFA
devices.

Owns argument wiring and output formats only; the work is done by ``authz.sts.keys.KeyRing``,
``authz.sts.credentials.CredentialStore`` and ``authz.sts.mfa.MfaStore``.
``register(subparsers)`` adds the ``keys`` command to the main parser (``authz.cli``); each
sub-command sets ``handler``, which takes the parsed namespace and returns 0; an
``AuthzError`` propagates to ``authz.cli.main``, which prints it as AWS error JSON and exits 2.
A secret access key is printed once, by ``create``, and an MFA seed once, by ``create-mfa``;
nowhere else. Must not import grpc or cedarpy.

    authz keys generate   --dir D | --state-url URL [--state-key-file F] [--max-token-ttl S]
                          [--skew S] [--publish-delay S]
    authz keys rotate     --dir D | --state-url URL [--state-key-file F] [--activate-in S]
    authz keys list       --dir D | --state-url URL [--state-key-file F] [--json]
    authz keys prune      --dir D | --state-url URL [--state-key-file F]
    authz keys jwks       --dir D | --state-url URL [--state-key-file F]
    authz keys create     [STATE] --user ARN [--profile NAME [--credentials-path FILE]]
    authz keys activate | deactivate | delete [STATE] --access-key-id ID
    authz keys list-access-keys [STATE] [--user ARN]
    authz keys create-mfa [STATE] --user ARN --name NAME
    authz keys list-mfa   [STATE] [--user ARN]
    authz keys deactivate-mfa | delete-mfa [STATE] --serial-number ARN

STATE: ``[--config F] [--state-url URL] [--state-key-file FILE]`` (the state database and the
key that seals the secrets in it; defaults like ``authz serve``: a local SQLite file, whose key
is created when missing; ``authz.cli_state``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from authz.cli_state import add_state_arguments, open_cli_state, state_settings
from authz.errors import ValidationError
from authz.sts.credentials import ACTIVE, INACTIVE, CredentialStore
from authz.sts.keys import DEFAULT_MAX_TOKEN_TTL, DEFAULT_SKEW, KeyInfo, KeyRing
from authz.sts.keys_state import DEFAULT_PUBLISH_DELAY
from authz.sts.mfa import MfaStore

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]


def _iso(ts: int | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=False))


def _key_row(info: KeyInfo, now: float) -> dict[str, Any]:
    return {
        "kid": info.kid,
        "status": info.status(now),
        "created_at": _iso(info.created_at),
        "activates_at": _iso(info.active_from),
        "retired_at": _iso(info.retired_at) if info.retired_at is not None else None,
        "not_after": _iso(info.not_after) if info.not_after is not None else None,
    }


# -- signing keys -----------------------------------------------------------------------------


def _state_parts(args: argparse.Namespace) -> tuple[Any, Any]:
    """The state database and sealer named by ``--state-url`` / ``--state-key-file`` (the key
    file is created for a SQLite state only, as ``authz serve`` does)."""
    from authz.state.runtime import open_state
    from authz.state.sealing import SealError

    try:
        state = open_state(args.state_url, Path(args.state_key_file))
    except SealError as err:
        raise ValidationError(f"state_key_file: {err.message}") from None
    return state.db, state.sealer


def _open_ring(args: argparse.Namespace) -> KeyRing:
    """The ring of ``--dir`` or of ``--state-url`` (the state database, no watcher)."""
    if args.state_url is None:
        return KeyRing.load(args.dir)
    from authz.sts.keys_state import open_state_ring

    db, sealer = _state_parts(args)
    return open_state_ring(db, sealer)


def cmd_generate(args: argparse.Namespace) -> int:
    if args.state_url is None:
        ring = KeyRing.generate(args.dir, max_token_ttl=args.max_token_ttl, skew=args.skew)
    else:
        from authz.sts.keys_state import generate_state_ring

        db, sealer = _state_parts(args)
        ring = generate_state_ring(
            db,
            sealer,
            max_token_ttl=args.max_token_ttl,
            skew=args.skew,
            publish_delay=args.publish_delay,
        )
    print(f"created key ring {ring.location} with signing key {ring.signing_key.kid}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    ring = _open_ring(args)
    old = ring.signing_key.kid
    new = ring.rotate(activate_in=args.activate_in)
    infos = {i.kid: i for i in ring.list()}
    until = _iso(infos[old].not_after)
    print(
        f"signing key {new.kid} activates at {_iso(infos[new.kid].active_from)}; "
        f"{old} signs until then and keeps verifying until {until}"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    ring = _open_ring(args)
    now = time.time()
    rows = [_key_row(info, now) for info in ring.list()]
    if args.json:
        _print_json({"Keys": rows})
        return 0
    print(f"{'KID':<44} {'STATUS':<10} {'CREATED':<21} {'ACTIVATES':<21} {'NOT AFTER'}")
    for row in rows:
        not_after = row["not_after"] or "-"
        print(
            f"{row['kid']:<44} {row['status']:<10} {row['created_at']:<21} "
            f"{row['activates_at']:<21} {not_after}"
        )
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    removed = _open_ring(args).prune()
    print(f"pruned {len(removed)} key(s)" + (": " + ", ".join(removed) if removed else ""))
    return 0


def cmd_jwks(args: argparse.Namespace) -> int:
    _print_json(_open_ring(args).jwks())
    return 0


# -- access keys --------------------------------------------------------------------------------


@contextlib.contextmanager
def _credentials(args: argparse.Namespace) -> Iterator[CredentialStore]:
    with open_cli_state(state_settings(args)) as state:
        yield CredentialStore.for_database(state.db, state.sealer)


def cmd_create(args: argparse.Namespace) -> int:
    with _credentials(args) as store:
        key_id, secret = store.create(args.user, args.user_id)
        info = next(i for i in store.list(args.user) if i.access_key_id == key_id)
    if args.profile is None:
        _print_json({"AccessKey": {**info.to_aws(), "SecretAccessKey": secret}})
        return 0
    from authz.client.chain import shared_credentials_path, write_profile  # pulls in grpc

    path = (
        Path(args.credentials_path).expanduser()
        if args.credentials_path
        else shared_credentials_path(os.environ)
    )
    write_profile(path, args.profile, key_id, secret)
    _print_json({"AccessKey": info.to_aws(), "Profile": args.profile, "CredentialsFile": str(path)})
    print(
        f"wrote profile [{args.profile}] to {path}; use it with AWS_PROFILE={args.profile}",
        file=sys.stderr,
    )
    return 0


def _status_handler(status: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        with _credentials(args) as store:
            info = store.set_status(args.access_key_id, status)
        print(f"access key {info.access_key_id} is now {info.status}")
        return 0

    return handler


def cmd_delete(args: argparse.Namespace) -> int:
    with _credentials(args) as store:
        store.delete(args.access_key_id)
    print(f"access key {args.access_key_id} deleted")
    return 0


def cmd_list_access_keys(args: argparse.Namespace) -> int:
    with _credentials(args) as store:
        infos = store.list(args.user)
    _print_json({"AccessKeyMetadata": [i.to_aws() for i in infos]})
    return 0


# -- virtual MFA devices ------------------------------------------------------------------------


@contextlib.contextmanager
def _mfa_store(args: argparse.Namespace) -> Iterator[MfaStore]:
    """The MFA store in the state database of the state options, sealed with the state key
    (created only for a local SQLite state: replicas share one key)."""
    with open_cli_state(state_settings(args)) as state:
        yield MfaStore(state.db, state.sealer)


def cmd_create_mfa(args: argparse.Namespace) -> int:
    with _mfa_store(args) as store:
        serial, seed, uri = store.create(args.user, args.name)
        info = next(i for i in store.list() if i.serial_number == serial)
    device = {**info.to_aws(), "Base32StringSeed": seed, "OtpauthUri": uri}
    _print_json({"VirtualMFADevice": device})
    return 0


def cmd_list_mfa(args: argparse.Namespace) -> int:
    with _mfa_store(args) as store:
        infos = store.list(args.user)
    _print_json({"MFADevices": [i.to_aws() for i in infos]})
    return 0


def cmd_deactivate_mfa(args: argparse.Namespace) -> int:
    with _mfa_store(args) as store:
        info = store.deactivate(args.serial_number)
    print(f"MFA device {info.serial_number} is now {info.status}")
    return 0


def cmd_delete_mfa(args: argparse.Namespace) -> int:
    with _mfa_store(args) as store:
        store.delete(args.serial_number)
    print(f"MFA device {args.serial_number} deleted")
    return 0


# -- wiring -------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its sub-commands; each sets ``handler`` (namespace -> exit code)."""
    keys = subparsers.add_parser("keys", help="manage STS signing keys and access keys")
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.set_defaults(handler=handler)
        return parser

    def with_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--dir", help="signing key directory")
        where.add_argument(
            "--state-url",
            help='the state database keeping the keys (keys_source = "state"), '
            "sqlite:///PATH or postgresql://…",
        )
        parser.add_argument(
            "--state-key-file",
            default=".authz-local/state.key",
            help="the key file sealing private keys in the state database (every node's "
            "state_key_file; default .authz-local/state.key)",
        )
        return parser

    gen = with_dir(add("generate", cmd_generate, "create a key ring with one signing key"))
    gen.add_argument(
        "--max-token-ttl",
        type=int,
        default=DEFAULT_MAX_TOKEN_TTL,
        metavar="S",
        help=f"longest session token lifetime in seconds (default {DEFAULT_MAX_TOKEN_TTL})",
    )
    gen.add_argument(
        "--skew",
        type=int,
        default=DEFAULT_SKEW,
        metavar="S",
        help=f"clock skew tolerated when verifying tokens, seconds (default {DEFAULT_SKEW})",
    )
    gen.add_argument(
        "--publish-delay",
        type=int,
        default=DEFAULT_PUBLISH_DELAY,
        metavar="S",
        help="state database only: a rotated key signs S seconds after it is published, "
        "when every node already accepts it; >= 2 x (state_poll_ms + 500 ms) plus clock skew "
        f"(default {DEFAULT_PUBLISH_DELAY})",
    )
    rot = with_dir(add("rotate", cmd_rotate, "make a new signing key; old keys keep verifying"))
    rot.add_argument(
        "--activate-in",
        type=int,
        default=0,
        metavar="S",
        help="the new key signs S seconds from now (published at once, so replicas reading a "
        "shared mount accept it before any signs with it); with --state-url at least the "
        "ring's publish delay (default 0 / the publish delay)",
    )
    lst = with_dir(add("list", cmd_list, "list signing keys and their status"))
    lst.add_argument("--json", action="store_true", help="print JSON")
    with_dir(add("prune", cmd_prune, "delete retired keys whose tokens have all expired"))
    with_dir(add("jwks", cmd_jwks, "print the public JWK Set"))

    def with_store(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        add_state_arguments(parser, config=True)
        return parser

    create = with_store(add("create", cmd_create, "create an access key (prints the secret once)"))
    create.add_argument("--user", required=True, help="IAM user ARN owning the key")
    create.add_argument(
        "--profile",
        metavar="NAME",
        help="write the key as profile NAME of an AWS shared credentials file (ini, mode 0600) "
        "instead of printing the secret; clients read it with AWS_PROFILE=NAME",
    )
    create.add_argument(
        "--credentials-path",
        metavar="FILE",
        help="the credentials file for --profile (default: AWS_SHARED_CREDENTIALS_FILE, else "
        "~/.aws/credentials)",
    )
    create.add_argument(
        "--user-id",
        help="the user's UserId: the key only works for that user (default: the UserId the "
        "user has when the key is first used)",
    )
    for name, handler in (
        ("activate", _status_handler(ACTIVE)),
        ("deactivate", _status_handler(INACTIVE)),
        ("delete", cmd_delete),
    ):
        p = with_store(add(name, handler, f"{name} an access key"))
        p.add_argument("--access-key-id", required=True, help="the access key id (AKIA…)")
    lak = with_store(add("list-access-keys", cmd_list_access_keys, "list access keys"))
    lak.add_argument("--user", default=None, help="only this user's keys")

    def with_mfa_store(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        add_state_arguments(parser, config=True)
        return parser

    cmfa = with_mfa_store(
        add("create-mfa", cmd_create_mfa, "create a virtual MFA device (prints the seed once)")
    )
    cmfa.add_argument("--user", required=True, help="IAM user ARN owning the device")
    cmfa.add_argument("--name", required=True, help="device name: serial is arn:…:mfa/NAME")
    lmfa = with_mfa_store(add("list-mfa", cmd_list_mfa, "list virtual MFA devices"))
    lmfa.add_argument("--user", default=None, help="only this user's devices")
    for name, handler in (("deactivate-mfa", cmd_deactivate_mfa), ("delete-mfa", cmd_delete_mfa)):
        p = with_mfa_store(add(name, handler, f"{name.split('-')[0]} a virtual MFA device"))
        p.add_argument("--serial-number", required=True, help="the device ARN")
