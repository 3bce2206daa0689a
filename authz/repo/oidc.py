"""OIDC identity providers of an account: ``accounts/<id>/oidc-providers/*.json``.

A document is shaped like IAM's ``GetOpenIDConnectProvider`` answer (``Url``, ``ClientIDList``,
``ThumbprintList``, ``Tags``; ``CreateDate`` and ``Arn`` accepted, ``Arn`` checked) plus the
source of its signing keys, at most one of:

* ``Jwks``: the JWKS document itself (``{"keys": [...]}``), kept in the repository;
* ``JwksUri``: an ``https://`` URL the server fetches (``authz.oidc.fetch``);
* neither: OIDC discovery at ``<Url>/.well-known/openid-configuration``.

``Url`` may be written with or without ``https://`` (AWS returns it without); the issuer is
``https://`` + host + path, which must equal a token's ``iss``; the provider ARN is
``arn:aws:iam::<account>:oidc-provider/<host/path>``. Bounds are IAM's: 100 client ids of at
most 255 characters, 5 thumbprints of 40 hex digits, and the JWKS limits of
``authz.oidc.jwks``. Problems name the file and the field. Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from authz.iam import quotas
from authz.oidc.jwks import MAX_JWKS_BYTES, JwksError, KeySet, parse_jwks
from authz.repo.fields import FieldReader, Problems
from authz.repo.layout import Document

MAX_CLIENT_IDS = 100
MAX_CLIENT_ID_CHARS = 255
MAX_THUMBPRINTS = 5
MAX_URL_CHARS = 255
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}")
# host (no port, no user info) and an optional path without query or fragment
_URL = re.compile(r"(?:https://)?([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)((?:/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*)",
                  re.ASCII)  # fmt: skip
_KEYS = ("Url", "Arn", "ClientIDList", "ThumbprintList", "Tags", "CreateDate", "Jwks", "JwksUri")


@dataclass(frozen=True)
class OidcProvider:
    """One IAM OIDC provider. ``issuer`` is the ``iss`` its tokens carry; ``key_prefix`` the
    condition-key prefix of its claims (``host/path``, as in ``<key_prefix>:sub``)."""

    account: str
    arn: str
    issuer: str
    key_prefix: str
    client_ids: frozenset[str]
    thumbprints: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    jwks: KeySet | None = None
    jwks_uri: str | None = None
    source: str = ""

    @property
    def discovery(self) -> bool:
        return self.jwks is None and self.jwks_uri is None


def normalize_url(url: str) -> str | None:
    """``host/path`` of a provider URL (with or without ``https://``; no trailing ``/``), or
    None when it is not an https URL of a host and a path."""
    if len(url) > MAX_URL_CHARS + len("https://") or (
        "://" in url and not url.startswith("https://")
    ):
        return None
    match = _URL.fullmatch(url)
    if match is None:
        return None
    return (match.group(1) + match.group(2)).rstrip("/")


def build_provider(account: str, doc: Document, problems: Problems) -> OidcProvider | None:
    fields = FieldReader(problems, doc.rel, doc.data)
    if not fields.ok:
        return None
    fields.allow_only(_KEYS)
    url = fields.string("Url", required=True)
    if url is None:
        return None
    prefix = normalize_url(url)
    if prefix is None:
        fields.bad("$.Url", f"`Url` {url} is not an https URL of a host and an optional path "
                   f"(no port, query or fragment; at most {MAX_URL_CHARS} characters)",
                   "ValidationError")  # fmt: skip
        return None
    arn = f"arn:aws:iam::{account}:oidc-provider/{prefix}"
    given = fields.string("Arn")
    if given is not None and given != arn:
        fields.bad("$.Arn", f"`Arn` {given} does not match the computed ARN {arn}")
    client_ids = fields.strings("ClientIDList")
    if len(client_ids) > MAX_CLIENT_IDS:
        fields.bad("$.ClientIDList", f"{len(client_ids)} client ids, more than {MAX_CLIENT_IDS} "
                   "(the limit)", "LimitExceeded")  # fmt: skip
    for i, client in enumerate(client_ids):
        if not 1 <= len(client) <= MAX_CLIENT_ID_CHARS:
            fields.bad(f"$.ClientIDList[{i}]", f"a client id has 1 to {MAX_CLIENT_ID_CHARS} "
                       "characters", "ValidationError")  # fmt: skip
    thumbprints = fields.strings("ThumbprintList")
    if len(thumbprints) > MAX_THUMBPRINTS:
        fields.bad("$.ThumbprintList", f"{len(thumbprints)} thumbprints, more than "
                   f"{MAX_THUMBPRINTS} (the limit)", "LimitExceeded")  # fmt: skip
    for i, thumb in enumerate(thumbprints):
        if not _THUMBPRINT.fullmatch(thumb):
            fields.bad(f"$.ThumbprintList[{i}]", "a thumbprint is 40 hexadecimal digits",
                       "ValidationError")  # fmt: skip
    problems.quota(doc.rel, quotas.tag_problems(fields.obj.get("Tags"), "$.Tags"))
    jwks, jwks_uri = _key_source(fields)
    return OidcProvider(
        account=account, arn=arn, issuer=f"https://{prefix}", key_prefix=prefix,
        client_ids=frozenset(client_ids), thumbprints=tuple(t.lower() for t in thumbprints),
        tags=fields.tags(), jwks=jwks, jwks_uri=jwks_uri, source=doc.rel,
    )  # fmt: skip


def _key_source(fields: FieldReader) -> tuple[KeySet | None, str | None]:
    jwks_value = fields.obj.get("Jwks")
    uri = fields.string("JwksUri")
    if jwks_value is not None and uri is not None:
        fields.bad("$.JwksUri", "give `Jwks` or `JwksUri`, not both")
        return None, None
    if uri is not None:
        if not uri.startswith("https://") or len(uri) > 2048:
            fields.bad("$.JwksUri", f"`JwksUri` {uri} is not an https URL of at most 2048 "
                       "characters", "ValidationError")  # fmt: skip
            return None, None
        return None, uri
    if jwks_value is None:
        return None, None
    if len(json.dumps(jwks_value)) > MAX_JWKS_BYTES:
        fields.bad("$.Jwks", f"`Jwks` is larger than {MAX_JWKS_BYTES} bytes (the limit)",
                   "LimitExceeded")  # fmt: skip
        return None, None
    try:
        return parse_jwks(jwks_value), None
    except JwksError as err:
        fields.bad("$.Jwks" + err.path[1:], err.message, "ValidationError")
        return None, None
