"""Background builds give way to calls in flight (``authz.courtesy``), and still finish."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from authz import courtesy
from authz.courtesy import Courtesy
from authz.engine.reload import Reloader

ACCOUNT = "111111111111"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
}


def test_pause_asks_only_the_courtesy_bound_to_this_thread() -> None:
    looks: list[str] = []
    polite = Courtesy(lambda: looks.append(threading.current_thread().name) is not None)
    courtesy.pause()  # nothing bound: the CLI, tests, `authz validate`
    with courtesy.bound(None):
        courtesy.pause()
    assert looks == []
    with courtesy.bound(polite):
        courtesy.pause()
        other = threading.Thread(target=courtesy.pause, name="other")
        other.start()
        other.join()
    courtesy.pause()  # unbound again
    assert looks == [threading.current_thread().name]


def test_pause_waits_while_busy_and_resumes_when_calls_finish() -> None:
    left = [5]  # busy for the first five looks

    def busy() -> bool:
        left[0] -= 1
        return left[0] >= 0

    polite = Courtesy(busy, max_wait=1.0)
    with courtesy.bound(polite):
        courtesy.pause()
    assert polite.naps == 5
    assert polite.waited > 0
    assert left[0] == -1  # it looked again after the calls were done, and stopped


def test_pause_runs_on_after_max_wait_under_constant_load() -> None:
    """A server that is never idle still gets its reload: after ``max_wait`` the build runs
    ``min_run`` before it gives way again."""
    polite = Courtesy(lambda: True, max_wait=0.01, min_run=0.05)
    started = time.perf_counter()
    polite.pause()  # waits max_wait
    first = time.perf_counter() - started
    polite.pause()  # inside min_run: no wait
    second = time.perf_counter() - started - first
    assert first >= 0.01
    assert second < 0.005
    assert polite.naps >= 1


def test_busy_is_not_asked_inside_min_run() -> None:
    looks = []

    def busy() -> bool:
        looks.append(1)
        return True

    polite = Courtesy(busy, max_wait=0.0, min_run=10.0)
    polite.pause()
    seen = len(looks)
    for _ in range(100):
        polite.pause()
    assert len(looks) == seen + 100  # one cheap look per pause, no waiting
    assert polite.naps == 1


def test_negative_times_are_refused() -> None:
    with pytest.raises(ValueError):
        Courtesy(lambda: False, max_wait=-1)


def _repo(root: Path, roles: int) -> Path:
    base = root / "accounts" / ACCOUNT
    (base / "roles").mkdir(parents=True)
    (base / "account.json").write_text(json.dumps({"AccountId": ACCOUNT}))
    for n in range(roles):
        doc = {"RoleName": f"r{n}", "AssumeRolePolicyDocument": TRUST}
        (base / "roles" / f"r{n}.json").write_text(json.dumps(doc))
    return root


def test_a_reload_gives_way_to_other_calls_in_flight(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", 200)
    reloader = Reloader(repo, git=False, gate_tests=False)
    reloader.start()
    in_flight = [1]  # a call of someone else is running throughout
    reloader.give_way_to(lambda: in_flight[0], max_wait=0.002, min_run=0.0)
    (repo / "accounts" / ACCOUNT / "roles" / "r0.json").write_text(
        json.dumps({"RoleName": "r0", "Description": "changed", "AssumeRolePolicyDocument": TRUST})
    )
    outcome = reloader.reload()
    assert outcome is not None and outcome.error is None
    polite = reloader.giving_way
    assert polite is not None
    assert polite.naps > 0  # it paused for the call in flight
    assert polite.waited > 0


def test_a_reload_rpc_does_not_wait_for_itself(tmp_path: Path) -> None:
    """The Reload RPC's own call is in flight while it builds; that alone is no reason to
    pause (the build would only slow down)."""
    repo = _repo(tmp_path / "repo", 50)
    reloader = Reloader(repo, git=False, gate_tests=False, rpc_rate=0)
    reloader.start()
    in_flight = [0]
    reloader.give_way_to(lambda: in_flight[0], max_wait=0.5)
    result: list[object] = []

    def rpc() -> None:
        in_flight[0] += 1  # the edge counts the Reload call itself
        try:
            result.append(reloader.reload_requested())
        finally:
            in_flight[0] -= 1

    (repo / "accounts" / ACCOUNT / "roles" / "r1.json").write_text(
        json.dumps({"RoleName": "r1", "Description": "changed", "AssumeRolePolicyDocument": TRUST})
    )
    thread = threading.Thread(target=rpc)
    thread.start()
    thread.join(30)
    assert result and getattr(result[0], "error", "x") is None
    polite = reloader.giving_way
    assert polite is not None
    assert polite.naps == 0


def test_a_quiet_signal_replaces_polling() -> None:
    """With the edge's signal (``quiet``) a pausing build sleeps until the calls are done,
    without waking up to look."""
    waits: list[float] = []

    def quiet(timeout: float) -> bool:
        waits.append(timeout)
        return True

    polite = Courtesy(lambda: True, max_wait=0.5, quiet=quiet)
    polite.pause()
    assert waits == [0.5]
    assert polite.naps == 1


def test_the_pool_signals_when_calls_finish() -> None:
    from authz.server.admission import CountingPool

    pool = CountingPool(2, "quiet-test")
    try:
        gate = threading.Event()
        running = pool.submit(gate.wait, 5)
        assert pool.wait_at_most(lambda: 0, 0.05) is False  # one call in flight
        threading.Timer(0.05, gate.set).start()
        started = time.perf_counter()
        assert pool.wait_at_most(lambda: 0, 5) is True
        assert time.perf_counter() - started < 2
        running.result(5)
    finally:
        pool.shutdown(wait=True)


def test_an_idle_build_yields_once_per_slice() -> None:
    """With no call in flight a build still sleeps briefly every slice, so a call that has
    arrived but waits for the interpreter lock gets it (and is then counted in flight)."""
    polite = Courtesy(lambda: False, slice=0.002)
    end = time.perf_counter() + 0.05
    pauses = 0
    while time.perf_counter() < end:
        polite.pause()
        pauses += 1
    assert 5 <= polite.yields <= 26  # ~50 ms / (2 ms + the sleep); never once per pause
    assert polite.yields < pauses / 10
    assert polite.waited == 0.0  # yields are not waits for calls
