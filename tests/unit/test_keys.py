"""KeyRing: files and permissions, kid thumbprints, rotation, pruning, JWKS, reload, CLI."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from authz.cli import main as run
from authz.errors import ValidationError
from authz.sts.keys import KeyRing, thumbprint

T0 = 1_700_000_000


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring(tmp_path: Path, clock: Clock) -> KeyRing:
    return KeyRing.generate(tmp_path / "keys", max_token_ttl=3600, skew=60, clock=clock)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rfc8037_thumbprint_vector() -> None:
    # RFC 8037 appendix A.2/A.3: the Ed25519 example key and its RFC 7638 thumbprint.
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert thumbprint(Ed25519PublicKey.from_public_bytes(x)) == (
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    )


def test_generate_writes_private_files_and_index(ring: KeyRing) -> None:
    kid = ring.signing_key.kid
    pem = ring.directory / f"{kid}.pem"
    assert _mode(ring.directory) == 0o700
    assert _mode(pem) == 0o600
    assert _mode(ring.directory / "index.json") == 0o600
    index = json.loads((ring.directory / "index.json").read_text())
    assert index["max_token_ttl"] == 3600 and index["skew"] == 60
    assert index["keys"] == [{"kid": kid, "created_at": T0, "retired_at": None, "not_after": None}]
    assert "PRIVATE KEY" not in (ring.directory / "index.json").read_text()
    assert not [p for p in ring.directory.iterdir() if p.name.endswith(".tmp")]


def test_kid_is_thumbprint_of_the_key(ring: KeyRing) -> None:
    key = ring.signing_key
    assert key.kid == thumbprint(key.private_key.public_key())
    assert key.kid not in repr(key.private_key) and "private" not in repr(key).lower()


def test_generate_refuses_existing_ring(ring: KeyRing) -> None:
    with pytest.raises(ValidationError, match="already exists"):
        KeyRing.generate(ring.directory)


def test_load_round_trip(ring: KeyRing, clock: Clock) -> None:
    again = KeyRing.load(ring.directory, clock=clock)
    assert again.signing_key.kid == ring.signing_key.kid
    assert again.jwks() == ring.jwks()
    assert (again.max_token_ttl, again.skew) == (3600, 60)


def test_load_missing_ring(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"missing `index\.json`"):
        KeyRing.load(tmp_path)


def test_load_rejects_key_file_not_matching_kid(ring: KeyRing) -> None:
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (ring.directory / f"{ring.signing_key.kid}.pem").write_bytes(other)
    with pytest.raises(ValidationError, match="does not match its kid"):
        KeyRing.load(ring.directory)


def test_load_rejects_corrupt_index(ring: KeyRing) -> None:
    (ring.directory / "index.json").write_text("{not json")
    with pytest.raises(ValidationError, match="key ring"):
        KeyRing.load(ring.directory)


def test_jwks_shape(ring: KeyRing) -> None:
    (jwk,) = ring.jwks()["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}  # never "d"
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert jwk["kid"] == ring.signing_key.kid


def test_rotate_switches_signer_and_keeps_old_key_verifying(ring: KeyRing, clock: Clock) -> None:
    old = ring.signing_key.kid
    clock.now += 100
    new = ring.rotate().kid
    assert new != old and ring.signing_key.kid == new
    infos = {i.kid: i for i in ring.list()}
    assert infos[old].retired_at == T0 + 100
    assert infos[old].not_after == T0 + 100 + 3600 + 60
    assert infos[old].status(clock.now) == "verifying"
    assert infos[new].status(clock.now) == "signing"
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new, old]
    ring.public_key(old)  # still verifies


def test_prune_only_after_tokens_could_have_expired(ring: KeyRing, clock: Clock) -> None:
    old = ring.signing_key.kid
    new = ring.rotate().kid
    clock.now = T0 + 3600 + 60 - 1
    assert ring.prune() == []
    assert (ring.directory / f"{old}.pem").exists()
    clock.now = T0 + 3600 + 60
    with pytest.raises(KeyError):  # past not_after: no longer verifies even before pruning
        ring.public_key(old)
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new]
    assert ring.prune() == [old]
    assert not (ring.directory / f"{old}.pem").exists()
    assert [i.kid for i in KeyRing.load(ring.directory).list()] == [new]


def test_prune_never_removes_signer(ring: KeyRing, clock: Clock) -> None:
    clock.now += 10 * 86400
    assert ring.prune() == []
    ring.public_key(ring.signing_key.kid)


def test_public_key_unknown_kid(ring: KeyRing) -> None:
    with pytest.raises(KeyError):
        ring.public_key("nope")


def test_refresh_picks_up_rotation_by_another_process(ring: KeyRing, clock: Clock) -> None:
    assert ring.refresh() is False
    other = KeyRing.load(ring.directory, clock=clock)
    new = other.rotate().kid
    assert ring.refresh() is True
    assert ring.signing_key.kid == new


def test_refresh_keeps_last_good_ring_on_corruption(ring: KeyRing) -> None:
    kid = ring.signing_key.kid
    (ring.directory / "index.json").write_text("garbage")
    assert ring.refresh() is False
    assert ring.signing_key.kid == kid


def test_private_material_never_logged(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ring = KeyRing.generate(tmp_path / "k", clock=clock)
    ring.rotate()
    clock.now += 10**6
    ring.prune()
    secrets = [(p.read_text()) for p in ring.directory.glob("*.pem")]
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "PRIVATE" not in text
    for pem in secrets:
        body = "".join(pem.splitlines()[1:-1])
        assert body not in text


def test_cli_generate_rotate_list_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "keys")
    assert run(["keys", "generate", "--dir", d, "--max-token-ttl", "900", "--skew", "0"]) == 0
    assert run(["keys", "rotate", "--dir", d]) == 0
    capsys.readouterr()
    assert run(["keys", "list", "--dir", d, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["Keys"]
    assert [r["status"] for r in rows] == ["verifying", "signing"]
    assert run(["keys", "list", "--dir", d]) == 0
    assert "signing" in capsys.readouterr().out
    assert run(["keys", "prune", "--dir", d]) == 0
    assert "pruned 0 key(s)" in capsys.readouterr().out
    assert run(["keys", "jwks", "--dir", d]) == 0
    assert len(json.loads(capsys.readouterr().out)["keys"]) == 2


def test_cli_reports_errors_with_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["keys", "rotate", "--dir", str(tmp_path)]) == 2
    error = json.loads(capsys.readouterr().err)["Error"]
    assert error["Code"] == "ValidationError" and error["Message"].startswith("key ring")


def test_no_world_readable_files_after_rotation(ring: KeyRing) -> None:
    ring.rotate()
    for path in ring.directory.iterdir():
        assert _mode(path) & 0o077 == 0, path.name
    assert os.listdir(ring.directory)
