"""Random bytes for the STS request path: OS CSPRNG output (``os.urandom``) read in blocks.

Owns ``token_bytes`` / ``token_hex``, drop-in for the ``secrets`` functions of the same names.
An AssumeRole needs three random values (session id, temporary access key id, secret); each
``os.urandom`` call is a ``getrandom`` syscall that releases the GIL, which under load costs a
thread switch per call. Here one syscall serves a 4 KiB block; every byte is handed out once,
and a process that forked refills before serving (the pid is checked), so no two processes
share a block. The bytes are exactly the kernel CSPRNG's: buffering changes nothing about
their quality, only where they wait before use (process memory, like the signing keys).
"""

from __future__ import annotations

import os
import threading

BLOCK = 4096


class RandomPool:
    """Thread-safe buffer of kernel CSPRNG bytes."""

    def __init__(self, block: int = BLOCK) -> None:
        self._block = block
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        self._pid = -1

    def token_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("n must not be negative")
        if n > self._block // 4:
            return os.urandom(n)  # large requests straight from the kernel
        with self._lock:
            if self._pid != os.getpid() or self._offset + n > len(self._buffer):
                self._buffer, self._offset, self._pid = os.urandom(self._block), 0, os.getpid()
            start = self._offset
            self._offset = start + n
            return self._buffer[start : start + n]


_POOL = RandomPool()


def token_bytes(n: int) -> bytes:
    """``n`` random bytes (``secrets.token_bytes`` semantics)."""
    return _POOL.token_bytes(n)


def token_hex(n: int) -> str:
    """``2n`` hex digits of ``n`` random bytes (``secrets.token_hex`` semantics)."""
    return _POOL.token_bytes(n).hex()
