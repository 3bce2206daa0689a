"""Encoded authorization failure messages, and STS ``DecodeAuthorizationMessage``.

Owns the sealing of an ``AccessDenied`` decision's "why" (the deciding statements, the failing
layer, missing context keys, the revision) into an opaque string that only holders of
``sts:DecodeAuthorizationMessage`` can read back — AWS's arrangement, so a refused caller
learns no more about the policies than the message says. Sealed with Fernet under a key
derived from the private key of the current signing key (``KeyRing.derived_key``), prefixed
with its ``kid``: nothing new is stored, every replica reads every other's messages, and a
message outlives its key only until the key is pruned. At most ``MAX_ENCODED_CHARS`` are
accepted for decoding. Must not import grpc or cedarpy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from authz.engine.decision import Decision, EvalDecision
from authz.errors import InvalidAuthorizationMessage
from authz.sts.keys import KeyRing

PURPOSE = "authorization-message"
MAX_ENCODED_CHARS = 10240  # AWS's limit for EncodedMessage


def _fernet(keyring: KeyRing, kid: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(keyring.derived_key(kid, PURPOSE)))


def decision_document(decision: Decision, principal_arn: str, message: str) -> dict[str, Any]:
    """The AWS decoded-message shape, with authz's own detail."""
    return {
        "allowed": decision.allowed,
        "explicitDeny": decision.decision is EvalDecision.EXPLICIT_DENY,
        "matchedStatements": {
            "items": [
                {
                    "policy": m.policy,
                    "layer": m.layer.value,
                    "statementId": m.statement,
                    "effect": m.effect,
                    "source": m.source,
                }
                for m in decision.matched
            ]
        },
        "failures": {"items": [decision.failing_layer.value] if decision.failing_layer else []},
        "missingContextValues": list(decision.missing_context),
        "revision": decision.revision,
        "context": {"principal": {"arn": principal_arn}, "message": message},
    }


def encode(keyring: KeyRing, document: Mapping[str, Any]) -> str:
    keyring.maybe_refresh()
    kid = keyring.signing_key.kid
    sealed = _fernet(keyring, kid).encrypt(json.dumps(document, sort_keys=True).encode())
    return f"{kid}.{sealed.decode('ascii')}"


def decode(keyring: KeyRing, encoded: str) -> str:
    """The JSON text sealed in ``encoded``; ``InvalidAuthorizationMessageException``
    otherwise (malformed, tampered, or sealed under a key no longer in the ring)."""
    if not isinstance(encoded, str) or not 0 < len(encoded) <= MAX_ENCODED_CHARS:
        raise InvalidAuthorizationMessage(
            f"`EncodedMessage` must be 1 to {MAX_ENCODED_CHARS} characters", reason="length"
        )
    kid, _, sealed = encoded.partition(".")
    try:
        return _fernet(keyring, kid).decrypt(sealed.encode("ascii")).decode("utf-8")
    except (KeyError, InvalidToken, UnicodeError, ValueError):
        raise InvalidAuthorizationMessage(reason="unreadable") from None
