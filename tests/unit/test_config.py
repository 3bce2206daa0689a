"""Settings precedence (defaults → TOML → flags) and clear errors for bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from authz.config import load_settings
from authz.engine.snapshot import authorize
from authz.errors import ValidationError
from authz.wiring import build_backend


def test_defaults_bind_to_loopback() -> None:
    s = load_settings()
    assert s.listen.startswith("127.0.0.1:")
    assert s.ttl.default_seconds == 3600


def test_file_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "authz.toml"
    cfg.write_text('listen = "127.0.0.1:6000"\nworkers = 2\n[ttl]\nmaximum_seconds = 7200\n')
    s = load_settings(cfg, workers=3, repo=None)
    assert (s.listen, s.workers, s.ttl.maximum_seconds) == ("127.0.0.1:6000", 3, 7200)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("listn = 'x'\n", "unknown setting `listn`"),
        ("[ttl]\nminimum_seconds = 100\n", "ttl settings must satisfy"),
        ("workers = 0\n", "workers must be at least 1"),
        ("tls_cert = 'c.pem'\n", "must be given together"),
        ("not toml = = \n", "cannot read config file"),
    ],
)
def test_bad_settings_name_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "authz.toml"
    cfg.write_text(text)
    with pytest.raises(ValidationError, match=fragment):
        load_settings(cfg)


def test_cache_settings_reach_the_snapshot(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2] / "policies"
    settings = load_settings(
        None, repo=repo, keys_dir=tmp_path / "k", credentials_file=tmp_path / "c.json",
        mfa_file=tmp_path / "m.json", watch=False, decision_cache_size=0, generate_keys=True,
    )  # fmt: skip
    backend = build_backend(settings)
    try:
        snapshot = backend.holder.current
        bob = snapshot.caller("arn:aws:iam::111122223333:user/Bob")
        for _ in range(3):
            authorize(snapshot, bob, "sts:AssumeRole", "arn:aws:iam::444455556666:role/foo")
        stats = snapshot.cache_stats()
        assert stats["decision_hits"] == 0 and stats["decision_size"] == 0
    finally:
        backend.reloader.close()
