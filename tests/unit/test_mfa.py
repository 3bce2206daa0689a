"""Virtual MFA devices (``authz.sts.mfa``) in the state database, on both backends, and what
a verified code means for AssumeRole and the session it issues (``authz.sts.service``), with an
injected clock.

Codes are computed with ``pyotp`` from the seed ``create`` returns, as an authenticator app
would; the database's own rows are inspected to show the seed is never kept in the clear.
Several nodes sharing one database: ``tests/unit/test_mfa_shared.py``.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from authz import cli_keys
from authz.errors import EntityAlreadyExists, LimitExceeded, NoSuchEntity, ValidationError
from authz.state import Database, open_database
from authz.state.importing import ImportResult, Sources
from authz.state.sealing import Sealer
from authz.sts.mfa import MfaStore
from authz.sts.service import session_context
from authz.sts.tokens import SessionClaims

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
T0 = 1_700_000_020.0  # 10 s into a 30-second step (steps start at multiples of 30)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def code_at(seed: str, when: float) -> str:
    return pyotp.TOTP(seed).at(when)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(state_url: str) -> Iterator[Database]:
    database = open_database(state_url)
    yield database
    database.close()


@pytest.fixture
def sealer(tmp_path: Path) -> Sealer:
    return Sealer.from_key_file(tmp_path / "state.key", create=True)


@pytest.fixture
def store(db: Database, sealer: Sealer, clock: Clock) -> MfaStore:
    return MfaStore(db, sealer, clock=clock)


def test_create_returns_serial_seed_and_uri_and_a_code_verifies(
    store: MfaStore, clock: Clock
) -> None:
    serial, seed, uri = store.create(ALICE, "alice-phone")
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/alice-phone"
    assert len(seed) == 32 and base64.b32decode(seed)  # 160 bits, base32
    assert uri.startswith("otpauth://totp/") and f"secret={seed}" in uri and "issuer=authz" in uri
    assert store.verify(serial, ALICE, code_at(seed, clock.now))
    [info] = store.list()
    assert (info.serial_number, info.user_arn, info.status) == (serial, ALICE, "Active")
    assert info.to_aws()["SerialNumber"] == serial and "Base32StringSeed" not in info.to_aws()


def test_wrong_and_malformed_codes_are_refused(store: MfaStore, clock: Clock) -> None:
    serial, seed, _ = store.create(ALICE, "alice-phone")
    good = code_at(seed, clock.now)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for code in (wrong, "12345", "1234567", "abcdef", "", good + " "):
        assert not store.verify(serial, ALICE, code), code
    assert store.verify(serial, ALICE, good)  # failures did not consume anything


@pytest.mark.parametrize(("offset", "accepted"), [(-60, False), (-30, True), (30, True),
                                                  (60, False)])  # fmt: skip
def test_window_is_one_step_either_side(
    store: MfaStore, clock: Clock, offset: int, accepted: bool
) -> None:
    serial, seed, _ = store.create(ALICE, "alice-phone")
    assert store.verify(serial, ALICE, code_at(seed, clock.now + offset)) is accepted


def test_a_code_is_accepted_once_and_older_codes_afterwards_not_at_all(
    store: MfaStore, clock: Clock
) -> None:
    serial, seed, _ = store.create(ALICE, "alice-phone")
    now_code = code_at(seed, clock.now)
    assert store.verify(serial, ALICE, now_code)
    assert not store.verify(serial, ALICE, now_code)  # reuse, same step
    clock.now += 25  # next step: the old code is still inside the window, and still refused
    assert not store.verify(serial, ALICE, now_code)
    assert store.verify(serial, ALICE, code_at(seed, clock.now))
    assert not store.verify(serial, ALICE, code_at(seed, clock.now - 30))  # older step


def test_another_users_device_and_unknown_devices_are_refused(
    store: MfaStore, clock: Clock
) -> None:
    serial, seed, _ = store.create(ALICE, "alice-phone")
    code = code_at(seed, clock.now)
    assert not store.verify(serial, BOB, code)
    assert not store.verify(f"arn:aws:iam::{ACCOUNT}:mfa/nobody", ALICE, code)
    assert store.verify(serial, ALICE, code)  # bob's attempt did not burn alice's code


def test_deactivated_and_deleted_devices_are_refused(store: MfaStore, clock: Clock) -> None:
    serial, seed, _ = store.create(ALICE, "alice-phone")
    assert store.deactivate(serial).status == "Inactive"
    assert not store.verify(serial, ALICE, code_at(seed, clock.now))
    store.delete(serial)
    assert store.list() == []
    with pytest.raises(NoSuchEntity):
        store.delete(serial)
    with pytest.raises(NoSuchEntity):
        store.deactivate(serial)


def test_seed_is_sealed_in_the_database(store: MfaStore, db: Database, sealer: Sealer) -> None:
    _, seed, _ = store.create(ALICE, "alice-phone")
    with db.transaction(write=False) as tx:
        rows = tx.execute("SELECT * FROM mfa_devices")
    text = json.dumps([[str(v) for v in row] for row in rows])
    raw = base64.b32decode(seed)
    for form in (seed, seed.lower(), raw.hex(), base64.b64encode(raw).decode()):
        assert form not in text
    [sealed] = [v for v in rows[0] if isinstance(v, str) and v.startswith("gAAAA")]  # Fernet
    assert sealer.unseal(sealed).decode() == seed


def test_a_seed_the_state_key_cannot_unseal_is_refused(
    db: Database, sealer: Sealer, tmp_path: Path, clock: Clock
) -> None:
    serial, seed, _ = MfaStore(db, sealer, clock=clock).create(ALICE, "one")
    other = Sealer.from_key_file(tmp_path / "other.key", create=True)
    assert not MfaStore(db, other, clock=clock).verify(serial, ALICE, code_at(seed, clock.now))
    assert MfaStore(db, sealer, clock=clock).verify(serial, ALICE, code_at(seed, clock.now))


def test_quota_of_eight_devices_per_user(store: MfaStore) -> None:
    for n in range(8):
        store.create(ALICE, f"d{n}")
    with pytest.raises(LimitExceeded, match="MFADevicesPerUser: 8"):
        store.create(ALICE, "d8")
    store.create(BOB, "d8")


def test_create_rules(store: MfaStore) -> None:
    store.create(ALICE, "alice-phone")
    with pytest.raises(EntityAlreadyExists):
        store.create(BOB, "alice-phone")  # serial numbers are unique per account
    with pytest.raises(ValidationError):
        store.create(f"arn:aws:iam::{ACCOUNT}:role/app", "x")
    with pytest.raises(ValidationError):
        store.create(ALICE, "has space")
    root_serial, _, _ = store.create(f"arn:aws:iam::{ACCOUNT}:root", "root-device")
    assert root_serial.endswith(":mfa/root-device")
    assert [i.serial_number for i in store.list(ALICE)] == [
        f"arn:aws:iam::{ACCOUNT}:mfa/alice-phone"
    ]


def test_session_context_reports_mfa_and_its_age() -> None:
    base = {
        "issuer": "authz", "session_arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s",
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/app", "account": ACCOUNT,
        "issued_at": 1000, "expires_at": 4600, "session_id": "j",
        "assumed_role_id": "AROAEXAMPLE:s", "access_key_id": "ASIAEXAMPLE",
    }  # fmt: skip
    plain = SessionClaims(**base)  # type: ignore[arg-type]
    assert session_context(plain, now=2000)["aws:multifactorauthpresent"] == "false"
    assert "aws:multifactorauthage" not in session_context(plain, now=2000)
    mfa = SessionClaims(**base, mfa_authenticated_at=1000)  # type: ignore[arg-type]
    ctx = session_context(mfa, now=1750)
    assert (ctx["aws:multifactorauthpresent"], ctx["aws:multifactorauthage"]) == ("true", "750")
    assert SessionClaims.from_payload(mfa.to_payload()).mfa_authenticated_at == 1000
    assert "mfa" not in plain.to_payload()
    assert SessionClaims.from_payload(plain.to_payload()).mfa_authenticated_at is None


def test_cli_create_list_delete(
    state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    cli_keys.register(parser.add_subparsers())

    def run(*argv: str) -> str:
        args = parser.parse_args(["keys", *argv, *state])
        assert args.handler(args) == 0
        return capsys.readouterr().out

    key = str(tmp_path / "cli.key")
    state = ["--state-url", state_url, "--state-key-file", key]
    if state_url.startswith("postgresql"):  # replicas share one key: never made by the CLI
        with pytest.raises(ValidationError, match="does not exist"):
            run("create-mfa", "--user", ALICE, "--name", "p")
        Sealer.from_key_file(Path(key), create=True)

    created = json.loads(run("create-mfa", "--user", ALICE, "--name", "p"))
    device = created["VirtualMFADevice"]
    assert device["SerialNumber"] == f"arn:aws:iam::{ACCOUNT}:mfa/p"
    db = open_database(state_url)
    try:
        store = MfaStore(db, Sealer.from_key_file(Path(key), create=False))
        assert store.verify(device["SerialNumber"], ALICE, pyotp.TOTP(
            device["Base32StringSeed"]).now())  # fmt: skip
    finally:
        db.close()
    assert device["OtpauthUri"].startswith("otpauth://totp/")
    listed = json.loads(run("list-mfa"))["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [device["SerialNumber"]]
    assert "Base32StringSeed" not in json.dumps(listed)
    assert device["Base32StringSeed"] not in json.dumps(listed)
    run("deactivate-mfa", "--serial-number", device["SerialNumber"])
    assert json.loads(run("list-mfa"))["MFADevices"][0]["Status"] == "Inactive"
    run("delete-mfa", "--serial-number", device["SerialNumber"])
    assert json.loads(run("list-mfa"))["MFADevices"] == []


def _legacy_store(path: Path, devices: dict[str, tuple[str, str, int | None]]) -> None:
    """An ``mfa.json`` + ``mfa.json.key`` as earlier releases wrote them."""
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    path.with_name(path.name + ".key").write_bytes(key + b"\n")
    fernet = Fernet(key)
    doc = {"version": 1, "mfa_devices": {
        serial: {"user_arn": user, "status": "Active", "created_at": 1_600_000_000,
                 "alg": "totp-sha1-30s-6d+fernet", "last_step": last,
                 "seed": fernet.encrypt(seed.encode()).decode()}
        for serial, (user, seed, last) in devices.items()}}  # fmt: skip
    path.write_text(json.dumps(doc))


def import_mfa(db: Database, sealer: Sealer, path: Path) -> ImportResult:
    from authz.sts.mfa import import_mfa_devices

    with db.transaction() as tx:
        return import_mfa_devices(tx, sealer, Sources(path.with_name("creds.json"), path))


def test_import_of_the_json_store_reseals_seeds_and_is_idempotent(
    db: Database, sealer: Sealer, tmp_path: Path, clock: Clock
) -> None:
    seed = pyotp.random_base32()
    serial = f"arn:aws:iam::{ACCOUNT}:mfa/old"
    used = int(clock.now // 30)  # the current step was accepted by the old store
    path = tmp_path / "mfa.json"
    _legacy_store(path, {serial: (ALICE, seed, used)})
    first, again = import_mfa(db, sealer, path), import_mfa(db, sealer, path)
    assert (first.imported, first.present, again.imported, again.present) == (1, 0, 0, 1)
    assert first.store == "mfa_devices" and first.source == str(path)
    store = MfaStore(db, sealer, clock=clock)
    assert [i.serial_number for i in store.list(ALICE)] == [serial]
    assert not store.verify(serial, ALICE, code_at(seed, clock.now))  # used before the move
    clock.now += 30
    assert store.verify(serial, ALICE, code_at(seed, clock.now))
    absent = import_mfa(db, sealer, tmp_path / "absent.json")
    assert (absent.imported, absent.present, absent.source) == (0, 0, "")


def test_import_refuses_a_store_its_key_cannot_open(
    db: Database, sealer: Sealer, tmp_path: Path
) -> None:
    path = tmp_path / "mfa.json"
    _legacy_store(path, {f"arn:aws:iam::{ACCOUNT}:mfa/a": (ALICE, pyotp.random_base32(), None)})
    from cryptography.fernet import Fernet

    path.with_name("mfa.json.key").write_bytes(Fernet.generate_key())
    with pytest.raises(ValidationError, match="cannot decrypt the seed"):
        import_mfa(db, sealer, path)
    path.write_text("{not json")
    with pytest.raises(ValidationError, match=r"mfa\.json"):
        import_mfa(db, sealer, path)
    assert MfaStore(db, sealer).list() == []


def test_authz_state_migrate_imports_the_mfa_store(
    state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Clock
) -> None:
    from authz import cli

    key = tmp_path / "state.key"
    Sealer.from_key_file(key, create=True)
    seed, serial = pyotp.random_base32(), f"arn:aws:iam::{ACCOUNT}:mfa/old"
    _legacy_store(tmp_path / "mfa.json", {serial: (ALICE, seed, None)})
    argv = ["state", "migrate", "--state-url", state_url, "--state-key-file", str(key),
            "--credentials-file", str(tmp_path / "none.json"),
            "--mfa-file", str(tmp_path / "mfa.json")]  # fmt: skip
    for imported, present in ((1, 0), (0, 1)):  # idempotent
        assert cli.main(argv) == 0
        [mfa] = [r for r in json.loads(capsys.readouterr().out)["imports"]
                 if r["store"] == "mfa_devices"]  # fmt: skip
        assert (mfa["imported"], mfa["already_present"]) == (imported, present)
    db = open_database(state_url)
    try:
        store = MfaStore(db, Sealer.from_key_file(key, create=False), clock=clock)
        assert store.verify(serial, ALICE, code_at(seed, clock.now))
    finally:
        db.close()
