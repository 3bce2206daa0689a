"""The credentials store keeps secrets encrypted (SigV4 needs them), and keys from the hashed
era are found and refused for signing (their secret cannot be recovered)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import pytest

from authz.cli import main as run
from authz.errors import InvalidClientTokenId, ServiceUnavailable
from authz.sts.credentials import CredentialStore

ALICE = "arn:aws:iam::111122223333:user/alice"
LEGACY_ID, LEGACY_SECRET = "AKIAAAAAAAAAAAAAAAAA", "legacy-secret-0123456789abcdefghijklmnop"


def write_legacy_store(path: Path) -> None:
    """A store as written before secrets were encrypted: HMAC-SHA256 with a salt."""
    salt = os.urandom(16)
    digest = hmac.new(salt, LEGACY_SECRET.encode(), hashlib.sha256).digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "access_keys": {LEGACY_ID: {
        "user_arn": ALICE, "status": "Active", "created_at": 1, "alg": "hmac-sha256",
        "salt": base64.b64encode(salt).decode(), "hash": base64.b64encode(digest).decode(),
    }}}))  # fmt: skip
    path.chmod(0o600)


def test_signing_secret_is_the_created_secret(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    key_id, secret = store.create(ALICE)
    info, found = store.signing_secret(key_id)
    assert (info.user_arn, found) == (ALICE, secret)
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    assert secret not in store.path.read_text()
    # another process (a fresh store object) decrypts it with the same key file
    assert CredentialStore(store.path).signing_secret(key_id)[1] == secret


def test_inactive_and_unknown_keys_cannot_sign(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    key_id, _ = store.create(ALICE)
    store.set_status(key_id, "Inactive")
    with pytest.raises(InvalidClientTokenId) as info:
        store.signing_secret(key_id)
    assert info.value.details["reason"] == "inactive_key"
    with pytest.raises(InvalidClientTokenId) as info:
        store.signing_secret("AKIAZZZZZZZZZZZZZZZZ")
    assert info.value.details["reason"] == "unknown_key"


def test_hashed_keys_authenticate_with_the_secret_but_cannot_sign(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    write_legacy_store(path)
    store = CredentialStore(path)
    assert store.authenticate(LEGACY_ID, LEGACY_SECRET).user_arn == ALICE
    with pytest.raises(InvalidClientTokenId) as info:
        store.signing_secret(LEGACY_ID)
    assert info.value.details["reason"] == "hashed_secret"
    assert [i.access_key_id for i in store.hashed_keys()] == [LEGACY_ID]
    key_id, secret = store.create(ALICE)  # new keys are encrypted next to the old one
    assert store.signing_secret(key_id)[1] == secret
    assert [i.access_key_id for i in store.hashed_keys()] == [LEGACY_ID]


def test_a_lost_key_file_fails_closed(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    key_id, secret = store.create(ALICE)
    store.key_path.unlink()
    fresh = CredentialStore(store.path)
    with pytest.raises(ServiceUnavailable):
        fresh.signing_secret(key_id)
    with pytest.raises(ServiceUnavailable):
        fresh.authenticate(key_id, secret)
    with pytest.raises(Exception, match="missing"):
        fresh.create(ALICE)  # never a new key over secrets sealed with the lost one


def test_migrate_lists_keys_to_reissue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "credentials.json"
    write_legacy_store(path)
    assert run(["keys", "migrate", "--store", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["must_reissue"] == [
        {"AccessKeyId": LEGACY_ID, "UserArn": ALICE, "Status": "Active"}
    ]
    assert report["key_file"] == str(path.with_name("credentials.json.key"))
    assert Path(report["key_file"]).exists()
    store = CredentialStore(path)
    store.create(ALICE)
    assert run(["keys", "migrate", "--store", str(path)]) == 0
    assert len(json.loads(capsys.readouterr().out)["must_reissue"]) == 1
