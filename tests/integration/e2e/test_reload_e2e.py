"""A bad repository change through the real server: refused, the last good revision keeps
serving, and the outcome is visible in GetStatus and in the metrics."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from authz._gen.authz.v1 import authorizer_pb2
from tests.integration.e2e.harness import ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
DANA = "arn:aws:iam::111122223333:user/Dana"
AUTHZ_ADMIN = "arn:aws:iam::111122223333:role/authz-admin"  # authz:Reload, authz:GetStatus


def scrape(port: int | None) -> str:
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_a_broken_change_is_refused_and_reported(
    start_server: ServerFactory, example_repo: Path
) -> None:
    env = start_server(example_repo, metrics_listen="127.0.0.1:0")
    bob = env.access_key(BOB)
    _, admin = env.assume(env.access_key(DANA), AUTHZ_ADMIN, "ops")
    role = example_repo / "accounts/444455556666/roles/foo.json"
    good = role.read_text()
    with env.client(admin) as client, env.client(bob) as as_bob:
        before = client.get_status().revision
        role.write_text(good[: len(good) // 2])  # a half-written file
        refused = client.reload()
        status = client.get_status()
        assert refused.error and "foo.json" in refused.error
        assert status.revision == before and "foo.json" in status.last_reload_error
        still = as_bob.authorize("sts:AssumeRole", FOO)
        assert still.decision == authorizer_pb2.DECISION_ALLOWED and still.revision == before
        edited = good.replace('"MaxSessionDuration": 7200', '"MaxSessionDuration": 3600')
        assert edited != good
        role.write_text(edited)
        accepted = client.reload()
        assert accepted.error == "" and accepted.changed and accepted.revision != before
    text = scrape(env.server.metrics_port)
    assert 'authz_reload_events_total{outcome="failed"} 1.0' in text
    assert 'authz_reload_events_total{outcome="activated"} 2.0' in text  # start + the fix
    assert f'authz_snapshot_revision_info{{revision="{accepted.revision}"}} 1.0' in text
