"""Repositories for the reload attack tests, written as files the real loader reads.

``guarded_repo(version)``: alice may do anything (inline ``*``) except ``s3:DeleteBucket``,
which an attached customer managed policy denies. Version 1 keeps the Deny in policy ``guard``;
version 2 moves it into a new policy ``guard2`` that alice also attaches (``guard`` then only
allows reading). Both versions deny the deletion; a loader that activates version 2 half-way
(``guard`` already rewritten, ``guard2`` or alice's attachment not yet) allows it.

``publish_in_place`` writes version 2 over version 1 in that worst order, pausing between files
longer than any debounce, then writes the revision marker last. ``publish_by_swap`` writes a new
directory and flips a symbolic link to it atomically (git-sync style).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BUCKET = "arn:aws:s3:::precious"
V = "2012-10-17"


def _policy(name: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "PolicyName": name,
        "Path": "/",
        "Document": {"Version": V, "Statement": list(statements)},
    }


def _attach(*names: str) -> list[dict[str, str]]:
    return [{"PolicyName": n, "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/{n}"} for n in names]


DENY = {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}
READ = {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def guarded_files(version: int) -> dict[str, dict[str, Any]]:
    """Relative path -> document of version 1 or 2."""
    base = f"accounts/{ACCOUNT}"
    everything = {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}
    alice: dict[str, Any] = {
        "UserName": "alice",
        "Path": "/",
        "UserPolicyList": [
            {
                "PolicyName": "everything",
                "PolicyDocument": {"Version": V, "Statement": [everything]},
            }
        ],
        "AttachedManagedPolicies": _attach("guard") if version == 1 else _attach("guard", "guard2"),
    }
    files = {f"{base}/users/alice.json": alice}
    if version == 1:
        files[f"{base}/policies/guard.json"] = _policy("guard", DENY)
    else:
        files[f"{base}/policies/guard.json"] = _policy("guard", READ)
        files[f"{base}/policies/guard2.json"] = _policy("guard2", DENY)
    return files


def write_repo(root: Path, version: int, *, marker: str | None = None) -> Path:
    for rel, doc in guarded_files(version).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1))
    if marker is not None:
        (root / ".authz-revision").write_text(marker)
    return root


def publish_in_place(root: Path, *, pause: float = 0.6, marker: str = "v2") -> None:
    """Version 2 over version 1, worst order first (the Deny leaves ``guard`` before ``guard2``
    exists), then the marker."""
    files = guarded_files(2)
    base = f"accounts/{ACCOUNT}"
    for rel in (f"{base}/policies/guard.json", f"{base}/policies/guard2.json",
                f"{base}/users/alice.json"):  # fmt: skip
        (root / rel).write_text(json.dumps(files[rel], indent=1))
        time.sleep(pause)
    (root / ".authz-revision").write_text(marker)


def publish_by_swap(link: Path, new_dir: Path, version: int) -> None:
    """Write ``new_dir`` completely, then point ``link`` at it with one rename."""
    write_repo(new_dir, version)
    tmp = link.with_name(link.name + ".tmp-link")
    os.symlink(new_dir, tmp)
    os.replace(tmp, link)
