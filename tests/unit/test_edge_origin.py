"""The edge stamps the call's origin on the authenticated identity (``with_origin``) exactly as
``dataclasses.replace`` would: every other field is kept."""

from __future__ import annotations

import dataclasses

from authz.iam.model import Caller, CallerKind
from authz.server.interceptors import with_origin
from authz.server.ports import AuthMethod, CallOrigin, Identity


def test_with_origin_equals_replace_and_keeps_every_field() -> None:
    caller = Caller(CallerKind.ASSUMED_ROLE, "arn:aws:sts::1:assumed-role/r/s", "1", "r", "A:s")
    ident = Identity(caller, AuthMethod.SESSION_TOKEN, session={"sid": "s"}, access_key_id="ASIA1")
    origin = CallOrigin("10.1.2.3", secure_transport=True)
    stamped = with_origin(ident, origin)
    assert stamped == dataclasses.replace(ident, origin=origin)
    assert stamped.origin is origin and stamped.session is ident.session


def test_identity_has_the_fields_with_origin_copies() -> None:
    """A new Identity field must be copied by ``with_origin`` too: this test names them."""
    names = [f.name for f in dataclasses.fields(Identity)]
    assert names == ["caller", "method", "session", "access_key_id", "origin"]
