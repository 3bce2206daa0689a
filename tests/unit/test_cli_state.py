"""``authz state``: key generation (and, below, migration of the JSON stores)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken

from authz import cli
from authz.state.sealing import Sealer
from tests.state_nodes import error_json, open_node, shared_key


def test_keygen_writes_a_private_key_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.key"
    assert cli.main(["state", "keygen", "--key-file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = Sealer.from_key_file(path, create=False).seal(b"x")
    before = path.read_bytes()
    assert path.read_text().strip() not in capsys.readouterr().out  # never printed
    assert cli.main(["state", "keygen", "--key-file", str(path)]) == 2
    assert "exists" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert Sealer.from_key_file(path, create=False).unseal(token) == b"x"


# -- authz state migrate ----------------------------------------------------------------------

ALICE = "arn:aws:iam::111122223333:user/alice"
SEALED_ID, SEALED_SECRET = "AKIABBBBBBBBBBBBBBBB", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HASHED_ID, HASHED_SECRET = "AKIAAAAAAAAAAAAAAAAA", "legacy-secret-0123456789abcdefghijklmnop"


def write_old_store(path: Path, *, inactive: bool = False) -> bytes:
    """A credentials store exactly as the JSON-file releases wrote it: one key sealed under
    ``<file>.key`` (Fernet), one from before encryption (salted HMAC-SHA256). The old key."""
    old_key = Fernet.generate_key()
    path.with_name(path.name + ".key").write_bytes(old_key + b"\n")
    salt = os.urandom(16)
    digest = hmac.new(salt, HASHED_SECRET.encode(), hashlib.sha256).digest()
    doc = {"version": 1, "access_keys": {
        HASHED_ID: {"user_arn": ALICE, "status": "Active", "created_at": 1,
                    "alg": "hmac-sha256", "salt": base64.b64encode(salt).decode(),
                    "hash": base64.b64encode(digest).decode()},
        SEALED_ID: {"user_arn": ALICE, "user_id": "AIDAALICE000000000001",
                    "status": "Inactive" if inactive else "Active", "created_at": 2,
                    "alg": "fernet",
                    "secret": Fernet(old_key).encrypt(SEALED_SECRET.encode()).decode()},
    }}  # fmt: skip
    path.write_text(json.dumps(doc, indent=2) + "\n")
    path.chmod(0o600)
    return old_key


def migrate(
    capsys: pytest.CaptureFixture[str], state_url: str, key: Path, store: Path
) -> tuple[int, dict[str, Any], str]:
    code = cli.main(["state", "migrate", "--state-url", state_url, "--state-key-file", str(key),
                     "--credentials-file", str(store),
                     "--mfa-file", str(store.parent / "m.json")])  # fmt: skip
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else {}), err


def test_migrate_imports_the_old_store_and_it_authenticates(
    state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "credentials.json"
    old_key = write_old_store(store)
    key = shared_key(tmp_path)
    code, report, err = migrate(capsys, state_url, key, store)
    assert code == 0
    [keys] = [r for r in report["imports"] if r["store"] == "access_keys"]
    assert (keys["imported"], keys["already_present"]) == (2, 0)
    assert keys["notes"] == [{"MustReissue": HASHED_ID, "UserArn": ALICE, "Status": "Active"}]
    assert f"re-issue {HASHED_ID}" in err and SEALED_SECRET not in err + json.dumps(report)
    node = open_node(state_url, key)
    try:
        info = node.credentials.authenticate(SEALED_ID, SEALED_SECRET)
        assert (info.user_arn, info.user_id) == (ALICE, "AIDAALICE000000000001")
        assert node.credentials.signing_secret(SEALED_ID)[1] == SEALED_SECRET
        assert node.credentials.authenticate(HASHED_ID, HASHED_SECRET).user_arn == ALICE
        with node.db.transaction(write=False) as tx:
            [(sealed,)] = tx.execute(
                "SELECT secret FROM access_keys WHERE access_key_id = ?", (SEALED_ID,)
            )
        with pytest.raises(InvalidToken):  # re-sealed under the state key, not the old one
            Fernet(old_key).decrypt(sealed.encode())
        node.credentials.set_status(SEALED_ID, "Inactive")
    finally:
        node.close()
    # idempotent: a second run imports nothing and does not undo the deactivation
    code, report, _ = migrate(capsys, state_url, key, store)
    [keys] = [r for r in report["imports"] if r["store"] == "access_keys"]
    assert (code, keys["imported"], keys["already_present"]) == (0, 0, 2)
    node = open_node(state_url, key)
    try:
        assert node.credentials.list()[1].status == "Inactive"
    finally:
        node.close()


def test_migrate_is_all_or_nothing(
    state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "credentials.json"
    write_old_store(store)
    (tmp_path / "credentials.json.key").write_bytes(Fernet.generate_key() + b"\n")  # wrong key
    key = shared_key(tmp_path)
    code, _, err = migrate(capsys, state_url, key, store)
    assert code == 2
    message = error_json(err)["Error"]["Message"]
    assert f"credentials store `{store}`" in message and SEALED_ID in message
    node = open_node(state_url, key)
    try:
        assert node.credentials.list() == []  # not even the hashed key that came first
    finally:
        node.close()


def test_migrate_without_an_old_store_imports_nothing(
    state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = migrate(capsys, state_url, shared_key(tmp_path), tmp_path / "none.json")
    [keys] = [r for r in report["imports"] if r["store"] == "access_keys"]
    assert (code, keys["imported"], keys["source"]) == (0, 0, "")


def test_make_run_imports_the_playground_of_an_earlier_release(tmp_path: Path) -> None:
    from authz import devrun

    local = tmp_path / "local"
    local.mkdir()
    write_old_store(local / "credentials.json")
    bob = json.loads(devrun.ensure_playground(local).read_text())
    node = open_node(devrun.state_url(local), local / "state.key")
    try:
        assert node.credentials.signing_secret(SEALED_ID)[1] == SEALED_SECRET  # the old key
        assert node.credentials.authenticate(bob["AccessKeyId"], bob["SecretAccessKey"])
    finally:
        node.close()
