"""Start-up that says what is wrong (issue 12): unusable paths are one line on stderr and exit
2, never a traceback; a missing key ring is created only when asked (``--dev-generate-keys``),
never silently: a replica whose key mount failed would issue tokens no other replica accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from authz import cli
from authz.cli_output import EXIT_OTHER
from authz.config import StartupError, load_settings
from authz.sts.keys import KeyRing
from authz.wiring import open_keyring

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``authz serve`` points the ``authz`` loggers at this test's (captured) stderr."""
    logger = logging.getLogger("authz")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:], logger.propagate = handlers, propagate
    logger.setLevel(level)


def _serve(tmp_path: Path, *extra: str) -> list[str]:
    return ["serve", "--repo", str(POLICIES), "--listen", "127.0.0.1:0", "--no-watch",
            "--state-url", f"sqlite:///{tmp_path / 's.db'}",
            "--state-key-file", str(tmp_path / "s.key"), *extra]  # fmt: skip


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_keys_are_an_error_not_a_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    code = cli.main(_serve(tmp_path, "--keys-dir", str(keys)))
    assert code == EXIT_OTHER
    err = _one_line_error(capsys)
    assert f"no signing keys in `{keys}`" in err and "authz keys generate" in err
    assert not (keys / "index.json").exists()  # nothing was minted


def test_an_empty_keys_directory_is_an_error_too(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()  # the mount point exists, the secret volume did not mount
    settings = load_settings(None, repo=POLICIES, keys_dir=keys)
    with pytest.raises(StartupError, match="no signing keys"):
        open_keyring(settings)
    assert list(keys.iterdir()) == []


def test_keys_are_generated_only_when_asked(tmp_path: Path) -> None:
    settings = load_settings(None, repo=POLICIES, keys_dir=tmp_path / "k", generate_keys=True)
    ring = open_keyring(settings)
    assert (tmp_path / "k" / "index.json").exists()
    assert open_keyring(settings).signing_key.kid == ring.signing_key.kid  # then just loaded


def test_unusable_keys_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    KeyRing.generate(keys)
    (keys / "index.json").write_text("{not json", encoding="utf-8")
    assert cli.main(_serve(tmp_path, "--keys-dir", str(keys))) == EXIT_OTHER
    assert f"cannot use the signing keys in `{keys}`" in _one_line_error(capsys)


def test_missing_audit_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    KeyRing.generate(tmp_path / "keys")
    audit = tmp_path / "no-such-dir" / "audit.jsonl"
    argv = _serve(tmp_path, "--keys-dir", str(tmp_path / "keys"), "--audit-log", str(audit))
    assert cli.main(argv) == EXIT_OTHER
    err = _one_line_error(capsys)
    assert err == f"authz serve: audit log directory `{audit.parent}` does not exist"


def test_audit_path_that_is_a_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    KeyRing.generate(tmp_path / "keys")
    argv = _serve(tmp_path, "--keys-dir", str(tmp_path / "keys"), "--audit-log", str(tmp_path))
    assert cli.main(argv) == EXIT_OTHER
    assert "is a directory" in _one_line_error(capsys)


def test_missing_repository_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["serve", "--repo", str(tmp_path / "nope"), "--keys-dir", str(tmp_path / "keys")]
    assert cli.main(argv) == EXIT_OTHER
    assert "is not a directory" in _one_line_error(capsys)


def test_unreadable_tls_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    KeyRing.generate(tmp_path / "keys")
    (tmp_path / "cert.pem").write_text("x", encoding="utf-8")
    argv = _serve(tmp_path, "--keys-dir", str(tmp_path / "keys"))
    config = tmp_path / "authz.toml"
    config.write_text(
        f'tls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "missing.key"}"\n',
        encoding="utf-8",
    )
    assert cli.main([*argv, "--config", str(config)]) == EXIT_OTHER
    assert "tls_key" in _one_line_error(capsys)


def test_a_shared_state_database_without_its_key_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "absent.key"
    argv = ["serve", "--repo", str(POLICIES), "--listen", "127.0.0.1:0", "--no-watch",
            "--keys-dir", str(tmp_path / "keys"), "--dev-generate-keys",
            "--state-url", "postgresql://authz@127.0.0.1:1/authz",
            "--state-key-file", str(key)]  # fmt: skip
    assert cli.main(argv) == EXIT_OTHER
    err = _one_line_error(capsys)
    assert f"state_key_file `{key}` does not exist" in err and "authz state keygen" in err
    assert not key.exists()  # never created for a shared database


def test_a_bad_state_key_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "s.key"
    key.write_text("not a key\n")
    key.chmod(0o600)
    argv = _serve(tmp_path, "--keys-dir", str(tmp_path / "keys"), "--dev-generate-keys")
    argv[argv.index("--state-key-file") + 1] = str(key)
    assert cli.main(argv) == EXIT_OTHER
    err = _one_line_error(capsys)
    assert f"state_key_file: state key file `{key}` line 1: not a Fernet key" in err
