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
      oidc-providers/            IAM OIDC providers (authz.repo.oidc)
    tests/<suite>.yaml           policy tests

Files that cannot explode: ``authz validate`` and every reload read through here, so both refuse
the same things, each as a problem naming the file: a file larger than ``MAX_FILE_BYTES`` (read
no further), anything but a regular file (a FIFO would block the loader), YAML anchors and
aliases (a 664-byte "billion laughs" alias bomb expands to 387 million strings once walked) and
nesting deeper than ``MAX_DEPTH`` (YAML) or than the JSON decoder's recursion limit.

Owns reading only; meaning is ``authz.repo.load``. Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

from authz import courtesy
from authz.errors import Problem
from authz.repo.memo import SETTLE_NS, FileEntry, LoadMemo, Signature
from authz.repo.publish import resolve_root

SUFFIXES = (".json", ".yaml", ".yml")
ACCOUNT_DIRS = ("users", "groups", "roles", "policies", "resources", "oidc-providers")
TOP_DIRS = ("accounts", "aws-managed", "tests")
MAX_FILE_BYTES = 1024 * 1024  # per repository file (docs/operations.md, "Repository file limits")
MAX_DEPTH = 64  # YAML nesting; an IAM document nests about 8 deep

_Events: Any
if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    _Events = CParser  # libyaml's scanner and parser
else:  # pragma: no cover - PyYAML without libyaml

    class _Events(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _Composer(Composer):
    """PyYAML's composer (over libyaml's events) refusing anchors, aliases and deep nesting."""

    depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = cast(Any, self).peek_event()  # from the parser this composer is mixed with
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            problem = "anchors and aliases (`&name`, `*name`) are not allowed"
            raise ComposerError(None, None, problem, event.start_mark)
        nested = isinstance(event, CollectionStartEvent)
        if nested:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self.depth -= 1


class _Loader(_Composer, _Events, SafeConstructor, Resolver):  # type: ignore[misc]
    """Safe YAML without implicit timestamps (``Version: 2012-10-17`` stays a string), without
    anchors or aliases, at most ``MAX_DEPTH`` levels deep. The composer comes first: its
    methods replace libyaml's own (which resolves aliases)."""

    def __init__(self, stream: str) -> None:
        _Events.__init__(self, stream)
        _Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A key given twice is an error, as in the repository's JSON files (YAML would keep
        the last one silently: a test case's second `expect:` would win unseen)."""
        seen: set[object] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                key = key_node.value
                if key in seen:
                    raise ConstructorError(
                        None, None, f"duplicate key `{key}`", key_node.start_mark
                    )
                seen.add(key)
        return cast(dict[Any, Any], super().construct_mapping(node, deep))


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
    """One decoded file: ``rel`` is its path relative to the repository root (POSIX);
    ``digest`` the SHA-256 of its bytes (what memoised builds of it are keyed by)."""

    rel: str
    data: Any
    digest: bytes = b""


@dataclass
class AccountFiles:
    id: str
    rel: str
    account: Document | None = None
    kinds: dict[str, list[Document]] = field(default_factory=dict)


@dataclass
class RepoFiles:
    """Every decoded document of a repository, plus the problems met while reading.
    ``source`` is the directory actually read (``root`` with symbolic links resolved once)."""

    root: Path
    organization: Document | None = None
    aws_managed: list[Document] = field(default_factory=list)
    accounts: list[AccountFiles] = field(default_factory=list)
    tests: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    content_hash: str = ""
    source: Path | None = None


def is_document(name: str) -> bool:
    return name.endswith(SUFFIXES) and not name.startswith(".")


class _Reader:
    def __init__(
        self, root: Path, memo: LoadMemo | None = None, max_file_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.limit = str(root)
        self.memo = memo
        self.problems: list[Problem] = []
        self.hash = hashlib.sha256()
        self.started_ns = time.time_ns()

    def problem(self, rel: str, code: str, message: str, path: str = "") -> None:
        self.problems.append(Problem(rel, path, code, message))

    def entries(self, rel: str) -> list[os.DirEntry[str]] | None:
        """Sorted, non-hidden entries of a directory, or None (and a problem) when unreadable.
        Symbolic links that lead outside the repository are refused (a problem names them)."""
        try:
            with os.scandir(self.root / rel) as it:
                found = sorted((e for e in it if not e.name.startswith(".")), key=_name)
        except OSError as err:
            self.problem(rel + "/", "unreadable_directory", f"cannot list directory: {_why(err)}")
            return None
        self.hash.update(f"D {rel}\n".encode())
        return [e for e in found if not e.is_symlink() or self.inside(_join(rel, e.name), e)]

    def inside(self, rel: str, entry: os.DirEntry[str]) -> bool:
        target = os.path.realpath(entry.path)
        if target == self.limit or target.startswith(self.limit + os.sep):
            return True
        self.problem(
            rel,
            "symlink_outside_repository",
            "symbolic link leads outside the repository root; links may only point within it",
        )
        return False

    def documents(self, rel: str) -> list[Document]:
        out = []
        for entry in self.entries(rel) or []:
            courtesy.pause()
            child = f"{rel}/{entry.name}"
            if entry.is_dir():
                self.problem(child + "/", "unknown_entry", "unexpected directory")
            elif is_document(entry.name):
                doc = self.read(child, entry)
                if doc is not None:
                    out.append(doc)
        return out

    def read(self, rel: str, entry: os.DirEntry[str] | None = None) -> Document | None:
        """The decoded file; from the memo when its signature or its bytes are unchanged."""
        memo = self.memo
        known = memo.file(rel) if memo is not None else None
        signature = self.signature(entry) if memo is not None else None
        if known is not None and signature is not None and known.signature == signature:
            assert memo is not None
            memo.keep_file(rel, known, reused=True)
            return self.replay(rel, known)
        try:
            raw = self.read_bytes(rel)
        except OSError as err:
            self.problem(rel, "unreadable_file", f"cannot read file: {_why(err)}")
            return None
        if raw is None:
            self.problem(rel, "unreadable_file", "not a regular file")
            return None
        digest = hashlib.sha256(raw).digest()
        if known is not None and known.digest == digest:
            assert memo is not None
            memo.keep_file(rel, replace(known, signature=signature), reused=True)
            return self.replay(rel, known)
        before = len(self.problems)
        data = self.decode(rel, raw)
        document = None if data is _INVALID else Document(rel, data, digest)
        hashed = f"F {rel} {len(raw)} ".encode() + digest
        if memo is not None:
            problems = tuple(self.problems[before:])
            memo.keep_file(
                rel, FileEntry(signature, digest, hashed, document, problems), reused=False
            )
        self.hash.update(hashed)
        return document

    def replay(self, rel: str, known: FileEntry) -> Document | None:
        self.hash.update(known.hashed)
        if known.problems:
            self.problems.extend(known.problems)
        document: Document | None = known.document
        return document

    def signature(self, entry: os.DirEntry[str] | None) -> Signature | None:
        """The stat signature of a settled file, or None (read it: it may change unseen)."""
        if entry is None:
            return None
        try:
            st = entry.stat()
        except OSError:
            return None
        if max(st.st_mtime_ns, st.st_ctime_ns) > self.started_ns - SETTLE_NS:
            return None
        return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def read_bytes(self, rel: str) -> bytes | None:
        """At most ``max_file_bytes + 1`` bytes of a regular file (None for anything else);
        opened without blocking, so a FIFO cannot stall the loader."""
        fd = os.open(self.root / rel, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb", buffering=0) as file:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return None
            limit = self.max_file_bytes
            data = file.read(min(info.st_size, limit) + 1) or b""  # sized: no 1 MiB buffer
            if len(data) <= info.st_size or len(data) > limit:
                return data  # the whole file (end reached), or too large already
            return data + (file.read(limit + 1 - len(data)) or b"")  # it grew meanwhile

    def decode(self, rel: str, raw: bytes) -> Any:
        if len(raw) > self.max_file_bytes:
            limit = self.max_file_bytes
            self.problem(rel, "file_too_large", f"file is larger than {limit} bytes (the limit)")
            return _INVALID
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            self.problem(rel, "invalid_encoding", f"file is not UTF-8: byte {err.start}")
            return _INVALID
        if rel.endswith(".json"):
            try:
                return json.loads(text, object_pairs_hook=_no_duplicates)
            except _DuplicateKey as err:
                self.problem(rel, "invalid_json", f"duplicate key `{err}`", "$")
            except json.JSONDecodeError as err:
                msg = f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
                self.problem(rel, "invalid_json", msg.lower(), "$")
            except RecursionError:
                self.problem(rel, "invalid_json", "invalid JSON: nesting too deep", "$")
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


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _join(rel: str, name: str) -> str:
    return name if rel == "." else f"{rel}/{name}"


def _why(err: OSError) -> str:
    return (err.strerror or type(err).__name__).lower()


def read_repository(
    root: Path, memo: LoadMemo | None = None, *, max_file_bytes: int = MAX_FILE_BYTES
) -> RepoFiles:
    """Read every file of the repository at ``root``; never raises for content problems.
    ``root`` is resolved once (``resolve_root``); ``memo`` (``authz.repo.memo``) lets files
    whose signature or bytes are unchanged since the last load skip reading or decoding."""
    files = RepoFiles(root=root)
    if not root.is_dir():
        reader = _Reader(root)
        reader.problem(".", "unreadable_directory", f"repository `{root}` is not a directory")
        files.problems = reader.problems
        return files
    source = resolve_root(root)
    reader = _Reader(source, memo, max_file_bytes)
    files.source = source
    for entry in reader.entries(".") or []:
        name = entry.name
        if entry.is_dir() and name not in TOP_DIRS:
            reader.problem(name + "/", "unknown_entry", "unexpected directory")
        elif entry.is_file() and name.startswith("organization.") and is_document(name):
            if files.organization is not None:
                reader.problem(name, "EntityAlreadyExists", "organization is defined twice")
            else:
                files.organization = reader.read(name, entry)
    if (source / "aws-managed").is_dir():
        files.aws_managed = reader.documents("aws-managed")
    if (source / "accounts").is_dir():
        files.accounts = _read_accounts(reader)
    if (source / "tests").is_dir():
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
                acct.account = reader.read(f"{rel}/{name}", child)
            elif name in ACCOUNT_DIRS:
                reader.problem(f"{rel}/{name}", "unknown_entry", f"`{name}` must be a directory")
            elif child.is_dir() or is_document(name):
                reader.problem(f"{rel}/{name}", "unknown_entry", "unexpected entry")
        out.append(acct)
    return out
