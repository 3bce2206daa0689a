"""The access-key JSON store of earlier releases, read once to import it into the state
database (``authz state migrate``); nothing serves from it any more.

Owns the old format: ``{"version": 1, "access_keys": {id: {user_arn, user_id?, status,
created_at, alg, …}}}`` where ``alg: fernet`` holds ``secret`` sealed under ``<file>.key`` and
``alg: hmac-sha256`` holds ``salt`` + ``hash`` (base64) of a secret that cannot be recovered.
Sealed secrets are unsealed with the old key and sealed again under the state key; hashed keys
are imported as they are (they authenticate, cannot sign) and listed for re-issue. Must not
import grpc or cedarpy; never logs a secret.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from authz.errors import ValidationError
from authz.state.db import Tx
from authz.state.importing import ImportResult, Sources
from authz.state.sealing import Sealer, SealError
from authz.sts.credentials import (
    ACTIVE,
    INACTIVE,
    TOPIC,
    AccessKeyInfo,
    StoredKey,
    insert_key,
)
from authz.sts.securefile import RecordFile

__all__ = ["import_access_keys", "read_legacy_store"]

_KEY_ID = re.compile(r"AKIA[A-Z2-7]{16}")
_USER_ID = re.compile(r"\w{1,128}", re.ASCII)
HASHED, SEALED = "hmac-sha256", "fernet"


def _parse(key_id: str, raw: Any) -> tuple[AccessKeyInfo, dict[str, Any]]:
    if not _KEY_ID.fullmatch(key_id) or not isinstance(raw, dict):
        raise ValueError(f"entry `{key_id}` is not an access key")
    alg = raw.get("alg")
    if alg not in (HASHED, SEALED) or raw.get("status") not in (ACTIVE, INACTIVE):
        raise ValueError(f"entry `{key_id}`: unknown `alg` or `status`")
    created = raw.get("created_at")
    if not isinstance(raw.get("user_arn"), str) or not isinstance(created, int):
        raise ValueError(f"entry `{key_id}`: needs `user_arn` and an integer `created_at`")
    user_id = raw.get("user_id")
    if user_id is not None and not (isinstance(user_id, str) and _USER_ID.fullmatch(user_id)):
        raise ValueError(f"entry `{key_id}`: `user_id` must be an IAM unique id")
    if alg == SEALED and not isinstance(raw.get("secret"), str):
        raise ValueError(f"entry `{key_id}`: needs the encrypted `secret`")
    if alg == HASHED:
        base64.b64decode(raw["salt"], validate=True)
        base64.b64decode(raw["hash"], validate=True)
    return AccessKeyInfo(key_id, raw["user_arn"], raw["status"], created, user_id), raw


def _never_written(_record: tuple[AccessKeyInfo, dict[str, Any]]) -> dict[str, Any]:
    raise AssertionError("the legacy credentials store is read-only")


def read_legacy_store(path: Path, sealer: Sealer) -> list[StoredKey]:
    """Every key of the old store at ``path``, sealed secrets re-sealed with ``sealer``
    (``[]`` when the file does not exist). ``ValidationError`` naming the file for a bad
    entry, a missing ``<file>.key`` or a secret that key cannot open."""
    records, _ = RecordFile(path, "access_keys", "credentials store", _parse, _never_written).read()
    old: Sealer | None = None
    keys: list[StoredKey] = []
    for key_id, (info, raw) in sorted(records.items()):
        if raw["alg"] == HASHED:
            salt, digest = base64.b64decode(raw["salt"]), base64.b64decode(raw["hash"])
            keys.append(StoredKey(info, salt=salt, digest=digest))
            continue
        key_path = path.with_name(path.name + ".key")
        try:
            old = old or Sealer.from_key_file(key_path, create=False)
            secret = old.unseal(raw["secret"])
        except SealError as err:
            raise ValidationError(
                f"credentials store `{path}`: the secret of `{key_id}` cannot be read: "
                f"{err.message}"
            ) from None
        keys.append(StoredKey(info, sealed=sealer.seal(secret)))
    return keys


def import_access_keys(tx: Tx, sealer: Sealer, sources: Sources) -> ImportResult:
    """The importer of ``authz state migrate`` for access keys."""
    path = sources.credentials_file
    result = ImportResult("access_keys", str(path) if path.exists() else "")
    for key in read_legacy_store(path, sealer):
        if insert_key(tx, key):
            result.imported += 1
        else:
            result.present += 1
    if result.imported:
        tx.bump(TOPIC)
    # every key in the database that cannot sign, imported now or before
    for key_id, user_arn, status in tx.execute(
        "SELECT access_key_id, user_arn, status FROM access_keys WHERE alg = ? "
        "ORDER BY created_at, access_key_id",
        (HASHED,),
    ):
        result.notes.append({"MustReissue": key_id, "UserArn": user_arn, "Status": status})
    return result
