"""Three replicas on this machine sharing one PostgreSQL state database and one repository,
seen by a client that balances over all three (issue 18, part 4). Each property of a fleet is
one test; the fleet is started once for the module (``conftest.py``)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC
from typing import Any

import grpc

from authz._gen.authz.v1 import authorizer_pb2
from authz.client.credentials import SessionCredentials
from authz.errors import AuthzError
from tests.integration.fleet.harness import (
    BUCKET,
    PUBLISH_DELAY,
    ROLE_ARN,
    USER_ARN,
    Fleet,
    replace_file,
    token_parts,
    user_document,
    wait_until,
)

ALLOW = authorizer_pb2.DECISION_ALLOWED


def _session(fleet: Fleet, target: str, name: str = "fleet") -> SessionCredentials:
    with fleet.client(target) as client:
        creds = client.assume_role(ROLE_ARN, name).credentials
    return SessionCredentials(
        token=creds.session_token,
        expiration=creds.expiration.ToDatetime(tzinfo=UTC),
        access_key_id=creds.access_key_id,
        secret=creds.secret_access_key,
    )


def _jwks_kids(fleet: Fleet, target: str) -> list[str]:
    with fleet.client(target) as client:
        return [k["kid"] for k in json.loads(client.get_signing_keys())["keys"]]


def test_a_token_signed_by_a_verifies_on_b_and_c(fleet: Fleet) -> None:
    a, b, c = (fleet.node(n) for n in "ABC")
    session = _session(fleet, a.target)
    kid = token_parts(session.token)[0]["kid"]
    for node in (c, b):
        with fleet.client(node.target, session) as client:
            identity = client.get_caller_identity()
            decision = client.authorize("s3:GetObject", f"{BUCKET}/report.csv")
        assert identity.arn == f"arn:aws:sts::{ROLE_ARN.split(':')[4]}:assumed-role/reader/fleet"
        assert decision.decision == ALLOW
    # one JWKS everywhere, holding the key that signed it
    kids = {node.name: _jwks_kids(fleet, node.target) for node in fleet.nodes}
    assert kids["A"] == kids["B"] == kids["C"] and kid in kids["A"]


def test_a_key_rotation_on_one_node_is_used_by_all_at_the_same_time(fleet: Fleet) -> None:
    old_session = _session(fleet, fleet.node("B").target, "before-rotation")
    old = token_parts(old_session.token)[0]["kid"]
    rotated_at = time.time()
    new, activates_at = fleet.rotate_keys()
    assert (
        activates_at == int(rotated_at) + PUBLISH_DELAY
        or activates_at == int(rotated_at) + PUBLISH_DELAY + 1
    )
    # published by every node within the propagation bound, long before it signs
    published = wait_until(
        lambda: all(new in _jwks_kids(fleet, n.target) for n in fleet.nodes),
        timeout=PUBLISH_DELAY,
    )
    seen_after = time.time() - rotated_at
    assert published, "a node did not publish the new key before its activation"
    assert seen_after < PUBLISH_DELAY
    print(f"fleet rotation: the new key in every node's JWKS {seen_after:.2f} s after it")
    # tokens issued on every node around the activation: the kid follows the issue time, the
    # same instant on all three
    issued: list[tuple[str, int, str]] = []
    while time.time() < activates_at + 1.5:
        for node in fleet.nodes:
            header, payload = token_parts(_session(fleet, node.target, "around").token)
            issued.append((node.name, int(payload["iat"]), header["kid"]))
    for name, iat, kid in issued:
        # iat is the second the call began; the key is picked a moment later, so a call begun
        # in the last second before the activation may carry either key
        expected = {new} if iat >= activates_at else {old}
        if iat == activates_at - 1:
            expected = {old, new}
        assert kid in expected, (name, iat, kid, activates_at)
    assert {name for name, _, kid in issued if kid == new} == {"A", "B", "C"}
    assert {name for name, _, kid in issued if kid == old} == {"A", "B", "C"}
    # tokens signed by the old key keep working on every node
    for node in fleet.nodes:
        with fleet.client(node.target, old_session) as client:
            assert client.get_caller_identity().arn.endswith("/before-rotation")


def test_killing_one_node_mid_load_loses_no_retried_request(fleet: Fleet) -> None:
    """Three closed-loop client threads over the balanced channel; B is SIGKILLed after 1 s
    of load and the load runs 1.5 s more. A logical request is retried (a new attempt, which
    round_robin sends to another node) only on UNAVAILABLE, at most 5 attempts."""
    victim = fleet.node("B")
    counts = {"sent": 0, "ok": 0, "retried": 0, "failed": 0}
    codes: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    max_attempts = 5

    def one(client: Any) -> None:
        for attempt in range(max_attempts):
            try:
                answer = client.authorize("s3:GetObject", f"{BUCKET}/load.csv")
            except AuthzError as err:
                cause = err.__cause__
                code = cause.code() if isinstance(cause, grpc.RpcError) else None
                with lock:
                    codes.append(str(code))
                    if code == grpc.StatusCode.UNAVAILABLE and attempt + 1 < max_attempts:
                        counts["retried"] += 1
                        continue
                    counts["failed"] += 1
                return
            with lock:
                counts["ok" if answer.decision == ALLOW else "failed"] += 1
            return

    def loop() -> None:
        with fleet.balanced_client(timeout=3.0) as client:
            while not stop.is_set():
                with lock:
                    counts["sent"] += 1
                one(client)

    served = {n.name: n.calls("Authorize") for n in fleet.nodes}
    threads = [threading.Thread(target=loop, name=f"load-{i}") for i in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        spread = {n.name: n.calls("Authorize") - served[n.name] for n in fleet.nodes}
        survivors = {n.name: n.calls("Authorize") for n in fleet.nodes if n is not victim}
        victim.kill()
        at_kill = dict(counts)
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        elapsed = time.monotonic() - started
    after = {name: fleet.node(name).calls("Authorize") - n for name, n in survivors.items()}
    try:
        print(
            f"fleet kill: {counts} in {elapsed:.1f} s ({at_kill['sent']} sent before the kill); "
            f"calls per node before the kill {spread}, after it {after}; "
            f"failed attempts {sorted(set(codes))}"
        )
        assert all(n > 0 for n in spread.values()), spread  # the client balanced over all three
        assert all(n > 0 for n in after.values()), after  # A and C took B's share
        assert counts["sent"] > at_kill["sent"] + 50  # load went on after the kill
        assert counts["failed"] == 0, (counts, codes)
        assert counts["ok"] == counts["sent"]
        assert counts["retried"] <= 3 * max_attempts  # only calls caught by the kill
        assert elapsed < 10
    finally:
        fleet.restart(victim)


def test_a_repository_change_reaches_all_three_and_every_decision_names_one_revision(
    fleet: Fleet,
) -> None:
    path = fleet.repo / "accounts" / USER_ARN.split(":")[4] / "users" / "alice.json"
    clients = {n.name: fleet.client(n.target) for n in fleet.nodes}
    try:

        def ask(name: str) -> tuple[str, bool]:
            answer = clients[name].authorize("s3:PutObject", f"{BUCKET}/upload.csv")
            return answer.revision, answer.decision == ALLOW

        before = {name: ask(name) for name in clients}
        assert len({rev for rev, _ in before.values()}) == 1, before  # one revision everywhere
        assert not any(allowed for _, allowed in before.values())
        old_revision = before["A"][0]
        changed_at = time.monotonic()
        replace_file(path, json.dumps(user_document(allow_put=True)))
        seen: dict[str, set[tuple[str, bool]]] = {name: set() for name in clients}
        converged: dict[str, float] = {}
        while len(converged) < len(clients) and time.monotonic() - changed_at < 15:
            for name in clients:
                revision, allowed = ask(name)
                seen[name].add((revision, allowed))
                if revision != old_revision and name not in converged:
                    converged[name] = time.monotonic() - changed_at
        assert set(converged) == {"A", "B", "C"}, (converged, seen)
        answers = set().union(*seen.values())
        revisions = {rev for rev, _ in answers}
        assert len(revisions) == 2  # the old and ONE new revision, the same on every node
        for revision, allowed in answers:  # every decision is the one its revision makes
            assert allowed == (revision != old_revision), (revision, allowed)
        print(f"fleet repository change: every node serving it after {converged}")
        assert max(converged.values()) < 10
    finally:
        for client in clients.values():
            client.close()
        replace_file(path, json.dumps(user_document(allow_put=False)))
