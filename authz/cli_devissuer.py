"""``authz dev-issuer``: the local OIDC issuer of ``make run`` (``authz.oidc.devissuer``).

``init`` creates the issuer's signing key in ``--dir`` (once), ``jwks`` prints its public key
set, ``mint`` prints a service-account token signed the way a Kubernetes API server signs
projected tokens, and ``serve`` publishes the JWKS over HTTPS until interrupted. Development
and tests only: the private key sits in a 0600 file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from authz.errors import ValidationError
from authz.oidc.devissuer import DEFAULT_AUDIENCE, DevIssuer, JwksServer

DEFAULT_DIR = Path(".authz-local/dev-issuer")
DEFAULT_ISSUER = "https://oidc.authz.local/dev-cluster"


def ensure_issuer(directory: Path, issuer: str = DEFAULT_ISSUER) -> DevIssuer:
    """The issuer kept in ``directory``, created (new key) on first use."""
    if (directory / "key.pem").exists():
        return DevIssuer.load(directory)
    created = DevIssuer(issuer)
    created.save(directory)
    return created


def _load(directory: Path) -> DevIssuer:
    if not (directory / "key.pem").exists():
        raise ValidationError(
            f"no dev issuer in `{directory}`: run `authz dev-issuer init --dir {directory}`"
        )
    return DevIssuer.load(directory)


def _init(args: argparse.Namespace) -> int:
    issuer = ensure_issuer(args.dir, args.issuer)
    print(json.dumps(issuer.jwks(), indent=2))
    return 0


def _jwks(args: argparse.Namespace) -> int:
    print(json.dumps(_load(args.dir).jwks(), indent=2))
    return 0


def _mint(args: argparse.Namespace) -> int:
    if not 1 <= args.lifetime <= 86400:
        raise ValidationError("--lifetime must be 1 to 86400 seconds")
    issuer = _load(args.dir)
    token = issuer.mint(
        args.namespace, args.service_account, audience=args.audience, lifetime=args.lifetime
    )
    print(token)
    return 0


def _serve(args: argparse.Namespace) -> int:
    server = JwksServer(_load(args.dir), args.tls_cert, args.tls_key, port=args.port).start()
    print(f"serving the JWKS of {server.issuer.issuer} at {server.jwks_uri}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev-issuer", help="a local OIDC issuer for development (tokens like Kubernetes')"
    )
    sub = parser.add_subparsers(dest="dev_issuer_command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="create the issuer's key (once); print its JWKS")
    init.add_argument("--issuer", default=DEFAULT_ISSUER, help="the issuer URL (`iss`)")
    init.set_defaults(handler=_init)
    jwks = sub.add_parser("jwks", help="print the issuer's public JWKS")
    jwks.set_defaults(handler=_jwks)
    mint = sub.add_parser("mint", help="print a service-account token (a JWT)")
    mint.add_argument("--namespace", default="default", help="the service account's namespace")
    mint.add_argument("--service-account", default="default", help="the service account")
    mint.add_argument("--audience", default=DEFAULT_AUDIENCE, help="the `aud` claim")
    mint.add_argument("--lifetime", type=int, default=3600, help="seconds until `exp`")
    mint.set_defaults(handler=_mint)
    serve = sub.add_parser("serve", help="publish the JWKS over HTTPS on 127.0.0.1")
    serve.add_argument("--port", type=int, default=50052, help="port on 127.0.0.1")
    serve.add_argument("--tls-cert", type=Path, required=True, help="server certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, required=True, help="server private key (PEM)")
    serve.set_defaults(handler=_serve)
    for command in (init, jwks, mint, serve):
        command.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the issuer's files")
