"""``make run``: set up a local playground once, then serve the example repository.

Creates, in the git-ignored ``.authz-local/``, an access key for the example user Bob (the
server keeps it in the SQLite state database ``state.db``, sealed under ``state.key``: no
database server is needed; a playground of an earlier release, ``credentials.json``, is
imported first, as ``authz state migrate`` does; Bob's client-side copy goes to
``.authz-local/bob.credentials.json`` with mode 0600, like ``~/.aws/credentials``) and a
throw-away CA with a certificate for 127.0.0.1 (``.authz-local/tls/``), prints copy-paste
commands that assume role ``foo`` as Bob and use the session — with authz's own CLI and with
the AWS CLI against the AWS-compatible endpoint (``--aws-listen``; ``.authz-local/aws/config``
and ``credentials`` hold a ``authz-bob`` profile and a ``authz-foo`` profile whose
``credential_process`` is ``authz credential-process``) — and serves with the development
settings: a signing key ring is generated on the first run (``--dev-generate-keys``, never a
production default), Ctrl-C stops without a drain window, and TLS with the local CA (the server
states ``aws:SecureTransport`` itself, docs/security.md; the example bucket policy denies
plaintext reads). The workload path of AssumeRoleWithWebIdentity: a local OIDC issuer
(``.authz-local/dev-issuer/``, key generated on the first run) publishes its JWKS over HTTPS on
127.0.0.1:50052 (the server trusts the local CA for it: ``--oidc-ca-file``), and the printed
commands mint a service-account token and exchange it for a session of ``reports-exporter``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authz import cli
from authz.cli_client import refusal_text
from authz.cli_devissuer import ensure_issuer
from authz.oidc.devissuer import JwksServer
from authz.sts.credentials import open_credentials

LOCAL = Path(".authz-local")
BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
EXPORTER = "arn:aws:iam::444455556666:role/reports-exporter"
ISSUER_PORT = 50052  # the JWKS URL of policies/.../oidc-providers/dev-cluster.json


def state_url(local: Path = LOCAL) -> str:
    """The SQLite state database of ``make run`` (no database server needed)."""
    return f"sqlite:///{local / 'state.db'}"


def _import_legacy(local: Path) -> None:
    from authz.cli_state import IMPORTERS
    from authz.state.importing import Sources
    from authz.state.runtime import open_state

    state = open_state(state_url(local), local / "state.key")
    try:
        with state.db.transaction() as tx:
            for importer in IMPORTERS:
                importer(tx, state.sealer, Sources(local / "credentials.json", local / "mfa.json"))
    finally:
        state.close()


def ensure_playground(local: Path = LOCAL) -> Path:
    """Bob's access key, created on the first run only. Returns Bob's file. (The signing keys
    are created by the server itself: ``--dev-generate-keys``, a development-only setting.)"""
    local.mkdir(mode=0o700, exist_ok=True)
    if (local / "credentials.json").exists():  # a playground of an earlier release
        _import_legacy(local)
    bob = local / "bob.credentials.json"
    if not bob.exists():
        with open_credentials(state_url(local), local / "state.key") as store:
            key_id, secret = store.create(BOB)
        fd = os.open(bob, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"AccessKeyId": key_id, "SecretAccessKey": secret}, out)
    return bob


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def ensure_tls(local: Path = LOCAL) -> Path:
    """A local CA and a server certificate for 127.0.0.1 / localhost (renewed when less than a
    day is left). Returns the directory holding ``ca.crt``, ``server.crt``, ``server.key``."""
    tls = local / "tls"
    cert_file = tls / "server.crt"
    now = datetime.now(UTC)
    if cert_file.exists():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        if cert.not_valid_after_utc - now > timedelta(days=1):
            return tls
    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("authz make-run CA", ca_key, None, ca_key, now)
    server = _certificate("127.0.0.1", key, ca, ca_key, now)
    pem = serialization.Encoding.PEM
    (tls / "ca.crt").write_bytes(ca.public_bytes(pem))
    key_file = tls / "server.key"
    key_file.unlink(missing_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        private = serialization.PrivateFormat.PKCS8
        out.write(key.private_bytes(pem, private, serialization.NoEncryption()))
    cert_file.write_bytes(server.public_bytes(pem))
    return tls


def ensure_aws_profiles(
    bob: Path, listen: str, aws_listen: str, tls: Path, local: Path = LOCAL
) -> Path:
    """``<local>/aws/credentials`` (profile ``authz-bob``: Bob's key) and ``<local>/aws/config``
    (``authz-bob``, and ``authz-foo`` whose ``credential_process`` assumes role ``foo`` as
    Bob), both pointing at the AWS endpoint with the local CA; rewritten on every run (the
    ports may change). Returns the directory."""
    aws = local / "aws"
    aws.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = json.loads(bob.read_text(encoding="utf-8"))
    ca = (tls / "ca.crt").resolve()
    endpoint = f"https://{aws_listen}"
    process = (
        f"{Path(sys.executable).absolute()} -m authz.cli credential-process --role-arn {FOO} "
        f"--profile authz-bob --target {listen} --ca-file {ca}"
    )
    common = f"region = us-east-1\nendpoint_url = {endpoint}\nca_bundle = {ca}\n"
    _write_private(
        aws / "credentials",
        "[authz-bob]\n"
        f"aws_access_key_id = {keys['AccessKeyId']}\n"
        f"aws_secret_access_key = {keys['SecretAccessKey']}\n",
    )
    _write_private(
        aws / "config",
        f"[profile authz-bob]\n{common}\n[profile authz-foo]\n{common}"
        f"credential_process = {process}\n",
    )
    return aws


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def aws_instructions(aws: Path, aws_listen: str, tls: Path = LOCAL / "tls") -> str:
    # AWS_CA_BUNDLE on the line too: a CA bundle set in the environment overrides the profile's
    env = (
        f"AWS_CONFIG_FILE={aws / 'config'} AWS_SHARED_CREDENTIALS_FILE={aws / 'credentials'} "
        f"AWS_CA_BUNDLE={tls / 'ca.crt'}"
    )
    config = (aws / "config").read_text(encoding="utf-8")
    snippet = config[config.index("[profile authz-foo]") :].strip()
    return f"""
The AWS CLI (pip install awscli) talks to the AWS-compatible endpoint https://{aws_listen}:

  {env} aws --profile authz-bob \\
      sts assume-role --endpoint-url https://{aws_listen} --role-arn {FOO} --role-session-name demo

and any AWS SDK gets auto-refreshing sessions of role foo from this profile ({aws / "config"}):

{snippet}

  {env} aws --profile authz-foo sts get-caller-identity
"""


def instructions(bob: Path, listen: str, tls: Path = LOCAL / "tls") -> str:
    authz = ".venv/bin/authz"
    target = f"--target {listen}"
    ca = f"AUTHZ_CA_FILE={tls / 'ca.crt'}"
    return f"""
authz is starting on {listen} (TLS, CA {tls / "ca.crt"}) with the example repository.
In another terminal, as Bob (111122223333) assume role foo (444455556666):

  {ca} AUTHZ_CREDENTIALS_FILE={bob} {authz} sts assume-role {target} \\
      --role-arn {FOO} --role-session-name demo > .authz-local/foo-session.json

then use the session (the first is allowed, the second denied):

  {ca} AUTHZ_CREDENTIALS_FILE=.authz-local/foo-session.json {authz} check {target} \\
      --action s3:GetObject --resource arn:aws:s3:::example-reports/q1.csv
  {ca} AUTHZ_CREDENTIALS_FILE=.authz-local/foo-session.json {authz} check {target} \\
      --action s3:DeleteObject --resource arn:aws:s3:::example-reports/q1.csv

Edit files under policies/ and the server reloads them; Ctrl-C stops it.
"""


def web_identity_instructions(listen: str, tls: Path = LOCAL / "tls", local: Path = LOCAL) -> str:
    """The workload path: a service-account token from the local issuer (the Kubernetes API
    server's part), exchanged for a session of role ``reports-exporter``, then used."""
    authz = ".venv/bin/authz"
    target = f"--target {listen}"
    ca = f"AUTHZ_CA_FILE={tls / 'ca.crt'}"
    issuer = local / "dev-issuer"
    session = local / "exporter-session.json"
    return f"""
A workload holding only an OIDC token (the local issuer plays the Kubernetes API server; its
JWKS is at https://127.0.0.1:{ISSUER_PORT}/openid/v1/jwks): mint the service account's token,
exchange it for a session of role reports-exporter (no credentials needed), use the session:

  {authz} dev-issuer mint --dir {issuer} \\
      --namespace reports --service-account exporter > {issuer / "token"}
  {ca} {authz} sts assume-role-with-web-identity {target} \\
      --role-arn {EXPORTER} --role-session-name exporter \\
      --web-identity-token file://{issuer / "token"} > {session}
  {ca} AUTHZ_CREDENTIALS_FILE={session} {authz} check {target} \\
      --action s3:GetObject --resource arn:aws:s3:::example-reports/q1.csv
"""


class ReloadBanner(logging.Handler):
    """Prints every reload outcome of the ``authz.reload`` logger where the person editing
    looks: a refusal as a framed block naming each problem or failing policy test and the
    command that shows them all; an activation as one line."""

    def __init__(self, repo: str, stream: TextIO | None = None) -> None:
        super().__init__(logging.INFO)
        self.repo = repo
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        out = self.stream or sys.stderr
        problems = getattr(record, "problems", None)
        if problems is not None:
            rows = [
                {"File": p.file, "Path": p.path, "Code": p.code, "Message": p.message}
                for p in problems
            ]
            serving = str(getattr(record, "serving", None) or "")
            text = refusal_text(
                serving, rows, record.getMessage(), command=".venv/bin/authz", repo=self.repo
            )
            rule = "!" * 72
            out.write(f"\n{rule}\n{text}\nclients keep the old answers until it passes\n{rule}\n\n")
        elif str(record.msg).startswith("activated revision"):
            out.write(f"reloaded: {record.getMessage()}\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="authz-devrun")
    parser.add_argument("--repo", default="policies")
    parser.add_argument("--listen", default="127.0.0.1:50051")
    parser.add_argument("--aws-listen", default="127.0.0.1:50443")
    args = parser.parse_args(argv)
    bob = ensure_playground()
    tls = ensure_tls()
    aws = ensure_aws_profiles(bob, args.listen, args.aws_listen, tls)
    print(instructions(bob, args.listen, tls), flush=True)
    print(aws_instructions(aws, args.aws_listen, tls), flush=True)
    issuer = JwksServer(
        ensure_issuer(LOCAL / "dev-issuer"), tls / "server.crt", tls / "server.key", ISSUER_PORT
    ).start()
    print(web_identity_instructions(args.listen, tls), flush=True)
    reload_log = logging.getLogger("authz.reload")
    reload_log.addHandler(ReloadBanner(args.repo))
    reload_log.setLevel(logging.INFO)
    try:
        return _serve(args, tls)
    finally:
        issuer.stop()


def _serve(args: argparse.Namespace, tls: Path) -> int:
    return cli.main(
        [
            "serve",
            "--repo", args.repo,
            "--listen", args.listen,
            "--aws-listen", args.aws_listen,
            "--keys-dir", str(LOCAL / "keys"),
            "--state-url", state_url(),
            "--state-key-file", str(LOCAL / "state.key"),
            "--audit-log", str(LOCAL / "audit.jsonl"),
            "--dev-generate-keys",
            "--drain-seconds", "0",
            "--tls-cert", str(tls / "server.crt"),
            "--tls-key", str(tls / "server.key"),
            "--oidc-ca-file", str(tls / "ca.crt"),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
