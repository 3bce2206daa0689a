"""How a repository is published, and the cheap probe that says whether a new one was.

Owns ``resolve_root`` (the directory a load reads, resolved once: a symbolic-link flip of the
root, as git-sync does, or of ``<root>/..data``, as Kubernetes ConfigMap and Secret volumes do,
is then seen whole), ``read_marker`` (the revision marker file, else the git HEAD commit, read
from files without running git) and ``publication`` (the token a reloader compares: the resolved
directory, plus the marker in ``marker`` mode).

Trigger modes (setting ``reload_trigger``):

- ``any``: every file change under the root starts a reload (debounced), and so does a flip of
  the root's symbolic link. Edits made in place are activated as they are seen: a change spread
  over several files may be seen half-written. Publish by symlink swap to avoid that.
- ``marker``: only a change of the marker (``.authz-revision`` in the published directory, or,
  without one, the git HEAD commit) or a flip starts a reload; write the marker last.

Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

import os
from pathlib import Path

PUBLISHED_LINK = "..data"  # Kubernetes ConfigMap / Secret volumes: ..data -> ..<timestamp>
DEFAULT_MARKER = ".authz-revision"
TRIGGERS = ("any", "marker")
_MARKER_BYTES = 4096  # a marker is a revision id, not a document


def resolve_root(root: Path) -> Path:
    """The directory a load reads, with every symbolic link on the way resolved once."""
    real = Path(os.path.realpath(root))
    published = real / PUBLISHED_LINK
    if published.is_dir():
        return Path(os.path.realpath(published))
    return real


def read_marker(directory: Path, marker: str = DEFAULT_MARKER) -> str:
    """The marker's content (first 4 KiB, stripped), else the git HEAD commit of the checkout
    holding ``directory``, else "" (nothing published yet)."""
    try:
        with open(directory / marker, "rb") as f:
            return "m:" + f.read(_MARKER_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        pass
    commit = git_head(directory)
    return f"g:{commit}" if commit else ""


def publication(root: Path, trigger: str, marker: str = DEFAULT_MARKER) -> str:
    """What a reloader compares to notice a publication: the resolved directory (a flip), and
    in ``marker`` mode the marker value too."""
    source = resolve_root(root)
    if trigger != "marker":
        return str(source)
    return f"{source}\0{read_marker(source, marker)}"


def git_head(directory: Path) -> str | None:
    """The commit HEAD names in the git checkout containing ``directory`` (worktrees, loose
    and packed refs), read from files; None when there is no checkout or it cannot be read."""
    gitdir = _find_gitdir(directory)
    if gitdir is None:
        return None
    head = _read_text(gitdir / "HEAD")
    if head is None:
        return None
    if not head.startswith("ref:"):
        return head if _is_sha(head) else None
    ref = head[4:].strip()
    common = gitdir
    pointer = _read_text(gitdir / "commondir")
    if pointer is not None:
        common = (gitdir / pointer).resolve()
    for base in (gitdir, common):
        value = _read_text(base / ref)
        if value is not None and _is_sha(value):
            return value
    packed = _read_text(common / "packed-refs") or ""
    for line in packed.splitlines():
        sha, _, name = line.partition(" ")
        if name == ref and _is_sha(sha):
            return sha
    return None


def _find_gitdir(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        dotgit = candidate / ".git"
        if dotgit.is_dir():
            return dotgit
        if dotgit.is_file():
            text = _read_text(dotgit) or ""
            if text.startswith("gitdir:"):
                return (candidate / text[7:].strip()).resolve()
            return None
    return None


def _read_text(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(_MARKER_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)
