"""A local OIDC issuer for development and tests: mints service-account tokens the way a
Kubernetes API server does, with keys generated on this machine, and serves its JWKS over HTTPS.

Not a production component (``make run`` and the test suites use it). Tokens look like a
projected service-account token: ``iss`` the issuer URL, ``sub``
``system:serviceaccount:<namespace>:<name>``, ``aud`` a list (``sts.amazonaws.com`` by default),
``iat``/``nbf``/``exp``, a ``kubernetes.io`` claim, RS256 (or ES256) with ``kid`` the base64url
SHA-256 of the public key's DER encoding, as the API server computes it. The JWKS is served at
``/openid/v1/jwks`` and discovery at ``/.well-known/openid-configuration`` on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/openid/v1/jwks"
DEFAULT_AUDIENCE = "sts.amazonaws.com"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def key_id(public: Any) -> str:
    """The API server's ``kid``: base64url(SHA-256(DER SubjectPublicKeyInfo)), unpadded."""
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def new_key(alg: str = "RS256") -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(public))
        jwk["alg"] = "RS256"
    else:
        jwk = json.loads(ECAlgorithm.to_jwk(public))
        jwk["alg"] = "ES256"
    jwk.update({"kid": key_id(public), "use": "sig"})
    return dict(jwk)


class DevIssuer:
    """Signing keys (the newest signs; older ones stay in the JWKS until dropped) and minting."""

    def __init__(self, issuer: str, keys: list[PrivateKey] | None = None, alg: str = "RS256"):
        self.issuer = issuer
        self.keys: list[PrivateKey] = keys or [new_key(alg)]

    @property
    def signing_key(self) -> PrivateKey:
        return self.keys[-1]

    def rotate(self, *, keep_old: bool = True, alg: str = "RS256") -> None:
        """A new signing key; the old ones stay published when ``keep_old``."""
        self.keys = [*self.keys, new_key(alg)] if keep_old else [new_key(alg)]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(k) for k in self.keys]}

    def claims(
        self,
        namespace: str = "default",
        service_account: str = "default",
        *,
        audience: str | list[str] = DEFAULT_AUDIENCE,
        lifetime: int = 3600,
        now: float | None = None,
    ) -> dict[str, Any]:
        issued = int(time.time() if now is None else now)
        return {
            "iss": self.issuer,
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            "aud": [audience] if isinstance(audience, str) else list(audience),
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": service_account, "uid": str(uuid.uuid4())},
            },
        }

    def sign(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        key = self.signing_key
        alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
        header = {"kid": key_id(key.public_key()), **(headers or {})}
        return jwt.encode(dict(claims), key, algorithm=alg, headers=header)

    def mint(self, namespace: str = "default", service_account: str = "default", **kw: Any) -> str:
        return self.sign(self.claims(namespace, service_account, **kw))

    # -- persistence (``make run``): the private key stays in a 0600 file ------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = self.signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = directory / "key.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        (directory / "issuer").write_text(self.issuer + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> DevIssuer:
        key = serialization.load_pem_private_key((directory / "key.pem").read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        issuer = (directory / "issuer").read_text(encoding="utf-8").strip()
        return cls(issuer, [key])


class JwksServer:
    """The issuer's JWKS and discovery document over HTTPS on 127.0.0.1 (a daemon thread).
    ``body`` may be replaced to serve something else (tests: oversized or broken answers);
    ``requests`` counts the JWKS fetches; ``delay`` stalls each answer (timeout tests)."""

    def __init__(self, issuer: DevIssuer, certfile: Path, keyfile: Path, port: int = 0) -> None:
        self.issuer = issuer
        self.body: bytes | None = None
        self.requests = 0
        self.delay = 0.0
        self._stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if owner.delay and owner._stopping.wait(owner.delay):
                    return
                if self.path == JWKS_PATH:
                    owner.requests += 1
                    body = owner.body if owner.body is not None else owner.jwks_bytes()
                elif self.path == "/.well-known/openid-configuration":
                    body = json.dumps(
                        {"issuer": owner.issuer.issuer, "jwks_uri": owner.url + JWKS_PATH}
                    ).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = _QuietServer(("127.0.0.1", port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(certfile), str(keyfile))
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = False
        self._httpd.block_on_close = True  # stop() joins every answering thread
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def jwks_bytes(self) -> bytes:
        return json.dumps(self.issuer.jwks()).encode()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def jwks_uri(self) -> str:
        return self.url + JWKS_PATH

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for every answering thread (a delayed one ends at once)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up early (a fetch that timed out) is not an error worth a trace."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None
