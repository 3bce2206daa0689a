"""Access keys shared by the fleet (issue 18, part 4): a key deactivated through the state
database is refused by every node within the watcher's bound."""

from __future__ import annotations

import time

import pytest

from authz.client import AccessKeyCredentials
from authz.errors import AuthzError
from authz.sts import credentials
from tests.integration.fleet.harness import POLL_MS, USER_ARN, Fleet, wait_until

if not hasattr(credentials, "open_credentials"):  # until access keys move to the state DB
    pytest.skip(
        "this release keeps access keys in the JSON file store, not the state database",
        allow_module_level=True,
    )
INACTIVE = credentials.INACTIVE
open_credentials = credentials.open_credentials

BOUND = POLL_MS / 1000 + 0.5  # a change reaches every node: one poll + the reload


def _refused(fleet: Fleet, target: str, key: AccessKeyCredentials) -> str | None:
    """The AWS error code a node answers GetCallerIdentity with, or None if it answers."""
    with fleet.client(target, key, timeout=2.0) as client:
        try:
            client.get_caller_identity()
        except AuthzError as err:
            return str(err.code)
    return None


def test_an_access_key_deactivated_through_a_is_refused_by_b_and_c_within_the_bound(
    fleet: Fleet,
) -> None:
    with open_credentials(fleet.state_url, fleet.key_file) as store:
        key_id, secret = store.create(USER_ARN)
    key = AccessKeyCredentials(key_id, secret)
    for node in fleet.nodes:
        answers = lambda target=node.target: _refused(fleet, target, key) is None  # noqa: E731
        assert wait_until(answers, 5), node.name
    with open_credentials(fleet.state_url, fleet.key_file) as store:  # on node A's host
        store.set_status(key_id, INACTIVE)
        deactivated = time.monotonic()
    refused_after: dict[str, float] = {}
    codes: set[str | None] = set()
    while len(refused_after) < 3 and time.monotonic() - deactivated < 5:
        for node in fleet.nodes:
            if node.name in refused_after:
                continue
            code = _refused(fleet, node.target, key)
            if code is not None:
                refused_after[node.name] = time.monotonic() - deactivated
                codes.add(code)
    print(f"fleet access key deactivation: refused after {refused_after} (bound {BOUND:.2f} s)")
    assert set(refused_after) == {"A", "B", "C"}
    assert codes == {"InvalidClientTokenId"}
    # the time to notice includes one GetCallerIdentity per node per round (~10 ms each)
    assert max(refused_after.values()) < BOUND + 0.5
    for node in fleet.nodes:  # and it stays refused
        assert _refused(fleet, node.target, key) == "InvalidClientTokenId"
