"""Virtual MFA devices (TOTP) for ``AssumeRole`` with ``SerialNumber`` + ``TokenCode``.

Owns the MFA store in the state database (``authz.state``, migration ``0003_mfa``): the
devices (table ``mfa_devices``), the one-time-code ledger (``mfa_used_codes``) and the
administration of both. A device is keyed by its serial number, the virtual-MFA ARN
``arn:aws:iam::ACCT:mfa/NAME``, and bound to exactly one IAM user (or root) ARN of that account.

Codes are TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits) computed by ``pyotp``. The
seed is shown once, by ``create``; the database holds it only sealed (``authz.state.sealing``,
Fernet under the state key, which is never in the database).

Devices are cached in memory (an immutable dict swapped by reference) and reloaded when the
``mfa_devices`` topic moves (``StateWatcher``): a device created, deactivated or deleted on any
node is seen by every other within the watcher's poll interval + one reload. The cache only
decides what is *refused*; a code is *accepted* only by a write to the database, synchronously,
in one transaction that (1) inserts ``(serial, step)`` into the ledger — its primary key makes
a code used on one node fail on every node (``StateConflict`` = replay), (2) advances the
device's ``last_step`` only if the device is still the same Active device of the caller and the
step is later than any accepted before (RFC 6238 §5.2: only a later step is accepted
afterwards), and (3) prunes the device's ledger rows older than the acceptance window. A
database that cannot be written fails closed: ``verify`` raises ``ServiceUnavailable`` (no URL,
no driver message; both logged) — a code is never accepted unrecorded.

``verify`` accepts the code of the current step or one step either side, compares with
``hmac.compare_digest`` against all three candidates (a dummy seed for unknown devices, to keep
timing even). Wrong code, unknown device, another user's device, an inactive device and a reused
code all return ``False``; only the log line says which. Attempt limits are
``authz.sts.mfa_limits``. Never logs a seed or a code. ``import_mfa_devices`` moves the JSON store
of earlier releases (``mfa.json`` + ``mfa.json.key``) into the database. Must not import grpc
or cedarpy.
"""

from __future__ import annotations

import builtins
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyotp

from authz.errors import (
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    ServiceUnavailable,
    ValidationError,
)
from authz.state import Database, StateConflict, StateUnavailable, StateWatcher, Tx
from authz.state.importing import ImportResult, Sources
from authz.state.sealing import Sealer, SealError

__all__ = ["ACTIVE", "INACTIVE", "TOPIC", "MfaDeviceInfo", "MfaStore", "import_mfa_devices"]

log = logging.getLogger("authz.sts.mfa")

ACTIVE, INACTIVE = "Active", "Inactive"
TOPIC = "mfa_devices"
STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
MAX_DEVICES_PER_USER = 8  # IAM quota: up to eight MFA devices per user
LEGACY_ALG = "totp-sha1-30s-6d+fernet"  # the JSON store of earlier releases
_USER_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(user/[\w+=,.@/-]{1,512}|root)")
_DEVICE_NAME = re.compile(r"[\w+=,.@-]{1,226}")
_SERIAL = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:mfa/[\w+=,.@/-]{1,226}")
_CODE = re.compile(r"[0-9]{6}")
# What a caller sees while the store cannot be used: no URL, no driver message.
MFA_STORE_UNAVAILABLE = "The service cannot check MFA codes right now. Try again later."
_DUMMY_SEED = pyotp.random_base32()  # compared against for unknown devices, to even out timing
_COLUMNS = "serial_number, user_arn, status, created_at, sealed_seed"


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
class _Device:
    info: MfaDeviceInfo
    sealed_seed: str  # Fernet token of the base32 seed (authz.state.sealing)


class _Refused(Exception):
    """Rolls back an acceptance the database refused; ``reason`` is the log reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _device(row: tuple[Any, ...]) -> _Device:
    serial, user_arn, status, created_at, sealed = row
    return _Device(MfaDeviceInfo(serial, user_arn, status, int(created_at)), sealed)


def _codes_for(seed: str, steps: range) -> list[str]:
    totp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS)
    return [totp.generate_otp(step) for step in steps]


class MfaStore:
    """Virtual MFA devices in the state database. Thread-safe; every worker and replica
    shares the database.

    With a ``watcher`` (the server) the devices are cached and reloaded on change; without
    one (the command line) every read goes to the database."""

    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        watcher: StateWatcher | None = None,
        *,
        clock: Callable[[], float] = time.time,
        issuer: str = "authz",
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._clock = clock
        self._issuer = issuer
        self._refusals = 0
        self._cache: MappingProxyType[str, _Device] | None = None
        if watcher is not None:
            self._reload()  # at start-up: the first request must not find an empty cache
            watcher.subscribe(TOPIC, lambda _version: self._reload())

    # -- the request path (AssumeRole) -----------------------------------------------------

    def verify(self, serial: str, user_arn: str, code: str) -> bool:
        """True iff ``code`` is a fresh TOTP code (current step ±1, not used before on any
        node) of the Active device ``serial`` owned by ``user_arn``. The acceptance is
        recorded in the database before this returns; ``ServiceUnavailable`` when it cannot
        be."""
        if not all(isinstance(v, str) for v in (serial, user_arn, code)):
            return False
        step = int(self._clock() // STEP_SECONDS)
        steps = range(step - WINDOW, step + WINDOW + 1)
        devices = self._devices()
        device = devices.get(serial)
        seed = self._unseal(device) if device is not None else None
        # Compare against every candidate, whatever the device, to keep timing even.
        matched: int | None = None
        for candidate_step, candidate in zip(
            steps, _codes_for(seed or _DUMMY_SEED, steps), strict=True
        ):
            if hmac.compare_digest(candidate.encode(), code.encode()) and matched is None:
                matched = candidate_step
        reason = self._refusal(device, seed, user_arn, matched, _CODE.fullmatch(code) is not None)
        if reason is None:
            assert device is not None and matched is not None
            reason = self._accept(device, matched, step)
        if reason is not None:
            log.info("MFA verification failed for %s: %s", serial, reason)
            return False
        return True

    @staticmethod
    def _refusal(
        device: _Device | None,
        seed: str | None,
        user_arn: str,
        matched: int | None,
        well_formed: bool,
    ) -> str | None:
        if device is None:
            return "unknown_device"
        if seed is None:
            return "unreadable_seed"
        if not hmac.compare_digest(device.info.user_arn.encode(), user_arn.encode()):
            return "not_callers_device"
        if device.info.status != ACTIVE:
            return "inactive_device"
        if not well_formed or matched is None:
            return "wrong_code"
        return None

    def _accept(self, device: _Device, matched: int, step: int) -> str | None:
        """Record the use of step ``matched`` of ``device``; None when accepted, else the
        reason it was refused (a replay, or the device changed elsewhere)."""
        serial = device.info.serial_number
        try:
            with self._db.transaction() as tx:
                tx.execute(
                    "DELETE FROM mfa_used_codes WHERE serial_number = ? AND step < ?",
                    (serial, step - 2 * WINDOW - 1),
                )
                tx.execute(
                    "INSERT INTO mfa_used_codes (serial_number, step, used_at) VALUES (?, ?, ?)",
                    (serial, matched, int(self._clock())),
                )
                advanced = tx.execute(
                    "UPDATE mfa_devices SET last_step = ? WHERE serial_number = ? "
                    "AND user_arn = ? AND status = ? AND sealed_seed = ? "
                    "AND (last_step IS NULL OR last_step < ?) RETURNING serial_number",
                    (matched, serial, device.info.user_arn, ACTIVE, device.sealed_seed, matched),
                )
                if not advanced:
                    raise _Refused(self._why_not(tx, device))
        except StateConflict:
            return "reused_code"  # this (device, step) is in the ledger: used on some node
        except _Refused as refused:
            return refused.reason
        except StateUnavailable:
            raise self._unavailable("record") from None
        return None

    @staticmethod
    def _why_not(tx: Tx, device: _Device) -> str:
        """Why the database refused to advance ``device`` (the cache was behind, or a later
        step was accepted already)."""
        rows = tx.execute(
            "SELECT user_arn, status, sealed_seed FROM mfa_devices WHERE serial_number = ?",
            (device.info.serial_number,),
        )
        if not rows or rows[0][2] != device.sealed_seed:
            return "unknown_device"  # deleted (and perhaps created again) elsewhere
        if rows[0][0] != device.info.user_arn:
            return "not_callers_device"
        if rows[0][1] != ACTIVE:
            return "inactive_device"
        return "reused_code"  # a later (or the same) step was accepted already

    def _unavailable(self, doing: str) -> ServiceUnavailable:
        """Count a refusal for want of the database; what the caller sees (no URL)."""
        self._refusals += 1
        log.error("MFA store %s: cannot %s codes, refusing them", self._db.display_url, doing)
        return ServiceUnavailable(MFA_STORE_UNAVAILABLE, reason="mfa_store_unavailable")

    @property
    def unavailable_refusals(self) -> int:
        """Verifications refused because the database could not be used (a metric)."""
        return self._refusals

    # -- the cache ---------------------------------------------------------------------------

    def _devices(self) -> MappingProxyType[str, _Device]:
        cache = self._cache
        if cache is not None:
            return cache
        try:
            return self._read_all()
        except StateUnavailable:
            raise self._unavailable("read") from None

    def _read_all(self) -> MappingProxyType[str, _Device]:
        with self._db.transaction(write=False) as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM mfa_devices")
        return MappingProxyType({row[0]: _device(row) for row in rows})

    def _reload(self) -> None:
        """Swap in the devices as the database has them now (the watcher's callback)."""
        self._cache = self._read_all()

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
        info = MfaDeviceInfo(serial, user_arn, ACTIVE, int(self._clock()))
        sealed = self._sealer.seal(seed.encode("ascii"))
        try:
            with self._db.transaction() as tx:
                [(owned,)] = tx.execute(
                    "SELECT COUNT(*) FROM mfa_devices WHERE user_arn = ?", (user_arn,)
                )
                if int(owned) >= MAX_DEVICES_PER_USER:
                    raise LimitExceeded(
                        f"Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_USER}"
                    )
                self._insert(tx, _Device(info, sealed), None)
        except StateConflict:
            raise EntityAlreadyExists(
                f"MFA device with serial number {serial} already exists."
            ) from None
        self._refresh()
        label = f"{info.user_name}@{account}"
        uri = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
            name=label, issuer_name=self._issuer
        )
        return serial, seed, uri

    @staticmethod
    def _insert(tx: Tx, device: _Device, last_step: int | None) -> None:
        info = device.info
        tx.execute(
            f"INSERT INTO mfa_devices ({_COLUMNS}, last_step) VALUES (?, ?, ?, ?, ?, ?)",
            (info.serial_number, info.user_arn, info.status, info.created_at,
             device.sealed_seed, last_step),
        )  # fmt: skip
        tx.bump(TOPIC)

    def deactivate(self, serial: str) -> MfaDeviceInfo:
        """Mark the device Inactive: its codes are refused from now on, on every node."""
        with self._db.transaction() as tx:
            rows = tx.execute(
                f"UPDATE mfa_devices SET status = ? WHERE serial_number = ? RETURNING {_COLUMNS}",
                (INACTIVE, serial),
            )
            if not rows:
                raise NoSuchEntity(f"MFA device with serial number {serial} not found.")
            tx.bump(TOPIC)
        self._refresh()
        return _device(rows[0]).info

    def delete(self, serial: str) -> None:
        with self._db.transaction() as tx:
            if not tx.execute(
                "DELETE FROM mfa_devices WHERE serial_number = ? RETURNING serial_number",
                (serial,),
            ):
                raise NoSuchEntity(f"MFA device with serial number {serial} not found.")
            tx.execute("DELETE FROM mfa_used_codes WHERE serial_number = ?", (serial,))
            tx.bump(TOPIC)
        self._refresh()

    def list(self, user_arn: str | None = None) -> builtins.list[MfaDeviceInfo]:
        """Metadata of every device (of one user if given), by creation time. Never seeds."""
        infos = [d.info for d in self._read_all().values()]
        if user_arn is not None:
            infos = [i for i in infos if i.user_arn == user_arn]
        return sorted(infos, key=lambda i: (i.created_at, i.serial_number))

    # -- internals ---------------------------------------------------------------------------

    def _refresh(self) -> None:
        """After a change made here: this node sees it at once (others at the next poll)."""
        if self._cache is not None:
            self._reload()

    def _unseal(self, device: _Device) -> str | None:
        """The device's base32 seed, or None (logged) if the state key cannot unseal it."""
        try:
            return self._sealer.unseal(device.sealed_seed).decode("ascii")
        except (SealError, UnicodeDecodeError):
            log.error("cannot unseal the seed of MFA device %s", device.info.serial_number)
            return None


# -- migration from the JSON store of earlier releases (authz state migrate) -------------------


def import_mfa_devices(tx: Tx, sealer: Sealer, sources: Sources) -> ImportResult:
    """The importer of ``authz state migrate`` for MFA devices: the JSON store
    ``sources.mfa_file`` (seeds sealed with ``<mfa_file>.key``) into the database, seeds
    re-sealed under the state key, the last accepted step kept (a code used before the move is
    still refused). Idempotent: a device already in the database is left as it is; a store
    that does not exist imports nothing. ``ValidationError`` names the file when it cannot be
    read or its key cannot open a seed (then the whole migration is rolled back)."""
    path = sources.mfa_file
    result = ImportResult(TOPIC, str(path) if path.exists() else "")
    for device, last_step in _read_legacy_store(path, sealer):
        serial = device.info.serial_number
        if tx.execute("SELECT 1 FROM mfa_devices WHERE serial_number = ?", (serial,)):
            result.present += 1
            continue
        MfaStore._insert(tx, device, last_step)
        result.imported += 1
    return result


def _read_legacy_store(path: Path, sealer: Sealer) -> builtins.list[tuple[_Device, int | None]]:
    """The devices of an old JSON store, their seeds re-sealed under ``sealer``."""
    from cryptography.fernet import Fernet, InvalidToken

    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("version") != 1:
            raise ValueError("must be an object with `version` 1")
        entries = doc.get("mfa_devices", {})
        if not isinstance(entries, dict):
            raise ValueError("`mfa_devices` must be an object")
        records = {k: _legacy_record(k, v) for k, v in entries.items()}
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise ValidationError(f"MFA store `{path}`: {err}") from None
    if not records:
        return []
    key_path = path.with_name(path.name + ".key")
    try:
        legacy = Fernet(key_path.read_bytes().strip())
    except (OSError, ValueError) as err:
        raise ValidationError(f"MFA store key `{key_path}` cannot be used: {err}") from None
    devices: builtins.list[tuple[_Device, int | None]] = []
    for serial, (info, old_sealed, last_step) in sorted(records.items()):
        try:
            seed = legacy.decrypt(old_sealed.encode("ascii"))
        except InvalidToken:
            raise ValidationError(
                f"MFA store `{path}`: `{key_path}` cannot decrypt the seed of `{serial}`"
            ) from None
        devices.append((_Device(info, sealer.seal(seed)), last_step))
    return devices


def _legacy_record(serial: str, raw: Any) -> tuple[MfaDeviceInfo, str, int | None]:
    if not _SERIAL.fullmatch(serial) or not isinstance(raw, dict):
        raise ValueError(f"entry `{serial}` is not a virtual MFA device")
    if raw.get("alg") != LEGACY_ALG or raw.get("status") not in (ACTIVE, INACTIVE):
        raise ValueError(f"entry `{serial}`: unknown `alg` or `status`")
    created, last = raw.get("created_at"), raw.get("last_step")
    if not isinstance(raw.get("user_arn"), str) or not isinstance(created, int):
        raise ValueError(f"entry `{serial}`: needs `user_arn` and an integer `created_at`")
    if not isinstance(raw.get("seed"), str) or not (last is None or isinstance(last, int)):
        raise ValueError(f"entry `{serial}`: needs a sealed `seed` and an integer `last_step`")
    return MfaDeviceInfo(serial, raw["user_arn"], raw["status"], created), raw["seed"], last
