"""Requests signed by botocore's own signer (the reference), for the SigV4 tests.

Nothing here computes a signature: ``sign`` hands a request to ``botocore.auth.SigV4Auth`` (or
``SigV4QueryAuth`` for presigned URLs), optionally at a chosen time (botocore's clock is
patched for the call), and returns the prepared request as the server will see it.
"""

from __future__ import annotations

import contextlib
import datetime
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock
from urllib.parse import urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from authz.sigv4 import HttpRequest

FORM = "application/x-www-form-urlencoded; charset=utf-8"


@dataclass(frozen=True)
class Signed:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def as_server_sees(self) -> HttpRequest:
        parts = urlsplit(self.url)
        headers = {k.lower(): [v] for k, v in self.headers.items()}
        headers.setdefault("host", [parts.netloc])
        return HttpRequest(self.method, parts.path or "/", parts.query, headers, self.body)

    def send(self) -> tuple[int, str]:
        """Over HTTP (urllib is only the transport): status and body text."""
        request = urllib.request.Request(
            self.url, data=self.body or None, method=self.method, headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()


@contextlib.contextmanager
def _clock(when: datetime.datetime | None) -> Iterator[None]:
    if when is None:
        yield
        return
    naive = when.astimezone(datetime.UTC).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: naive):
        yield


def sign(
    url: str,
    access_key: str,
    secret_key: str,
    *,
    token: str | None = None,
    service: str = "sts",
    region: str = "us-east-1",
    body: str = "Action=GetCallerIdentity&Version=2011-06-15",
    presign_seconds: int | None = None,
    when: datetime.datetime | None = None,
) -> Signed:
    creds = botocore.credentials.Credentials(access_key, secret_key, token)
    if presign_seconds is not None:
        request = botocore.awsrequest.AWSRequest("GET", f"{url}/?{body}")
        auth: botocore.auth.SigV4Auth = botocore.auth.SigV4QueryAuth(
            creds, service, region, expires=presign_seconds
        )
    else:
        request = botocore.awsrequest.AWSRequest(
            "POST", f"{url}/", data=body.encode(), headers={"Content-Type": FORM}
        )
        auth = botocore.auth.SigV4Auth(creds, service, region)
    with _clock(when):
        auth.add_auth(request)
    prepared = request.prepare()
    data = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    return Signed(prepared.method, prepared.url, dict(prepared.headers.items()), data)
