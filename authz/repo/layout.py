"""The on-disk layout of a policy repository: which files exist, reading them (JSON, or YAML as an
alternative spelling), the content hash, and problems with files themselves (unreadable file or
directory, invalid JSON/YAML, duplicate keys, unknown entries).

Layout (architecture.md)::

    organization.json            optional: OU tree + SCP documents
    aws-managed/<Name>.json      {PolicyName, Arn, Document}
    accounts/<12 digits>/
      account.json               {Alias, Tags}                 (optional)
      users/ groups/ roles/ policies/ resources/   one document per file
                                 (resources/: {ResourceArn, Policy?}; without Policy the
                                 file only declares the owning account)
    tests/<suite>.yaml           policy tests

Owns reading only; meaning is ``authz.repo.load``. Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from authz.errors import Problem

SUFFIXES = (".json", ".yaml", ".yml")
ACCOUNT_DIRS = ("users", "groups", "roles", "policies", "resources")
TOP_DIRS = ("accounts", "aws-managed", "tests")


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


class _Loader(_Base):  # type: ignore[misc]
    """Safe YAML without implicit timestamps: ``Version: 2012-10-17`` stays a string."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class Document:
    """One decoded file: ``rel`` is its path relative to the repository root (POSIX)."""

    rel: str
    data: Any


@dataclass
class AccountFiles:
    id: str
    rel: str
    account: Document | None = None
    kinds: dict[str, list[Document]] = field(default_factory=dict)


@dataclass
class RepoFiles:
    """Every decoded document of a repository, plus the problems met while reading."""

    root: Path
    organization: Document | None = None
    aws_managed: list[Document] = field(default_factory=list)
    accounts: list[AccountFiles] = field(default_factory=list)
    tests: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    content_hash: str = ""


def is_document(name: str) -> bool:
    return name.endswith(SUFFIXES) and not name.startswith(".")


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.hash = hashlib.sha256()

    def problem(self, rel: str, code: str, message: str, path: str = "") -> None:
        self.problems.append(Problem(rel, path, code, message))

    def entries(self, rel: str) -> list[Path] | None:
        """Sorted, non-hidden entries of a directory, or None (and a problem) when unreadable."""
        try:
            found = sorted(p for p in (self.root / rel).iterdir() if not p.name.startswith("."))
        except OSError as err:
            self.problem(rel + "/", "unreadable_directory", f"cannot list directory: {_why(err)}")
            return None
        self.hash.update(f"D {rel}\n".encode())
        return found

    def documents(self, rel: str) -> list[Document]:
        out = []
        for entry in self.entries(rel) or []:
            child = f"{rel}/{entry.name}"
            if entry.is_dir():
                self.problem(child + "/", "unknown_entry", "unexpected directory")
            elif is_document(entry.name):
                doc = self.read(child)
                if doc is not None:
                    out.append(doc)
        return out

    def read(self, rel: str) -> Document | None:
        try:
            raw = (self.root / rel).read_bytes()
        except OSError as err:
            self.problem(rel, "unreadable_file", f"cannot read file: {_why(err)}")
            return None
        self.hash.update(f"F {rel} {len(raw)}\n".encode() + raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            self.problem(rel, "invalid_encoding", f"file is not UTF-8: byte {err.start}")
            return None
        data = self.decode(rel, text)
        return None if data is _INVALID else Document(rel, data)

    def decode(self, rel: str, text: str) -> Any:
        if rel.endswith(".json"):
            try:
                return json.loads(text, object_pairs_hook=_no_duplicates)
            except _DuplicateKey as err:
                self.problem(rel, "invalid_json", f"duplicate key `{err}`", "$")
            except json.JSONDecodeError as err:
                msg = f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
                self.problem(rel, "invalid_json", msg.lower(), "$")
            return _INVALID
        try:
            return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or "cannot parse"
            self.problem(rel, "invalid_yaml", f"invalid YAML: {problem}{where}", "$")
            return _INVALID


_INVALID = object()


def _why(err: OSError) -> str:
    return (err.strerror or type(err).__name__).lower()


def read_repository(root: Path) -> RepoFiles:
    """Read every file of the repository at ``root``; never raises for content problems."""
    reader = _Reader(root)
    files = RepoFiles(root=root)
    if not root.is_dir():
        reader.problem(".", "unreadable_directory", f"repository `{root}` is not a directory")
        files.problems = reader.problems
        return files
    for entry in reader.entries(".") or []:
        name = entry.name
        if entry.is_dir() and name not in TOP_DIRS:
            reader.problem(name + "/", "unknown_entry", "unexpected directory")
        elif entry.is_file() and name.startswith("organization.") and is_document(name):
            if files.organization is not None:
                reader.problem(name, "EntityAlreadyExists", "organization is defined twice")
            else:
                files.organization = reader.read(name)
    if (root / "aws-managed").is_dir():
        files.aws_managed = reader.documents("aws-managed")
    if (root / "accounts").is_dir():
        files.accounts = _read_accounts(reader)
    if (root / "tests").is_dir():
        files.tests = reader.documents("tests")
    files.problems = reader.problems
    files.content_hash = reader.hash.hexdigest()
    return files


def _read_accounts(reader: _Reader) -> list[AccountFiles]:
    out = []
    for entry in reader.entries("accounts") or []:
        rel = f"accounts/{entry.name}"
        if not entry.is_dir():
            if is_document(entry.name):
                reader.problem(rel, "unknown_entry", "expected a directory per account")
            continue
        acct = AccountFiles(id=entry.name, rel=rel)
        for child in reader.entries(rel) or []:
            name = child.name
            if child.is_dir() and name in ACCOUNT_DIRS:
                acct.kinds[name] = reader.documents(f"{rel}/{name}")
            elif child.is_file() and name.startswith("account.") and is_document(name):
                acct.account = reader.read(f"{rel}/{name}")
            elif name in ACCOUNT_DIRS:
                reader.problem(f"{rel}/{name}", "unknown_entry", f"`{name}` must be a directory")
            elif child.is_dir() or is_document(name):
                reader.problem(f"{rel}/{name}", "unknown_entry", "unexpected entry")
        out.append(acct)
    return out
