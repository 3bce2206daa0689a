"""Several nodes sharing one state database, on both backends: a node is a ``Database`` opened
on the same URL with its own ``StateWatcher`` and stores, as a worker or replica has.

What must hold across nodes: an MFA code accepted on one node is refused on every other (the
ledger's primary key), also when the same code races on several threads or processes (exactly
one wins); failed-code counters and lockouts are shared; a device deactivated on one node is
refused on the others at once; and a node that loses the database refuses codes (fails closed)
rather than accepting one it could not record.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest

from authz.errors import ServiceUnavailable
from authz.state import Database, StateConflict, StateWatcher, open_database
from authz.state.sealing import Sealer
from authz.sts.mfa import MfaStore
from authz.sts.mfa_limits import MfaLimits, SharedAttemptLimiter

ALICE = "arn:aws:iam::111111111111:user/alice"
MALLORY = "arn:aws:iam::111111111111:user/mallory"


@dataclass
class Node:
    db: Database
    watcher: StateWatcher
    mfa: MfaStore
    limiter: SharedAttemptLimiter
    now: list[float] = field(default_factory=lambda: [1_700_000_020.0])


@pytest.fixture
def nodes(state_url: str, tmp_path: Path) -> Iterator[Callable[[], Node]]:
    key = tmp_path / "state.key"
    Sealer.from_key_file(key, create=True)
    made: list[Node] = []

    def node() -> Node:
        db = open_database(state_url, timeout=1.0) if "postgresql" in state_url else (
            open_database(state_url))  # fmt: skip
        watcher = StateWatcher(db, poll_seconds=0.05)
        watcher.poll_once()
        now = [1_700_000_020.0]
        clock = lambda: now[0]  # noqa: E731
        sealer = Sealer.from_key_file(key, create=False)
        mfa = MfaStore(db, sealer, watcher, clock=clock)
        limiter = SharedAttemptLimiter(db, MfaLimits(max_failures=5), clock=clock)
        made.append(Node(db, watcher, mfa, limiter, now))
        return made[-1]

    yield node
    for n in made:
        n.watcher.stop()
        n.db.close()


def test_a_code_accepted_on_one_node_is_refused_on_another(nodes: Callable[[], Node]) -> None:
    a, b = nodes(), nodes()
    serial, seed, _ = a.mfa.create(ALICE, "phone")
    b.watcher.poll_once()  # b learns of the device (within its poll interval)
    code = pyotp.TOTP(seed).at(a.now[0])
    assert a.mfa.verify(serial, ALICE, code)
    assert not b.mfa.verify(serial, ALICE, code)  # replay on another node
    previous = pyotp.TOTP(seed).at(a.now[0] - 30)  # a different, older code of the window
    assert not b.mfa.verify(serial, ALICE, previous)  # only later steps after an acceptance
    b.now[0] += 30
    assert b.mfa.verify(serial, ALICE, pyotp.TOTP(seed).at(b.now[0]))


def test_the_ledger_refuses_a_second_use_by_its_primary_key(nodes: Callable[[], Node]) -> None:
    a = nodes()
    with a.db.transaction() as tx:
        tx.execute(
            "INSERT INTO mfa_used_codes (serial_number, step, used_at) VALUES (?, ?, ?)",
            ("arn:aws:iam::111111111111:mfa/x", 56_666_667, 0),
        )
    with pytest.raises(StateConflict), a.db.transaction() as tx:
        tx.execute(
            "INSERT INTO mfa_used_codes (serial_number, step, used_at) VALUES (?, ?, ?)",
            ("arn:aws:iam::111111111111:mfa/x", 56_666_667, 1),
        )


def test_the_ledger_keeps_only_the_acceptance_window(nodes: Callable[[], Node]) -> None:
    a = nodes()
    serial, seed, _ = a.mfa.create(ALICE, "phone")
    for _ in range(10):
        assert a.mfa.verify(serial, ALICE, pyotp.TOTP(seed).at(a.now[0]))
        a.now[0] += 30
    with a.db.transaction(write=False) as tx:
        [(rows,)] = tx.execute("SELECT COUNT(*) FROM mfa_used_codes")
    assert int(rows) <= 4  # steps older than the window (plus a step of skew) are pruned
    a.mfa.delete(serial)
    with a.db.transaction(write=False) as tx:
        assert tx.execute("SELECT COUNT(*) FROM mfa_used_codes") == [(0,)]


def test_the_same_code_racing_on_two_nodes_is_accepted_exactly_once(
    nodes: Callable[[], Node],
) -> None:
    a, b = nodes(), nodes()
    results: list[bool] = []

    def submit(node: Node, serial: str, code: str, start: threading.Barrier) -> None:
        start.wait()
        results.append(node.mfa.verify(serial, ALICE, code))

    for round_ in range(5):
        serial, seed, _ = a.mfa.create(ALICE, f"phone{round_}")
        b.watcher.poll_once()
        code = pyotp.TOTP(seed).at(a.now[0])
        start = threading.Barrier(8)
        results.clear()
        threads = [
            threading.Thread(target=submit, args=((a, b)[i % 2], serial, code, start))
            for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False] * 7 + [True], round_
        a.mfa.delete(serial)


def _verify_in_process(
    url: str, key: str, serial: str, code: str, now: float, go: object, out: object
) -> None:
    db = open_database(url)
    try:
        store = MfaStore(db, Sealer.from_key_file(Path(key), create=False), clock=lambda: now)
        go.wait()  # type: ignore[attr-defined]
        out.put(store.verify(serial, ALICE, code))  # type: ignore[attr-defined]
    finally:
        db.close()


def test_the_same_code_racing_in_four_processes_is_accepted_exactly_once(
    nodes: Callable[[], Node], state_url: str, tmp_path: Path
) -> None:
    a = nodes()
    serial, seed, _ = a.mfa.create(ALICE, "phone")
    code = pyotp.TOTP(seed).at(a.now[0])
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    args = (state_url, str(tmp_path / "state.key"), serial, code, a.now[0], go, out)
    procs = [ctx.Process(target=_verify_in_process, args=args) for _ in range(4)]
    for p in procs:
        p.start()
    go.set()
    results = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert results == [False, False, False, True]


def test_a_device_deactivated_on_one_node_is_refused_on_another_at_once(
    nodes: Callable[[], Node],
) -> None:
    a, b = nodes(), nodes()
    serial, seed, _ = a.mfa.create(ALICE, "phone")
    b.watcher.poll_once()
    a.mfa.deactivate(serial)
    # b has not polled yet: its cache says Active, the database refuses the acceptance
    assert not b.mfa.verify(serial, ALICE, pyotp.TOTP(seed).at(b.now[0]))
    b.watcher.poll_once()
    a.mfa.delete(serial)
    serial, seed2, _ = a.mfa.create(ALICE, "phone")  # same serial, new seed
    assert not b.mfa.verify(serial, ALICE, pyotp.TOTP(seed).at(b.now[0]))  # the old seed
    b.watcher.poll_once()
    assert b.mfa.verify(serial, ALICE, pyotp.TOTP(seed2).at(b.now[0]))


def test_attempt_counters_and_lockouts_are_shared_between_nodes(
    nodes: Callable[[], Node],
) -> None:
    a, b = nodes(), nodes()
    keys = [("device", "arn:aws:iam::111111111111:mfa/phone", MALLORY), ("user", MALLORY)]
    for i in range(5):  # guesses spread over two nodes
        node = (a, b)[i % 2]
        assert node.limiter.begin(keys) == 0.0
        node.limiter.record(keys, False)
    for node in (a, b):
        wait = node.limiter.begin(keys)
        assert 59.0 <= wait <= 60.0  # locked on both, whoever counted the failures
    assert a.limiter.throttled == b.limiter.throttled == 1
    for node in (a, b):
        node.now[0] += 61
    assert b.limiter.begin(keys) == 0.0  # the window passed: one more code is checked
    assert b.limiter.record(keys, False)  # wrong again: locked for twice as long
    assert 119.0 <= a.limiter.begin(keys) <= 120.0
    for node in (a, b):
        node.now[0] += 121
    assert a.limiter.begin(keys) == 0.0
    a.limiter.record(keys, True)  # the right code clears the counters everywhere
    assert b.limiter.begin(keys) == 0.0


def test_guesses_sent_at_once_to_many_workers_get_exactly_the_limit(
    nodes: Callable[[], Node],
) -> None:
    a, b = nodes(), nodes()
    keys = [("user", MALLORY)]
    start = threading.Barrier(20)
    waits: list[float] = []

    def guess(node: Node) -> None:
        start.wait()
        waits.append(node.limiter.begin(keys))

    threads = [threading.Thread(target=guess, args=((a, b)[i % 2],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for w in waits if w == 0.0) == 5  # checked: max_failures, not 20
    assert all(w > 0 for w in waits if w != 0.0)


def _cut_off(node: Node, state_url: str, postgres: object | None) -> None:
    """The node loses its database: PostgreSQL stops accepting its connections (and drops
    the open ones); a SQLite node's connections are closed."""
    if postgres is None:
        node.db.close()
        return
    import psycopg

    name = state_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres.url(), autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


def test_a_node_that_lost_the_database_refuses_codes(
    nodes: Callable[[], Node], state_url: str, request: pytest.FixtureRequest
) -> None:
    a = nodes()
    serial, seed, _ = a.mfa.create(ALICE, "phone")
    postgres = request.getfixturevalue("postgres_server") if "postgresql" in state_url else None
    _cut_off(a, state_url, postgres)
    code = pyotp.TOTP(seed).at(a.now[0])  # a right code, on a device the cache knows
    with pytest.raises(ServiceUnavailable) as caught:
        a.mfa.verify(serial, ALICE, code)
    assert "postgresql" not in caught.value.message and "sqlite" not in caught.value.message
    assert a.mfa.unavailable_refusals == 1
    with pytest.raises(ServiceUnavailable):
        a.limiter.begin([("user", ALICE)])
    assert a.limiter.unavailable == 1
