"""Virtual MFA devices (``authz.sts.mfa``) and what a verified code means for AssumeRole and the
session it issues (``authz.sts.service``), with an injected clock.

Codes are computed with ``pyotp`` from the seed ``create`` returns, as an authenticator app
would; the store's own file is inspected to show the seed is never kept in the clear.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import stat
from pathlib import Path

import pyotp
import pytest

from authz import cli_keys
from authz.errors import EntityAlreadyExists, NoSuchEntity, ValidationError
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
def store(tmp_path: Path, clock: Clock) -> MfaStore:
    return MfaStore(tmp_path / "mfa.json", clock=clock)


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


def test_reuse_is_refused_across_store_instances(tmp_path: Path, clock: Clock) -> None:
    """Two server workers share the file: the accepted step is recorded there."""
    first = MfaStore(tmp_path / "mfa.json", clock=clock)
    serial, seed, _ = first.create(ALICE, "alice-phone")
    second = MfaStore(tmp_path / "mfa.json", clock=clock)
    code = code_at(seed, clock.now)
    assert second.verify(serial, ALICE, code)
    assert not first.verify(serial, ALICE, code)


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


def test_seed_is_encrypted_and_files_are_private(store: MfaStore, tmp_path: Path) -> None:
    _, seed, _ = store.create(ALICE, "alice-phone")
    text = (tmp_path / "mfa.json").read_text()
    raw = base64.b32decode(seed)
    for form in (seed, seed.lower(), raw.hex(), base64.b64encode(raw).decode()):
        assert form not in text
    sealed = json.loads(text)["mfa_devices"][f"arn:aws:iam::{ACCOUNT}:mfa/alice-phone"]["seed"]
    assert sealed.startswith("gAAAA")  # a Fernet token
    assert seed.encode() not in store.key_path.read_bytes()
    for path in (tmp_path / "mfa.json", store.key_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_key_is_kept_across_devices_and_never_remade_over_seeds(
    tmp_path: Path, clock: Clock
) -> None:
    store = MfaStore(tmp_path / "mfa.json", clock=clock)
    serial, seed, _ = store.create(ALICE, "one")
    key = store.key_path.read_bytes()
    store.create(ALICE, "two")
    assert store.key_path.read_bytes() == key
    store.key_path.unlink()
    assert not store.verify(serial, ALICE, code_at(seed, clock.now))  # unreadable: refused
    with pytest.raises(ValidationError, match="missing"):
        store.create(ALICE, "three")
    assert not store.key_path.exists()


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


def test_cli_create_list_delete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli_keys.register(parser.add_subparsers())
    path = str(tmp_path / "mfa.json")

    def run(*argv: str) -> str:
        args = parser.parse_args(["keys", *argv])
        assert args.handler(args) == 0
        return capsys.readouterr().out

    created = json.loads(run("create-mfa", "--mfa-store", path, "--user", ALICE, "--name", "p"))
    device = created["VirtualMFADevice"]
    assert device["SerialNumber"] == f"arn:aws:iam::{ACCOUNT}:mfa/p"
    assert MfaStore(path).verify(device["SerialNumber"], ALICE, pyotp.TOTP(
        device["Base32StringSeed"]).now())  # fmt: skip
    assert device["OtpauthUri"].startswith("otpauth://totp/")
    listed = json.loads(run("list-mfa", "--mfa-store", path))["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [device["SerialNumber"]]
    assert "Base32StringSeed" not in json.dumps(listed)
    assert device["Base32StringSeed"] not in json.dumps(listed)
    run("deactivate-mfa", "--mfa-store", path, "--serial-number", device["SerialNumber"])
    run("delete-mfa", "--mfa-store", path, "--serial-number", device["SerialNumber"])
    assert json.loads(run("list-mfa", "--mfa-store", path))["MFADevices"] == []
