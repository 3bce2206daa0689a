"""The SecretAccessKey of a session, derived rather than stored.

Owns one function of (a key derived from the private key that signed the session's token,
the session id, the session's access key id) → a 40-character secret of AWS's shape. AssumeRole
returns it once; a SigV4-signed request made with the session is verified by deriving it
again from the presented token (``kid`` header → the ring's derived key), so the server
stores nothing and every replica that holds the key ring agrees. Holding the token alone
(readable JWS) does not give the secret: it needs the ring's private key. A session therefore
proves possession on every signed call. Must not import grpc or cedarpy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from authz.sts.keys import KeyRing

PURPOSE = "session-secret"


def derive_session_secret(keyring: KeyRing, kid: str, session_id: str, access_key_id: str) -> str:
    """``base64(HMAC-SHA256(K_kid, session_id NUL access_key_id)[:30])``: 40 characters of
    ``[A-Za-z0-9+/]``; ``KeyError`` when ``kid`` no longer verifies."""
    key = keyring.derived_key(kid, PURPOSE)
    message = f"{session_id}\0{access_key_id}".encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()[:30]).decode("ascii")
