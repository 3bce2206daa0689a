"""``make run``: set up a local playground once, then serve the example repository.

Creates, in the git-ignored ``.authz-local/``, an access key for the example user Bob (the
server stores only a salted hash; Bob's client-side copy goes to
``.authz-local/bob.credentials.json`` with mode 0600, like ``~/.aws/credentials``), prints
copy-paste commands that assume role ``foo`` as Bob and use the session, and serves with the
development settings: a signing key ring is generated on the first run
(``--dev-generate-keys``, never a production default) and Ctrl-C stops without a drain window.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from authz import cli
from authz.cli_client import refusal_text
from authz.sts.credentials import CredentialStore

LOCAL = Path(".authz-local")
BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"


def ensure_playground(local: Path = LOCAL) -> Path:
    """Bob's access key, created on the first run only. Returns Bob's file. (The signing keys
    are created by the server itself: ``--dev-generate-keys``, a development-only setting.)"""
    local.mkdir(mode=0o700, exist_ok=True)
    bob = local / "bob.credentials.json"
    if not bob.exists():
        key_id, secret = CredentialStore(local / "credentials.json").create(BOB)
        fd = os.open(bob, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"AccessKeyId": key_id, "SecretAccessKey": secret}, out)
    return bob


def instructions(bob: Path, listen: str) -> str:
    authz = ".venv/bin/authz"
    target = f"--target {listen}"
    return f"""
authz is starting on {listen} with the example repository.
In another terminal, as Bob (111122223333) assume role foo (444455556666):

  AUTHZ_CREDENTIALS_FILE={bob} {authz} sts assume-role {target} \\
      --role-arn {FOO} --role-session-name demo > .authz-local/foo-session.json

then use the session:

  AUTHZ_CREDENTIALS_FILE=.authz-local/foo-session.json {authz} check {target} \\
      --action s3:GetObject --resource arn:aws:s3:::example-reports/q1.csv
  AUTHZ_CREDENTIALS_FILE=.authz-local/foo-session.json {authz} check {target} \\
      --action s3:DeleteObject --resource arn:aws:s3:::example-reports/q1.csv

Edit files under policies/ and the server reloads them; Ctrl-C stops it.
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
    args = parser.parse_args(argv)
    bob = ensure_playground()
    print(instructions(bob, args.listen), flush=True)
    reload_log = logging.getLogger("authz.reload")
    reload_log.addHandler(ReloadBanner(args.repo))
    reload_log.setLevel(logging.INFO)
    return cli.main(
        [
            "serve",
            "--repo", args.repo,
            "--listen", args.listen,
            "--keys-dir", str(LOCAL / "keys"),
            "--credentials-file", str(LOCAL / "credentials.json"),
            "--audit-log", str(LOCAL / "audit.jsonl"),
            "--dev-generate-keys",
            "--drain-seconds", "0",
        ]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
