"""The serving process caps glibc's malloc arenas (``malloc_arena_max``), asked for by setting."""

from __future__ import annotations

import ctypes
import platform

import pytest

from authz.config import Settings
from authz.server.app import limit_malloc_arenas


def test_zero_leaves_the_allocator_alone() -> None:
    assert limit_malloc_arenas(0) is False


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="M_ARENA_MAX is a glibc malloc parameter"
)
def test_the_cap_is_applied_on_glibc() -> None:
    assert hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    assert limit_malloc_arenas(Settings().malloc_arena_max) is True
