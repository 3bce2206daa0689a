"""SigV4 verification (``authz.sigv4``) against requests signed by botocore's signer."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from authz import errors
from authz.sigv4 import HttpRequest, ReplayGuard, SigV4Verifier, parse_signature
from tests.sigv4_signing import Signed, sign

URL = "http://127.0.0.1:4566"
KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
T0 = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.UTC)


def verifier(now: datetime.datetime = T0, **kwargs: object) -> SigV4Verifier:
    return SigV4Verifier({"us-east-1"}, clock=lambda: now.timestamp(), **kwargs)  # type: ignore[arg-type]


def resolve(key: str, token: str | None) -> tuple[str, tuple[str, str | None]]:
    if key != KEY:
        raise errors.InvalidClientTokenId(reason="unknown_key")
    return SECRET, (key, token)


def signed(**kwargs: object) -> Signed:
    kwargs.setdefault("when", T0)
    return sign(URL, KEY, SECRET, **kwargs)  # type: ignore[arg-type]


def refused(v: SigV4Verifier, request: HttpRequest, service: str = "sts") -> errors.AuthzError:
    with pytest.raises(errors.AuthzError) as info:
        v.verify(request, service, resolve)
    return info.value


def test_header_form_verifies_and_names_the_key() -> None:
    assert verifier().verify(signed().as_server_sees(), "sts", resolve) == (KEY, None)


def test_session_token_is_handed_to_the_lookup() -> None:
    request = sign(URL, KEY, SECRET, token="the-token", when=T0).as_server_sees()
    assert verifier().verify(request, "sts", resolve) == (KEY, "the-token")


def test_presigned_query_form_verifies() -> None:
    request = signed(presign_seconds=60).as_server_sees()
    assert request.header("authorization") is None
    assert verifier().verify(request, "sts", resolve) == (KEY, None)


def test_presigned_with_token_in_query() -> None:
    request = sign(URL, KEY, SECRET, token="tok", presign_seconds=60, when=T0).as_server_sees()
    assert verifier().verify(request, "sts", resolve) == (KEY, "tok")


def test_tampered_body_does_not_match() -> None:
    request = signed().as_server_sees()
    tampered = dataclasses.replace(request, body=request.body + b"&RoleArn=x")
    error = refused(verifier(), tampered)
    assert error.code == "SignatureDoesNotMatch"


def test_tampered_signature_does_not_match() -> None:
    request = signed().as_server_sees()
    header = request.header("authorization")
    assert header is not None
    last = header[-1]
    forged = header[:-1] + ("0" if last != "0" else "1")
    tampered = dataclasses.replace(request, headers={**request.headers, "authorization": [forged]})
    assert refused(verifier(), tampered).code == "SignatureDoesNotMatch"


def test_wrong_secret_does_not_match() -> None:
    request = sign(URL, KEY, "x" * 40, when=T0).as_server_sees()
    assert refused(verifier(), request).code == "SignatureDoesNotMatch"


def test_tampered_header_value_does_not_match() -> None:
    request = signed().as_server_sees()
    tampered = dataclasses.replace(request, headers={**request.headers, "host": ["evil:4566"]})
    assert refused(verifier(), tampered).code == "SignatureDoesNotMatch"


def test_old_and_future_dates_are_request_expired() -> None:
    request = signed().as_server_sees()
    for now in (T0 + datetime.timedelta(seconds=301), T0 - datetime.timedelta(seconds=301)):
        error = refused(verifier(now), request)
        assert error.code == "RequestExpired"
    # just inside the window both ways
    verifier(T0 + datetime.timedelta(seconds=299)).verify(request, "sts", resolve)
    verifier(T0 - datetime.timedelta(seconds=299)).verify(request, "sts", resolve)


def test_presigned_expires() -> None:
    request = signed(presign_seconds=60).as_server_sees()
    assert refused(verifier(T0 + datetime.timedelta(seconds=61)), request).code == "RequestExpired"
    verifier(T0 + datetime.timedelta(seconds=59)).verify(request, "sts", resolve)


def test_replay_is_refused_once_seen() -> None:
    v = verifier()
    request = signed().as_server_sees()
    v.verify(request, "sts", resolve)
    error = refused(v, request)
    assert error.code == "RequestExpired"
    assert error.details["reason"] == "replay"
    assert v.replay.replays == 1
    v.verify(signed(when=T0 + datetime.timedelta(seconds=1)).as_server_sees(), "sts", resolve)


def test_repeats_are_allowed_when_not_once_but_never_for_presigned() -> None:
    v = verifier()
    request = signed().as_server_sees()
    v.verify(request, "sts", resolve, once=False)
    v.verify(request, "sts", resolve, once=False)  # an SDK repeating a read in one second
    presigned = signed(presign_seconds=60).as_server_sees()
    v.verify(presigned, "sts", resolve, once=False)
    assert refused_once_false(v, presigned).details["reason"] == "replay"


def refused_once_false(v: SigV4Verifier, request: HttpRequest) -> errors.AuthzError:
    with pytest.raises(errors.AuthzError) as info:
        v.verify(request, "sts", resolve, once=False)
    return info.value


def test_presigned_url_is_accepted_once() -> None:
    v = verifier()
    request = signed(presign_seconds=60).as_server_sees()
    v.verify(request, "sts", resolve)
    assert refused(v, request).details["reason"] == "replay"


def test_a_refused_signature_is_not_remembered() -> None:
    v = verifier()
    request = signed().as_server_sees()
    tampered = dataclasses.replace(request, body=b"Action=GetCallerIdentity&Version=x")
    refused(v, tampered)
    assert len(v.replay) == 0
    v.verify(request, "sts", resolve)


def test_wrong_region_and_service_scope() -> None:
    error = refused(verifier(), signed(region="eu-west-1").as_server_sees())
    assert (error.code, error.details["reason"]) == ("SignatureDoesNotMatch", "scope_region")
    error = refused(verifier(), signed().as_server_sees(), "iam")
    assert (error.code, error.details["reason"]) == ("SignatureDoesNotMatch", "scope_service")


def test_scope_checks_come_before_the_key_lookup() -> None:
    looked_up: list[str] = []

    def spy(key: str, token: str | None) -> tuple[str, None]:
        looked_up.append(key)
        return SECRET, None

    with pytest.raises(errors.SignatureDoesNotMatch):
        verifier().verify(signed(region="eu-west-1").as_server_sees(), "sts", spy)
    with pytest.raises(errors.RequestExpired):
        verifier(T0 + datetime.timedelta(hours=1)).verify(signed().as_server_sees(), "sts", spy)
    assert looked_up == []


def test_unknown_key_is_the_lookups_error() -> None:
    request = sign(URL, "AKIAAAAAAAAAAAAAAAAA", SECRET, when=T0).as_server_sees()
    assert refused(verifier(), request).code == "InvalidClientTokenId"


def test_missing_and_incomplete_signatures() -> None:
    bare = HttpRequest("POST", "/", "", {"host": ["x"]}, b"Action=GetCallerIdentity")
    assert refused(verifier(), bare).code == "MissingAuthenticationToken"
    request = signed().as_server_sees()
    header = request.header("authorization")
    assert header is not None
    for broken in (
        header.split(", Signature=")[0],  # no Signature
        header.replace("Credential=", "Cred="),
        header.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        header.replace("SignedHeaders=", "SignedHeaders=zzz;"),  # unsorted
    ):
        headers = {**request.headers, "authorization": [broken]}
        error = refused(verifier(), dataclasses.replace(request, headers=headers))
        assert error.code == "IncompleteSignature", broken
    no_date = {k: v for k, v in request.headers.items() if k != "x-amz-date"}
    assert refused(verifier(), dataclasses.replace(request, headers=no_date)).code == (
        "IncompleteSignature"
    )


def test_presigned_expiry_is_bounded() -> None:
    request = signed(presign_seconds=60).as_server_sees()
    query = request.query.replace("X-Amz-Expires=60", "X-Amz-Expires=604801")
    error = refused(verifier(), dataclasses.replace(request, query=query))
    assert error.code == "IncompleteSignature"


def test_parse_reads_the_scope() -> None:
    material = parse_signature(signed(region="us-east-1", service="iam").as_server_sees())
    assert (material.access_key_id, material.region, material.service) == (
        KEY,
        "us-east-1",
        "iam",
    )
    assert material.scope_date == "20261206" and "host" in material.signed_headers


def test_replay_memory_is_bounded_and_fails_closed() -> None:
    guard = ReplayGuard(max_entries=2)
    guard.admit("a", until=10, now=0)
    guard.admit("b", until=20, now=0)
    with pytest.raises(errors.Throttling):
        guard.admit("c", until=30, now=5)  # full of live entries: refuse, forget nothing
    with pytest.raises(errors.RequestExpired):
        guard.admit("a", until=10, now=5)
    guard.admit("c", until=30, now=11)  # "a" expired and made room
    assert len(guard) == 2


def test_every_spelling_of_the_header_reads_the_same() -> None:
    """The usual spelling is read by one match, any other by the general parser: both give
    the same material, and a spelling that is not the usual one still verifies."""
    request = signed().as_server_sees()
    header = request.header("authorization")
    assert header is not None
    algorithm, rest = header.split(" ", 1)
    credential, names, signature = (p.strip() for p in rest.split(","))
    spellings = [
        header,  # as botocore writes it
        f"{algorithm} {credential},{names},{signature}",  # no spaces after the commas
        f"{algorithm} {signature}, {credential}, {names}",  # another order
        f"  {header}  ",  # surrounding blanks
        f"{algorithm} {credential} , {names} ,  {signature}",  # blanks around the commas
    ]
    expected = parse_signature(request)
    for spelling in spellings:
        variant = dataclasses.replace(request, headers={**request.headers,
                                                        "authorization": [spelling]})  # fmt: skip
        assert parse_signature(variant) == expected, spelling
        assert verifier().verify(variant, "sts", resolve, once=False) == (KEY, None)


@pytest.mark.parametrize("length", [0, 1, 32, 63, 64, 65, 200])
def test_the_signature_is_hmac_sha256(length: int) -> None:
    """``canonical.signature`` builds HMAC from two cached SHA-256 states: it must equal the
    standard library's HMAC for any key length (SigV4 keys are 32 bytes) and message."""
    import hashlib
    import hmac
    import os

    from authz.sigv4.canonical import signature

    key = os.urandom(length)
    for message in ("", "AWS4-HMAC-SHA256\n20261207T000000Z\nscope\n" + "a" * 64, "é" * 100):
        expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
        assert signature(key, message) == expected
        assert signature(key, message) == expected  # the cached states were not consumed
