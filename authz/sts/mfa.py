"""Virtual MFA devices (TOTP) for ``AssumeRole`` with ``SerialNumber`` + ``TokenCode``.

Owns the MFA store: a JSON file kept OUTSIDE the policy repository (mode 0600, written
atomically, writers serialised with flock on ``<file>.lock``, re-read when its (inode, mtime,
size) changes) — the same patterns as ``authz.sts.credentials``. A device is keyed by its
serial number, the virtual-MFA ARN ``arn:aws:iam::ACCT:mfa/NAME``, and bound to exactly one
IAM user (or root) ARN of that account.

Codes are TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits) computed by ``pyotp``. The
seed is shown once, by ``create``; the store holds it only encrypted with Fernet under a key
kept in a separate 0600 file next to the store (``<file>.key``, created with the first device).
Losing that file makes every device unusable; it is never regenerated over existing devices.

``verify`` accepts the code of the current step or one step either side, compares with
``hmac.compare_digest`` against all three candidates, and rejects reuse: the store records the
last step accepted per device and only a later step is accepted afterwards (RFC 6238 §5.2;
AWS rejects a code used twice). That record is written under the file lock, so two workers
cannot both accept the same code. Wrong code, unknown device, another user's device, an
inactive device and a reused code all return ``False``; only the log line says which. A store
that cannot be read, parsed or locked fails closed: ``verify`` raises ``ServiceUnavailable``
without the path (logged). Attempt limits are ``authz.sts.mfa_limits``. Never logs a seed or
a code. Must not import grpc or cedarpy.
"""

from __future__ import annotations

import builtins
import contextlib
import hmac
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyotp
from cryptography.fernet import Fernet, InvalidToken

from authz.errors import (
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    ServiceUnavailable,
    ValidationError,
)
from authz.sts.securefile import RecordFile, atomic_write_private

__all__ = ["ACTIVE", "INACTIVE", "MfaDeviceInfo", "MfaStore"]

log = logging.getLogger("authz.sts.mfa")

ACTIVE, INACTIVE = "Active", "Inactive"
STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
MAX_DEVICES_PER_USER = 8  # IAM quota: up to eight MFA devices per user
ALG = "totp-sha1-30s-6d+fernet"
_USER_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(user/[\w+=,.@/-]{1,512}|root)")
_DEVICE_NAME = re.compile(r"[\w+=,.@-]{1,226}")
_SERIAL = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:mfa/[\w+=,.@/-]{1,226}")
_CODE = re.compile(r"[0-9]{6}")
# What a caller sees while the store cannot be used: no path, no parse position.
MFA_STORE_UNAVAILABLE = "The service cannot check MFA codes right now. Try again later."
_DUMMY_SEED = pyotp.random_base32()  # compared against for unknown devices, to even out timing


@dataclass(frozen=True, slots=True)
class MfaDeviceInfo:
    """Metadata of one virtual MFA device. Safe to print: holds no seed."""

    serial_number: str
    user_arn: str
    status: str
    created_at: int

    @property
    def user_name(self) -> str:
        return self.user_arn.rsplit("/", 1)[-1] if "/" in self.user_arn else "root"

    def to_aws(self) -> dict[str, Any]:
        """The AWS ``MFADevice`` shape (plus ``UserArn`` and ``Status``)."""
        enabled = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at))
        return {
            "UserName": self.user_name,
            "UserArn": self.user_arn,
            "SerialNumber": self.serial_number,
            "Status": self.status,
            "EnableDate": enabled,
        }


@dataclass(frozen=True, slots=True)
class _Record:
    info: MfaDeviceInfo
    sealed_seed: str  # Fernet token of the base32 seed
    last_step: int | None  # the last TOTP step accepted; only later steps are accepted

    def to_json(self) -> dict[str, Any]:
        return {
            "user_arn": self.info.user_arn,
            "status": self.info.status,
            "created_at": self.info.created_at,
            "alg": ALG,
            "seed": self.sealed_seed,
            "last_step": self.last_step,
        }


def _parse_record(serial: str, raw: Any) -> _Record:
    if not _SERIAL.fullmatch(serial) or not isinstance(raw, dict):
        raise ValueError(f"entry `{serial}` is not a virtual MFA device")
    if raw.get("alg") != ALG or raw.get("status") not in (ACTIVE, INACTIVE):
        raise ValueError(f"entry `{serial}`: unknown `alg` or `status`")
    created, last = raw.get("created_at"), raw.get("last_step")
    if not isinstance(raw.get("user_arn"), str) or not isinstance(created, int):
        raise ValueError(f"entry `{serial}`: needs `user_arn` and an integer `created_at`")
    if not isinstance(raw.get("seed"), str) or not (last is None or isinstance(last, int)):
        raise ValueError(f"entry `{serial}`: needs a sealed `seed` and an integer `last_step`")
    info = MfaDeviceInfo(serial, raw["user_arn"], raw["status"], created)
    return _Record(info, raw["seed"], last)


def _store_file(path: Path) -> RecordFile[_Record]:
    return RecordFile(path, "mfa_devices", "MFA store", _parse_record, _Record.to_json)


def _codes_for(seed: str, steps: range) -> list[str]:
    totp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS)
    return [totp.generate_otp(step) for step in steps]


class MfaStore:
    """Virtual MFA devices in one JSON file. Thread-safe; several processes may share it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        issuer: str = "authz",
    ) -> None:
        self._path = Path(path)
        self._key_path = self._path.with_name(self._path.name + ".key")
        self._clock = clock
        self._issuer = issuer
        self._file = _store_file(self._path)
        self._records, self._stamp = self._file.read()  # at start-up, errors name the file
        self._refusals = 0

    @property
    def path(self) -> Path:
        return self._path

    @property
    def key_path(self) -> Path:
        return self._key_path

    # -- the request path (AssumeRole) -----------------------------------------------------

    def verify(self, serial: str, user_arn: str, code: str) -> bool:
        """True iff ``code`` is a fresh TOTP code (current step ±1, not used before) of the
        Active device ``serial`` owned by ``user_arn``. Records the accepted step."""
        if not all(isinstance(v, str) for v in (serial, user_arn, code)):
            return False
        with self._unavailable_on_error():
            return self._verify(serial, user_arn, code)

    def _verify(self, serial: str, user_arn: str, code: str) -> bool:
        step = int(self._clock() // STEP_SECONDS)
        steps = range(step - WINDOW, step + WINDOW + 1)
        well_formed = _CODE.fullmatch(code) is not None
        if serial not in self._current():  # no lock (nor lock file) for unknown devices
            _codes_for(_DUMMY_SEED, steps)
            log.info("MFA verification failed for %s: unknown_device", serial)
            return False
        with self._mutate(create_key=False) as records:
            record = records.get(serial)
            seed = self._unseal(record) if record is not None else None
            # Compare against every candidate, whatever the record, to keep timing even.
            matched: int | None = None
            for candidate_step, candidate in zip(
                steps, _codes_for(seed or _DUMMY_SEED, steps), strict=True
            ):
                if hmac.compare_digest(candidate.encode(), code.encode()) and matched is None:
                    matched = candidate_step
            reason = self._refusal(record, seed, user_arn, matched, well_formed)
            if reason is not None:
                log.info("MFA verification failed for %s: %s", serial, reason)
                return False
            assert record is not None and matched is not None
            records[serial] = replace(record, last_step=matched)
        return True

    @staticmethod
    def _refusal(
        record: _Record | None,
        seed: str | None,
        user_arn: str,
        matched: int | None,
        well_formed: bool,
    ) -> str | None:
        if record is None:
            return "unknown_device"
        if seed is None:
            return "unreadable_seed"
        if not hmac.compare_digest(record.info.user_arn.encode(), user_arn.encode()):
            return "not_callers_device"
        if record.info.status != ACTIVE:
            return "inactive_device"
        if not well_formed or matched is None:
            return "wrong_code"
        if record.last_step is not None and matched <= record.last_step:
            return "reused_code"
        return None

    def _current(self) -> dict[str, _Record]:
        """The records, re-read if the file changed since the last read (one stat per call,
        so never stale)."""
        if self._file.stamp() != self._stamp:
            self._records, self._stamp = self._file.read()
        return self._records

    @property
    def unavailable_refusals(self) -> int:
        """Verifications refused because the store could not be read (a metric)."""
        return self._refusals

    @contextlib.contextmanager
    def _unavailable_on_error(self) -> Iterator[None]:
        """Fail closed on the request path: a store that cannot be read, parsed or locked
        refuses the code with ``ServiceUnavailable``; the path and the parse error go to the
        server log only, never to the caller."""
        try:
            yield
        except (ValidationError, OSError) as err:
            self._refusals += 1
            log.error("MFA store %s cannot be used, refusing MFA codes: %s", self._path, err)
            raise ServiceUnavailable(MFA_STORE_UNAVAILABLE, reason="mfa_store_unreadable") from None

    # -- administration (authz keys *-mfa) ---------------------------------------------------

    def create(self, user_arn: str, name: str) -> tuple[str, str, str]:
        """A new Active device ``arn:aws:iam::ACCT:mfa/NAME`` for ``user_arn``; returns
        ``(serial, base32_seed, otpauth_uri)`` — the only time the seed is shown."""
        match = _USER_ARN.fullmatch(user_arn) if isinstance(user_arn, str) else None
        if match is None:
            raise ValidationError(f"user ARN `{user_arn}` is not an IAM user or root ARN")
        if not isinstance(name, str) or not _DEVICE_NAME.fullmatch(name):
            raise ValidationError(
                f"MFA device name `{name}` must be 1-226 characters of [\\w+=,.@-]"
            )
        partition = user_arn.split(":", 2)[1]
        account = match.group(1)
        serial = f"arn:{partition}:iam::{account}:mfa/{name}"
        seed = pyotp.random_base32()  # 32 characters: 160 bits, as RFC 4226 recommends
        with self._mutate(create_key=True) as records:
            if serial in records:
                raise EntityAlreadyExists(f"MFA device with serial number {serial} already exists.")
            owned = sum(1 for r in records.values() if r.info.user_arn == user_arn)
            if owned >= MAX_DEVICES_PER_USER:
                raise LimitExceeded(
                    f"Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_USER}"
                )
            sealed = self._fernet(create=False).encrypt(seed.encode("ascii")).decode("ascii")
            info = MfaDeviceInfo(serial, user_arn, ACTIVE, int(self._clock()))
            records[serial] = _Record(info, sealed, None)
        label = f"{info.user_name}@{account}"
        uri = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
            name=label, issuer_name=self._issuer
        )
        return serial, seed, uri

    def deactivate(self, serial: str) -> MfaDeviceInfo:
        """Mark the device Inactive: its codes are refused from now on."""
        with self._mutate(create_key=False) as records:
            record = self._existing(records, serial)
            records[serial] = replace(record, info=replace(record.info, status=INACTIVE))
            return records[serial].info

    def delete(self, serial: str) -> None:
        with self._mutate(create_key=False) as records:
            self._existing(records, serial)
            del records[serial]

    def list(self, user_arn: str | None = None) -> builtins.list[MfaDeviceInfo]:
        """Metadata of every device (of one user if given), by creation time. Never seeds."""
        infos = [r.info for r in self._current().values()]
        if user_arn is not None:
            infos = [i for i in infos if i.user_arn == user_arn]
        return sorted(infos, key=lambda i: (i.created_at, i.serial_number))

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _existing(records: dict[str, _Record], serial: str) -> _Record:
        record = records.get(serial)
        if record is None:
            raise NoSuchEntity(f"MFA device with serial number {serial} not found.")
        return record

    def _fernet(self, *, create: bool) -> Fernet:
        """The seed-encryption key; ``create`` makes it when missing (call under the lock)."""
        try:
            mode = self._key_path.stat().st_mode
            key = self._key_path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise ValidationError(
                    f"MFA store key `{self._key_path}` is missing; the seeds cannot be read"
                ) from None
            key = Fernet.generate_key()
            atomic_write_private(self._key_path, key + b"\n")
            return Fernet(key)
        if stat.S_IMODE(mode) & 0o077:
            log.warning("MFA store key %s is readable by others; chmod 600 it", self._key_path)
        try:
            return Fernet(key)
        except ValueError as err:
            raise ValidationError(f"MFA store key `{self._key_path}` is not a Fernet key") from err

    def _unseal(self, record: _Record) -> str | None:
        """The record's base32 seed, or None (logged) if the key cannot decrypt it."""
        try:
            return self._fernet(create=False).decrypt(record.sealed_seed.encode()).decode()
        except (ValidationError, InvalidToken, UnicodeDecodeError):
            log.error("cannot decrypt the seed of MFA device %s", record.info.serial_number)
            return None

    @contextlib.contextmanager
    def _mutate(self, *, create_key: bool) -> Iterator[dict[str, _Record]]:
        """Lock the file, re-read it, yield a copy to change; write it back only if changed."""
        with self._file.locked():
            before = self._file.read()[0]
            if create_key:
                self._fernet(create=not before)  # a key is never made over existing seeds
            records = dict(before)
            yield records
            if records != before:
                self._file.write(records)
            self._records, self._stamp = self._file.read()
