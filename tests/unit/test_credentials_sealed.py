"""The access keys keep secrets sealed (SigV4 needs them), keys from the hashed era are
imported, authenticate, and are refused for signing (their secret cannot be recovered), and a
node with the wrong state key fails closed."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from authz.errors import InvalidClientTokenId, ServiceUnavailable
from authz.sts.credentials import AccessKeyInfo, StoredKey, insert_key
from tests.state_nodes import Node, open_node, shared_key

ALICE = "arn:aws:iam::111122223333:user/alice"
LEGACY_ID, LEGACY_SECRET = "AKIAAAAAAAAAAAAAAAAA", "legacy-secret-0123456789abcdefghijklmnop"


def hashed_key() -> StoredKey:
    """A key as stored before secrets were encrypted: HMAC-SHA256 with a salt."""
    salt = os.urandom(16)
    digest = hmac.new(salt, LEGACY_SECRET.encode(), hashlib.sha256).digest()
    return StoredKey(AccessKeyInfo(LEGACY_ID, ALICE, "Active", 1), salt=salt, digest=digest)


@pytest.fixture
def node(state_url: str, tmp_path: Path) -> Iterator[Node]:
    n = open_node(state_url, shared_key(tmp_path))
    yield n
    n.close()


def test_signing_secret_is_the_created_secret(state_url: str, node: Node, tmp_path: Path) -> None:
    key_id, secret = node.credentials.create(ALICE)
    info, found = node.credentials.signing_secret(key_id)
    assert (info.user_arn, found) == (ALICE, secret)
    other = open_node(state_url, shared_key(tmp_path))  # another replica, same key file
    try:
        assert other.credentials.signing_secret(key_id)[1] == secret
    finally:
        other.close()


def test_inactive_and_unknown_keys_cannot_sign(node: Node) -> None:
    key_id, _ = node.credentials.create(ALICE)
    node.credentials.set_status(key_id, "Inactive")
    with pytest.raises(InvalidClientTokenId) as info:
        node.credentials.signing_secret(key_id)
    assert info.value.details["reason"] == "inactive_key"
    with pytest.raises(InvalidClientTokenId) as info:
        node.credentials.signing_secret("AKIAZZZZZZZZZZZZZZZZ")
    assert info.value.details["reason"] == "unknown_key"


def test_hashed_keys_authenticate_with_the_secret_but_cannot_sign(node: Node) -> None:
    with node.db.transaction() as tx:
        assert insert_key(tx, hashed_key())
        assert not insert_key(tx, hashed_key())  # present: left as it is
        tx.bump("access_keys")
    node.credentials.reload()
    store = node.credentials
    assert store.authenticate(LEGACY_ID, LEGACY_SECRET).user_arn == ALICE
    with pytest.raises(InvalidClientTokenId) as info:
        store.authenticate(LEGACY_ID, LEGACY_SECRET + "x")
    assert info.value.details["reason"] == "bad_secret"
    with pytest.raises(InvalidClientTokenId) as info:
        store.signing_secret(LEGACY_ID)
    assert info.value.details["reason"] == "hashed_secret"
    assert [i.access_key_id for i in store.hashed_keys()] == [LEGACY_ID]
    key_id, secret = store.create(ALICE)  # new keys are sealed next to the old one
    assert store.signing_secret(key_id)[1] == secret
    assert [i.access_key_id for i in store.hashed_keys()] == [LEGACY_ID]


def test_a_node_with_the_wrong_state_key_fails_closed(
    state_url: str, node: Node, tmp_path: Path
) -> None:
    key_id, secret = node.credentials.create(ALICE)
    wrong = open_node(state_url, shared_key(tmp_path / "elsewhere"))
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            wrong.credentials.signing_secret(key_id)
        assert raised.value.details["reason"] == "credentials_key_unusable"
        with pytest.raises(ServiceUnavailable):
            wrong.credentials.authenticate(key_id, secret)
    finally:
        wrong.close()


def test_an_unusable_row_is_refused_not_served(node: Node) -> None:
    key_id, secret = node.credentials.create(ALICE)
    with node.db.transaction() as tx:
        tx.execute("UPDATE access_keys SET secret = NULL WHERE access_key_id = ?", (key_id,))
        tx.bump("access_keys")
    node.watcher.poll_once()
    with pytest.raises(InvalidClientTokenId) as info:
        node.credentials.authenticate(key_id, secret)
    assert info.value.details["reason"] == "unknown_key"
