"""Signing keys kept in the state database (both backends): every ring on the database accepts
every ring's tokens, a rotation made on one node is used by all at the same activation time,
old tokens verify until they can have expired, private keys are sealed."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from authz.cli import main as run
from authz.config import StartupError, load_settings
from authz.errors import ExpiredToken, InvalidClientTokenId, ValidationError
from authz.state import Database, StateWatcher, open_database
from authz.state.sealing import Sealer
from authz.sts.keys import KeyRing
from authz.sts.keys_state import generate_state_ring, minimum_publish_delay, open_state_ring
from authz.sts.tokens import TokenSigner, TokenVerifier
from authz.wiring import open_keyring
from tests.unit.test_tokens import ISSUER, T0, Clock, make_claims

TTL = 3600
SKEW = 60
DELAY = 10


@pytest.fixture
def db(state_url: str) -> Iterator[Database]:
    database = open_database(state_url)
    yield database
    database.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.key"
    Sealer.from_key_file(path, create=True)
    return path


@pytest.fixture
def sealer(key_file: Path) -> Sealer:
    return Sealer.from_key_file(key_file, create=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring_a(db: Database, sealer: Sealer, clock: Clock) -> KeyRing:
    return generate_state_ring(
        db, sealer, max_token_ttl=TTL, skew=SKEW, publish_delay=DELAY, clock=clock
    )


@pytest.fixture
def ring_b(ring_a: KeyRing, db: Database, sealer: Sealer, clock: Clock) -> KeyRing:
    return open_state_ring(db, sealer, clock=clock)


def _token(ring: KeyRing, now: int) -> str:
    return TokenSigner(ring, ISSUER).sign(make_claims(now=now, ttl=TTL))


def _verifier(ring: KeyRing, clock: Clock) -> TokenVerifier:
    return TokenVerifier(ring, ISSUER, leeway_seconds=0, clock=clock)


def test_token_signed_by_one_ring_verifies_on_another(
    ring_a: KeyRing, ring_b: KeyRing, clock: Clock
) -> None:
    token = _token(ring_a, T0)
    claims = _verifier(ring_b, clock).verify(token)
    assert claims.session_id == make_claims().session_id
    assert ring_a.jwks() == ring_b.jwks() and len(ring_a.jwks()["keys"]) == 1


def test_rotation_on_one_node_is_used_by_all_at_the_same_activation_time(
    ring_a: KeyRing, ring_b: KeyRing, clock: Clock
) -> None:
    old = ring_a.signing_key.kid
    new = ring_b.rotate().kid  # rotated through B; A learns it from the database
    assert ring_a.refresh() is True
    # published at once on both nodes (JWKS, verification), used by neither yet
    for ring in (ring_a, ring_b):
        assert [k["kid"] for k in ring.jwks()["keys"]] == [new, old]
        assert ring.signing_key.kid == old
    statuses = {i.kid: i.status(clock.now) for i in ring_a.list()}
    assert statuses == {old: "signing", new: "pending"}
    clock.now = T0 + DELAY - 1
    assert ring_a.signing_key.kid == ring_b.signing_key.kid == old
    clock.now = T0 + DELAY
    assert ring_a.signing_key.kid == ring_b.signing_key.kid == new
    # each node's new tokens verify on the other
    token = _token(ring_a, T0 + DELAY)
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"] == new
    _verifier(ring_b, clock).verify(token)


def test_old_tokens_verify_until_they_can_have_expired_then_the_key_is_pruned(
    ring_a: KeyRing, ring_b: KeyRing, clock: Clock
) -> None:
    old = ring_a.signing_key.kid
    clock.now = T0 + 100
    old_token = _token(ring_a, T0 + 100)
    ring_a.rotate()
    ring_b.refresh()
    activation = T0 + 100 + DELAY
    not_after = activation + TTL + SKEW
    info = next(i for i in ring_b.list() if i.kid == old)
    assert (info.retired_at, info.not_after) == (activation, not_after)
    # signed just before the activation: lives TTL seconds, verifies to the end
    clock.now = activation - 1
    last_old = _token(ring_a, activation - 1)
    clock.now = activation - 1 + TTL - 1
    _verifier(ring_b, clock).verify(last_old)
    with pytest.raises(ExpiredToken):
        _verifier(ring_b, clock).verify(old_token)  # its own lifetime is over
    clock.now = not_after
    assert old not in {k["kid"] for k in ring_b.jwks()["keys"]}
    with pytest.raises(InvalidClientTokenId):
        _verifier(ring_b, clock).verify(last_old)
    assert ring_b.prune() == [old]
    assert ring_a.refresh() is True
    assert [i.kid for i in ring_a.list()] == [ring_a.signing_key.kid]


def test_private_keys_are_sealed_in_the_database(
    ring_a: KeyRing, db: Database, tmp_path: Path
) -> None:
    ring_a.rotate()
    with db.transaction(write=False) as tx:
        rows = tx.execute("SELECT * FROM signing_keys")
    dump = repr(rows)
    assert len(rows) == 2
    for kid in (i.kid for i in ring_a.list()):
        private = ring_a.source.read().by_kid[kid].private_key
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for clear in (raw, der):
            for text in (clear.hex(), base64.b64encode(clear).decode(), str(clear)):
                assert text.rstrip("=") not in dump
    assert "PRIVATE KEY" not in dump
    # another state key opens nothing: the ring refuses to load, naming the key, not a secret
    other = tmp_path / "other.key"
    with pytest.raises(ValidationError, match="cannot be opened"):
        open_state_ring(db, Sealer.from_key_file(other, create=True))


def test_a_tampered_row_is_refused_and_the_last_good_ring_kept(
    ring_a: KeyRing, ring_b: KeyRing, db: Database, sealer: Sealer
) -> None:
    kid = ring_a.signing_key.kid
    rotated = ring_a.rotate().kid
    with db.transaction() as tx:  # swap the sealed keys of two rows
        rows = dict(tx.execute("SELECT kid, sealed_private_key FROM signing_keys"))
        tx.execute(
            "UPDATE signing_keys SET sealed_private_key = ? WHERE kid = ?", (rows[rotated], kid)
        )
        tx.bump("signing_keys")
    assert ring_b.refresh() is False
    assert ring_b.signing_key.kid == kid
    with pytest.raises(ValidationError, match="does not match its kid"):
        open_state_ring(db, sealer)


def test_watcher_reloads_every_node_without_database_reads_on_the_request_path(
    ring_a: KeyRing, db: Database, sealer: Sealer, state_url: str, clock: Clock
) -> None:
    other_db = open_database(state_url)  # another node: its own pool and watcher
    try:
        watcher = StateWatcher(other_db, poll_seconds=0.25)
        ring_c = open_state_ring(other_db, sealer, watcher=watcher, clock=clock)
        watcher.poll_once()
        new = ring_a.rotate().kid
        assert ring_c.refresh() is False  # nothing announced yet: no database read
        assert new not in {i.kid for i in ring_c.list()}
        watcher.poll_once()
        assert new in {k["kid"] for k in ring_c.jwks()["keys"]}
        clock.now = T0 + DELAY
        assert ring_c.signing_key.kid == new
    finally:
        other_db.close()


def test_publish_delay_must_cover_twice_the_propagation_bound(db: Database, sealer: Sealer) -> None:
    generate_state_ring(db, sealer, publish_delay=1)
    slow = StateWatcher(db, poll_seconds=1.0)
    assert minimum_publish_delay(1.0) == 3.0
    with pytest.raises(ValidationError, match="publish_delay 1 s is shorter"):
        open_state_ring(db, sealer, watcher=slow)
    fast = StateWatcher(db, poll_seconds=0.01)
    with pytest.raises(ValidationError):  # 2 x (0.01 + 0.5) > 1
        open_state_ring(db, sealer, watcher=fast)


def test_concurrent_rotations_on_two_nodes_leave_one_signer_timeline(
    ring_a: KeyRing, ring_b: KeyRing, clock: Clock
) -> None:
    errors: list[BaseException] = []

    def rotate(ring: KeyRing) -> None:
        try:
            ring.rotate()
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=rotate, args=(r,)) for r in (ring_a, ring_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    for ring in (ring_a, ring_b):  # what each node's watcher does
        ring.refresh()
    infos = ring_a.list()
    assert len(infos) == 3
    unretired = [i for i in infos if i.retired_at is None]
    assert len(unretired) == 1  # exactly one key is the signer once everything is active
    clock.now = T0 + DELAY
    assert ring_a.signing_key.kid == ring_b.signing_key.kid == unretired[0].kid


def test_generate_twice_is_refused(ring_a: KeyRing, db: Database, sealer: Sealer) -> None:
    with pytest.raises(ValidationError, match="already exists"):
        generate_state_ring(db, sealer)


def test_open_without_keys_says_how_to_create_them(db: Database, sealer: Sealer) -> None:
    with pytest.raises(ValidationError, match="authz keys generate --state-url"):
        open_state_ring(db, sealer)


def test_cli_generate_rotate_list_prune_jwks(
    state_url: str, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--state-url", state_url, "--state-key-file", str(key_file)]
    assert run(["keys", "generate", *where, "--publish-delay", "5"]) == 0
    assert run(["keys", "rotate", *where]) == 0
    assert "activates at" in capsys.readouterr().out
    assert run(["keys", "list", *where, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["Keys"]
    assert [r["status"] for r in rows] == ["signing", "pending"]
    assert run(["keys", "prune", *where]) == 0
    assert "pruned 0 key(s)" in capsys.readouterr().out
    assert run(["keys", "jwks", *where]) == 0
    assert len(json.loads(capsys.readouterr().out)["keys"]) == 2
    with pytest.raises(SystemExit):  # one source, not both
        run(["keys", "rotate", "--dir", "/x", *where])


def test_the_server_opens_the_ring_of_the_state_database(
    state_url: str, key_file: Path, tmp_path: Path
) -> None:
    settings = load_settings(
        None,
        keys_source="state",
        state_url=state_url,
        state_key_file=key_file,
        keys_dir=tmp_path / "unused",
    )
    with pytest.raises(StartupError, match="authz keys generate --state-url"):
        open_keyring(settings)  # never minted silently
    dev = replace(settings, generate_keys=True)
    kid = open_keyring(dev).signing_key.kid
    again = open_keyring(dev)  # generated once, then shared
    assert again.signing_key.kid == kid and len(again.list()) == 1
    assert not (tmp_path / "unused").exists()
    with pytest.raises(ValidationError, match="keys_source must be"):
        load_settings(None, keys_source="vault")


def test_serve_refuses_a_publish_delay_shorter_than_its_bound_before_starting(
    state_url: str, key_file: Path, db: Database, sealer: Sealer
) -> None:
    generate_state_ring(db, sealer, publish_delay=2)
    settings = load_settings(
        None, keys_source="state", state_url=state_url, state_key_file=key_file,
        state_poll_ms=1000,
    )  # fmt: skip
    with pytest.raises(StartupError, match="publish_delay 2 s is shorter"):
        open_keyring(settings)  # the check authz serve makes before any worker starts
    assert open_keyring(replace(settings, state_poll_ms=250)).signing_key
