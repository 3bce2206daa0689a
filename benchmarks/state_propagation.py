"""How long an operator's session revocation takes to reach another node (issue 18), and what
one accepted MFA code costs, on SQLite and on PostgreSQL (the test suite's throwaway server:
loopback, fsync off).

Revocation: node A revokes (``RevocationStore.revoke``: one committed transaction); node B, a
separate connection pool with its own ``StateWatcher`` thread at the default poll interval, is
polled every millisecond until it refuses the session. The start of each trial is at a random
phase of B's poll, so the figures spread over one interval; the stated bound is
``state_poll_ms`` + one reload. MFA: limiter ``begin`` + ``verify`` (the ledger write) +
``record`` for a right code (three transactions), each on the next 30-second step.

    PYTHONPATH=. python benchmarks/state_propagation.py [--trials 20] [--codes 300]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
from pathlib import Path

import pyotp

from authz.state import StateWatcher, open_database
from authz.state.sealing import Sealer
from authz.sts.mfa import MfaStore
from authz.sts.mfa_limits import MfaLimits, SharedAttemptLimiter
from authz.sts.revocations import RevocationStore
from authz.sts.tokens import SessionClaims
from tests.postgres_server import running_server

USER = "arn:aws:iam::111111111111:user/bench"


def _claims(session_id: str) -> SessionClaims:
    return SessionClaims(
        issuer="authz",
        session_arn="arn:aws:sts::111111111111:assumed-role/app/s",
        role_arn="arn:aws:iam::111111111111:role/app",
        account="111111111111",
        issued_at=0,
        expires_at=2**40,
        session_id=session_id,
        assumed_role_id="AROAEXAMPLE:s",
        access_key_id="ASIA" + "A" * 16,
    )


def revocation_ms(url: str, trials: int, poll: float) -> list[float]:
    a_db, b_db = open_database(url), open_database(url)
    watcher = StateWatcher(b_db, poll_seconds=poll)
    watcher.start()
    a, b = RevocationStore(a_db), RevocationStore(b_db, watcher)
    out = []
    try:
        for trial in range(trials):
            session_id = f"{trial:032x}"
            time.sleep(random.uniform(0.05, 0.05 + poll))
            started = time.monotonic()
            a.revoke(session_id=session_id)
            while not b.is_revoked(_claims(session_id)):
                time.sleep(0.001)
            out.append((time.monotonic() - started) * 1000)
    finally:
        watcher.stop()
        a_db.close()
        b_db.close()
    return sorted(out)


def mfa_ms(url: str, key: Path, codes: int) -> list[float]:
    db = open_database(url)
    now = [1_700_000_000.0]
    watcher = StateWatcher(db)
    watcher.poll_once()
    store = MfaStore(db, Sealer.from_key_file(key, create=True), watcher, clock=lambda: now[0])
    limiter = SharedAttemptLimiter(db, MfaLimits(), clock=lambda: now[0])
    serial, seed, _ = store.create(USER, "bench")
    totp = pyotp.TOTP(seed)
    keys = [("device", serial, USER), ("user", USER)]
    out = []
    try:
        for _ in range(codes):
            now[0] += 30
            code = totp.at(now[0])
            started = time.perf_counter()
            assert limiter.begin(keys) == 0.0
            accepted = store.verify(serial, USER, code)
            limiter.record(keys, accepted)
            out.append((time.perf_counter() - started) * 1000)
            assert accepted
    finally:
        db.close()
    return sorted(out)


def _line(name: str, values: list[float]) -> str:
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (
        f"{name:<34} n={len(values):<4} min {values[0]:7.1f}  p50 {statistics.median(values):7.1f}"
        f"  p99 {p99:7.1f}  max {values[-1]:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--codes", type=int, default=300)
    parser.add_argument("--poll", type=float, default=0.25, help="state_poll_ms / 1000")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # one warning line per revocation otherwise
    tmp = Path(tempfile.mkdtemp(prefix="authz-propagation-"))
    sqlite = f"sqlite:///{tmp / 'state.db'}"
    print(_line("revocation, sqlite", revocation_ms(sqlite, args.trials, args.poll)))
    print(_line("accepted MFA code, sqlite", mfa_ms(sqlite, tmp / "state.key", args.codes)))
    with running_server() as server:
        url = server.create_database()
        print(_line("revocation, postgresql", revocation_ms(url, args.trials, args.poll)))
        url = server.create_database()
        print(_line("accepted MFA code, postgresql", mfa_ms(url, tmp / "state.key", args.codes)))


if __name__ == "__main__":
    main()
