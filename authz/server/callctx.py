"""The per-call context: request id and authenticated identity of the RPC being served.

Owns two context variables set by the edge interceptor around each servicer call (in the worker
thread that runs it) and read by servicers, the audit log and the JSON log formatter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from authz import errors
from authz.server.ports import CallOrigin, Identity

_request_id: ContextVar[str] = ContextVar("authz_request_id", default="")
_identity: ContextVar[Identity | None] = ContextVar("authz_identity", default=None)
# The connection of a call that carries no credentials (the AWS endpoint's unsigned actions):
# with an identity, ``Identity.origin`` holds it.
_origin: ContextVar[CallOrigin | None] = ContextVar("authz_origin", default=None)


def request_id() -> str:
    """The current request id, ``""`` outside an RPC."""
    return _request_id.get()


def identity() -> Identity | None:
    """The authenticated identity of the current RPC, if any."""
    return _identity.get()


def origin() -> CallOrigin | None:
    """The connection of the current unauthenticated call, when its edge states it."""
    return _origin.get()


def set_origin(value: CallOrigin | None) -> Token[CallOrigin | None]:
    return _origin.set(value)


def reset_origin(token: Token[CallOrigin | None]) -> None:
    _origin.reset(token)


def require_identity() -> Identity:
    """The authenticated identity; ``InvalidClientTokenId`` when the call has none."""
    return require_identity_value(_identity.get())


def require_identity_value(ident: Identity | None) -> Identity:
    """``ident`` itself; ``InvalidClientTokenId`` when it is ``None``."""
    if ident is None:
        raise errors.InvalidClientTokenId("missing authentication: no credentials in the request")
    return ident


def set_identity(ident: Identity | None) -> None:
    """Set the identity inside a ``bound`` block (reset when the block ends)."""
    _identity.set(ident)


Tokens = tuple[Token[str], Token[Identity | None]]


def enter(req_id: str, ident: Identity | None) -> Tokens:
    """Bind the request id and identity; ``leave(tokens)`` restores the previous values (the
    edge's fast form of ``bound``)."""
    return _request_id.set(req_id), _identity.set(ident)


def leave(tokens: Tokens) -> None:
    _identity.reset(tokens[1])
    _request_id.reset(tokens[0])


@contextmanager
def bound(req_id: str, ident: Identity | None) -> Iterator[None]:
    """Bind the request id and identity for the duration of one servicer call."""
    rid_token = _request_id.set(req_id)
    ident_token = _identity.set(ident)
    try:
        yield
    finally:
        _identity.reset(ident_token)
        _request_id.reset(rid_token)
