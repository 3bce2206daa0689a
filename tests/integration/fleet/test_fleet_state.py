"""Run-time state shared by the fleet (issue 18, part 4): a change made through the state
database on one node is enforced by the others within the watcher's bound."""

from __future__ import annotations

import time

import pyotp
import pytest

from authz.errors import AuthzError
from tests.integration.fleet.harness import POLL_MS, ROLE_ARN, USER_ARN, Fleet

BOUND = POLL_MS / 1000 + 0.5  # a change reaches every node: one poll + the reload


def _code(err: AuthzError) -> str:
    return str(err.code)


def test_an_mfa_code_used_on_a_is_refused_on_b(fleet: Fleet) -> None:
    serial, seed = fleet.create_mfa_device(USER_ARN, "fleet-phone")
    totp = pyotp.TOTP(seed)
    time.sleep(BOUND)  # every node has loaded the new device
    # a fresh code, far enough from the end of its 30 s step to be used twice in it
    while totp.interval - time.time() % totp.interval < 5:
        time.sleep(0.5)
    code = totp.now()
    a, b = fleet.node("A"), fleet.node("B")
    with fleet.client(a.target) as client:
        answer = client.assume_role(ROLE_ARN, "with-mfa", serial_number=serial, token_code=code)
    assert answer.credentials.session_token
    with fleet.client(b.target) as client, pytest.raises(AuthzError) as refused:
        client.assume_role(ROLE_ARN, "replayed", serial_number=serial, token_code=code)
    assert _code(refused.value) == "AccessDenied"
