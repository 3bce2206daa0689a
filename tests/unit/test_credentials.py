"""CredentialStore: hashed at rest, uniform refusals, constant-time compare, reload, CLI."""

from __future__ import annotations

import base64
import hmac
import json
import re
import stat
from pathlib import Path

import pytest

from authz.cli import main as run
from authz.errors import InvalidClientTokenId, NoSuchEntity, ServiceUnavailable, ValidationError
from authz.sts.credentials import CredentialStore

ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:iam::111122223333:user/dev/bob"
INVALID = "The security token included in the request is invalid."


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "secrets" / "credentials.json", clock=lambda: 1_700_000_000)


def refused(store: CredentialStore, key_id: str, secret: str) -> InvalidClientTokenId:
    with pytest.raises(InvalidClientTokenId) as info:
        store.authenticate(key_id, secret)
    assert info.value.message == INVALID
    assert info.value.to_dict() == {"Error": {"Code": "InvalidClientTokenId", "Message": INVALID}}
    return info.value


def test_create_and_authenticate(store: CredentialStore) -> None:
    key_id, secret = store.create(ALICE)
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id)
    assert len(secret) == 40
    assert store.authenticate(key_id, secret).user_arn == ALICE
    assert store.authenticate(key_id, secret).user_arn == ALICE  # cached path


def test_secret_never_stored_in_plaintext(store: CredentialStore) -> None:
    key_id, secret = store.create(ALICE)
    text = store.path.read_text()
    assert secret not in text
    assert base64.b64encode(secret.encode()).decode() not in text
    assert secret.encode().hex() not in text
    entry = json.loads(text)["access_keys"][key_id]
    assert set(entry) == {"user_arn", "status", "created_at", "alg", "secret"}
    assert entry["alg"] == "fernet"  # encrypted: SigV4 verification needs the secret
    for leftover in store.path.parent.iterdir():  # no temp file holds it either
        assert secret not in leftover.read_text(errors="replace")


def test_file_is_private(store: CredentialStore) -> None:
    store.create(ALICE)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700


def test_sealed_secrets_differ_per_key(store: CredentialStore) -> None:
    store.create(ALICE)
    store.create(ALICE)
    entries = json.loads(store.path.read_text())["access_keys"].values()
    assert len({e["secret"] for e in entries}) == 2


def test_wrong_secret_unknown_and_inactive_look_the_same(store: CredentialStore) -> None:
    key_id, secret = store.create(ALICE)
    wrong = refused(store, key_id, secret[:-1] + ("x" if secret[-1] != "x" else "y"))
    unknown = refused(store, "AKIAAAAAAAAAAAAAAAAA", secret)
    store.set_status(key_id, "Inactive")
    inactive = refused(store, key_id, secret)
    assert {e.message for e in (wrong, unknown, inactive)} == {INVALID}
    assert [e.details["reason"] for e in (wrong, unknown, inactive)] == [
        "bad_secret",
        "unknown_key",
        "inactive_key",
    ]


def test_malformed_input_refused(store: CredentialStore) -> None:
    key_id, _ = store.create(ALICE)
    refused(store, key_id, "s" * 1000)
    refused(store, "", "")


def test_constant_time_compare_is_used(
    store: CredentialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id, secret = store.create(ALICE)
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # looked up at call time
    assert store.authenticate(key_id, secret).user_arn == ALICE
    refused(store, key_id, "x" * 40)
    refused(store, "AKIAAAAAAAAAAAAAAAAA", "x" * 40)  # unknown keys hash and compare too
    assert len(calls) == 3


def test_deactivation_beats_the_cache(store: CredentialStore) -> None:
    key_id, secret = store.create(ALICE)
    assert store.authenticate(key_id, secret).user_arn == ALICE
    store.set_status(key_id, "Inactive")
    refused(store, key_id, secret)
    store.set_status(key_id, "Active")
    assert store.authenticate(key_id, secret).user_arn == ALICE


def test_deactivation_by_another_process_is_seen_within_the_recheck_interval(
    tmp_path: Path,
) -> None:
    now = [100.0]
    store = CredentialStore(tmp_path / "credentials.json", monotonic=lambda: now[0])
    key_id, secret = store.create(ALICE)
    assert store.authenticate(key_id, secret).user_arn == ALICE  # cached here
    CredentialStore(store.path).set_status(key_id, "Inactive")  # e.g. `authz keys deactivate`
    now[0] += 0.5
    assert store.authenticate(key_id, secret).user_arn == ALICE  # not re-checked yet (< 1 s)
    now[0] += 0.5
    refused(store, key_id, secret)


def test_delete(store: CredentialStore) -> None:
    key_id, secret = store.create(ALICE)
    store.authenticate(key_id, secret)
    store.delete(key_id)
    refused(store, key_id, secret)
    with pytest.raises(NoSuchEntity, match=key_id):
        store.delete(key_id)


def test_set_status_validation(store: CredentialStore) -> None:
    key_id, _ = store.create(ALICE)
    with pytest.raises(ValidationError, match="`Disabled`"):
        store.set_status(key_id, "Disabled")
    with pytest.raises(NoSuchEntity):
        store.set_status("AKIAAAAAAAAAAAAAAAAA", "Active")


@pytest.mark.parametrize(
    "arn", ["alice", "arn:aws:iam::1:user/a", "arn:aws:iam::111122223333:role/R"]
)
def test_create_requires_user_arn(store: CredentialStore, arn: str) -> None:
    with pytest.raises(ValidationError, match="is not an IAM user"):
        store.create(arn)


def test_list_never_shows_secrets(store: CredentialStore) -> None:
    a, secret = store.create(ALICE)
    b, _ = store.create(BOB)
    infos = store.list()
    assert {i.access_key_id for i in infos} == {a, b}
    assert [i.access_key_id for i in store.list(BOB)] == [b]
    assert secret not in repr(infos)
    assert infos[0].to_aws()["CreateDate"] == "2023-11-14T22:13:20Z"
    assert next(i for i in infos if i.access_key_id == b).user_name == "bob"


def test_empty_and_corrupt_store(tmp_path: Path) -> None:
    assert CredentialStore(tmp_path / "none.json").list() == []
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "access_keys": {"AKIA": {}}}')
    with pytest.raises(ValidationError, match="credentials store"):
        CredentialStore(bad)


def test_cli_access_key_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "creds.json")
    assert run(["keys", "create", "--store", path, "--user", ALICE]) == 0
    key = json.loads(capsys.readouterr().out)["AccessKey"]
    assert set(key) == {
        "UserName", "UserArn", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"
    }  # fmt: skip
    assert (key["UserName"], key["Status"]) == ("alice", "Active")
    found = CredentialStore(path).authenticate(key["AccessKeyId"], key["SecretAccessKey"])
    assert found.user_arn == ALICE

    assert run(["keys", "deactivate", "--store", path, "--access-key-id", key["AccessKeyId"]]) == 0
    assert run(["keys", "list-access-keys", "--store", path]) == 0
    out = capsys.readouterr().out
    assert key["SecretAccessKey"] not in out
    assert json.loads(out.split("\n", 1)[1])["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert run(["keys", "activate", "--store", path, "--access-key-id", key["AccessKeyId"]]) == 0
    assert run(["keys", "delete", "--store", path, "--access-key-id", key["AccessKeyId"]]) == 0
    capsys.readouterr()
    assert run(["keys", "delete", "--store", path, "--access-key-id", key["AccessKeyId"]]) == 2
    assert json.loads(capsys.readouterr().err)["Error"]["Code"] == "NoSuchEntity"


def test_unreadable_store_fails_closed_and_recovers(tmp_path: Path) -> None:
    now = [100.0]
    store = CredentialStore(tmp_path / "credentials.json", monotonic=lambda: now[0])
    key_id, secret = store.create(ALICE)
    assert store.authenticate(key_id, secret).user_arn == ALICE
    store.path.write_text("{broken")
    now[0] += 1.0
    for _ in range(3):
        with pytest.raises(ServiceUnavailable) as raised:
            store.authenticate(key_id, secret)
        assert str(tmp_path) not in raised.value.message
        assert "line" not in raised.value.message
    assert store.unavailable_refusals == 3
    store.path.write_text('{"version": 1, "access_keys": {}}\n')
    now[0] += 0.5
    with pytest.raises(ServiceUnavailable):  # re-tried at most once per recheck interval
        store.authenticate(key_id, secret)
    now[0] += 0.5
    refused(store, key_id, secret)  # readable again: the key is gone


def test_user_id_is_recorded_and_bound_once(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    key_id, secret = store.create(ALICE, "AIDAALICE000000000001")
    assert store.authenticate(key_id, secret).user_id == "AIDAALICE000000000001"
    legacy, legacy_secret = store.create(ALICE)
    assert store.authenticate(legacy, legacy_secret).user_id is None
    assert store.bind_user_id(legacy, "AIDAALICE000000000001") == "AIDAALICE000000000001"
    assert store.bind_user_id(legacy, "AIDAOTHER000000000002") == "AIDAALICE000000000001"
    assert CredentialStore(store.path).authenticate(legacy, legacy_secret).user_id == (
        "AIDAALICE000000000001"
    )
    with pytest.raises(ValidationError):
        store.create(ALICE, "not an id!")
