"""Settings precedence (defaults → TOML → flags) and clear errors for bad settings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from authz.config import StartupError, check_paths, load_settings
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
        ("state_url = 'mysql://db/authz'\n", "state_url `mysql://db/authz` must be"),
        ("state_url = 'postgresql://u:hunter2@db/a'\nstate_poll_ms = 5\n", "state_poll_ms"),
        ("state_poll_ms = 1000\nstate_stale_seconds = 1.5\n", "state_stale_seconds must"),
        ("state_url = 7\n", "state_url must be a string"),
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
        state_url=f"sqlite:///{tmp_path / 's.db'}", state_key_file=tmp_path / "s.key",
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
        backend.close()


def test_state_settings_from_file_and_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "authz.toml"
    cfg.write_text(
        "state_url = 'postgresql://authz@db:5432/authz'\nstate_poll_ms = 100\n"
        "state_stale_seconds = 2\n"
    )
    s = load_settings(cfg, state_key_file="/run/secrets/state.key")
    assert s.state_url == "postgresql://authz@db:5432/authz"
    assert (s.state_poll_ms, s.state_stale_seconds) == (100, 2.0)
    assert s.state_key_file == Path("/run/secrets/state.key")
    defaults = load_settings()
    assert defaults.state_url == "sqlite:///.authz-local/state.db"
    assert defaults.state_key_file == Path(".authz-local/state.key")


def test_password_of_a_bad_state_url_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(None, state_url="mysql://u:hunter2@db/a")
    assert "hunter2" not in caught.value.message


def test_shared_state_needs_an_existing_key_file(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2] / "policies"
    key = tmp_path / "state.key"
    shared = load_settings(
        None, repo=repo, state_url="postgresql://authz@db/authz", state_key_file=key
    )
    with pytest.raises(StartupError, match=r"state_key_file `.*state\.key` does not exist"):
        check_paths(shared)
    assert not key.exists()
    local = load_settings(None, repo=repo, state_url=f"sqlite:///{tmp_path / 's.db'}",
                          state_key_file=key)  # fmt: skip
    check_paths(local)  # created when the state is opened


def test_unusable_state_is_a_startup_error(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2] / "policies"
    base = {"repo": repo, "keys_dir": tmp_path / "k", "generate_keys": True, "watch": False}
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not a key\n")
    settings = load_settings(None, **base, state_url=f"sqlite:///{tmp_path / 's.db'}",
                             state_key_file=bad_key)  # fmt: skip
    with pytest.raises(StartupError, match=r"state_key_file: .*line 1: not a Fernet key"):
        build_backend(settings)
    (tmp_path / "dir.db").mkdir()
    settings = load_settings(None, **base, state_url=f"sqlite:///{tmp_path / 'dir.db'}",
                             state_key_file=tmp_path / "ok.key")  # fmt: skip
    with pytest.raises(StartupError, match=r"state_url `sqlite:///.*dir\.db`: "):
        build_backend(settings)


def test_backend_opens_and_closes_its_state(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2] / "policies"
    settings = load_settings(
        None, repo=repo, keys_dir=tmp_path / "k", generate_keys=True, watch=False,
        state_url=f"sqlite:///{tmp_path / 's.db'}", state_key_file=tmp_path / "s.key",
        state_poll_ms=20,
    )  # fmt: skip
    backend = build_backend(settings)
    state = backend.state
    assert state is not None
    try:
        assert (tmp_path / "s.db").exists() and (tmp_path / "s.key").exists()
        assert state.watcher.fresh() and state.watcher.poll_seconds == 0.02
    finally:
        backend.close()
    assert not any(t.name == "authz-state-watch" for t in threading.enumerate())
