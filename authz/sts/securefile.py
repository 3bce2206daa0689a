"""Private files for secrets and keys: written atomically with mode 0600, and a cheap stamp
to notice that another process changed them. Shared by the key ring and the access-key store."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 via a temp file in the same dir + os.replace,
    so readers see the old or the new content, never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_stamp(path: Path) -> tuple[int, int, int]:
    """(inode, mtime_ns, size): changes whenever the file is replaced or rewritten."""
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)
