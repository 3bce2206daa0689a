"""Where a call came from: the caller's IP address (``aws:SourceIp``) and whether the channel is
TLS (``aws:SecureTransport``), as the edge sees them.

Owns the trusted-proxy rule: ``x-forwarded-for`` is believed only from a peer listed in
``trusted_proxies`` (its last hop, when it is a valid IP address); from anyone else the peer
address is the source. Every other module takes these facts from here, never from a request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import grpc

from authz.server.ports import CallOrigin


def peer_ip(peer: str) -> str | None:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` → the address; None for other transports."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return None


def source_ip(context: grpc.ServicerContext, trusted_proxies: frozenset[str]) -> str | None:
    """The caller's address: the peer, or the last ``x-forwarded-for`` hop when the peer is a
    trusted proxy (and that hop is a valid IP address)."""
    peer = peer_ip(context.peer())
    if peer is None or peer not in trusted_proxies:
        return peer
    for key, value in context.invocation_metadata():
        if key == "x-forwarded-for" and isinstance(value, str):
            hop = value.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def is_tls(context: grpc.ServicerContext) -> bool:
    # gRPC gives each property as a list of values (the stubs say bytes): read as objects, so
    # that compiled code (``authz.native``) does not check the value against the stubs' type
    properties: Mapping[str, object] = context.auth_context()
    found = properties.get("transport_security_type")
    return isinstance(found, bytes | list) and b"ssl" in found


def call_origin(
    context: grpc.ServicerContext, trusted_proxies: frozenset[str], tls: bool | None = None
) -> CallOrigin:
    """The call's ``CallOrigin``; ``tls`` when the caller already knows it (a server's port is
    either TLS or not), else read from the channel."""
    secure = is_tls(context) if tls is None else tls
    return CallOrigin(source_ip(context, trusted_proxies), secure)
