"""The STS random pool: kernel bytes handed out once each, refilled across blocks and forks."""

from __future__ import annotations

import os

import pytest

from authz.sts import randomness
from authz.sts.randomness import RandomPool


def test_every_byte_is_handed_out_once_across_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    counter = iter(range(1_000_000))

    def fake_urandom(n: int) -> bytes:  # distinct, recognisable bytes: position in a stream
        calls.append(n)
        return bytes(next(counter) % 256 for _ in range(n))

    monkeypatch.setattr(randomness.os, "urandom", fake_urandom)
    pool = RandomPool(block=64)
    out = b"".join(pool.token_bytes(10) for _ in range(12))  # 6 per block, then a refill
    assert calls == [64, 64]
    assert out[:60] == bytes(range(60)) and out[60:] == bytes(range(64, 124))
    assert pool.token_bytes(0) == b"" and len(pool.token_bytes(40)) == 40  # > block/4: direct
    assert calls[-1] == 40


def test_a_forked_child_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    real_urandom, real_pid = os.urandom, os.getpid()
    calls: list[int] = []

    def counting_urandom(n: int) -> bytes:
        calls.append(n)
        return real_urandom(n)

    monkeypatch.setattr(randomness.os, "urandom", counting_urandom)
    pool = RandomPool(block=64)
    pool.token_bytes(8)
    pool.token_bytes(8)
    assert calls == [64]  # one block serves both
    monkeypatch.setattr(randomness.os, "getpid", lambda: real_pid + 1)  # as in a forked child
    pool.token_bytes(8)
    assert calls == [64, 64]  # the child does not reuse the parent's block


def test_module_functions_have_secrets_shapes() -> None:
    assert len(randomness.token_bytes(16)) == 16
    hex_ = randomness.token_hex(16)
    assert len(hex_) == 32 and int(hex_, 16) >= 0
    assert len({randomness.token_hex(16) for _ in range(1000)}) == 1000
