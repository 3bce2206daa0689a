"""Hot reload: build a new snapshot aside, gate it on the repository's own tests, swap it in by
reference; on any failure keep serving the last good snapshot and report why.

Owns ``SnapshotHolder`` (requests read ``holder.current`` once and finish on that snapshot),
``Reloader`` (programmatic ``reload()``, debounced file watching with watchfiles in a thread,
a publication poller (symlink flips, the revision marker), a SIGHUP handler, the rate-limited
``reload_requested`` of the Reload RPC, ``start`` with an optional wait for a valid repository)
and ``ReloadStatus`` (last error, last success, counters; exported as metrics by the server
through a listener).

Concurrency: one build at a time. Triggers that arrive during a build are coalesced into exactly
one more build, which starts after the current one and covers all of them. Waiting callers get
the outcome of the first build that started after their trigger.

Cost: a reload whose repository content is unchanged is a stat of every file (a file whose
signature changed is read and hashed) and a hash comparison: nothing is decoded or built and
the serving snapshot stays. In ``marker`` mode an unchanged marker costs one small read. A
change rebuilds only the documents whose bytes changed (``authz.repo.memo``) and the new
snapshot starts with the previous one's compiled partitions.

Serving first: a build gives way to calls in flight (``authz.courtesy``): ``give_way_to``
tells the reloader how many calls the server is handling; the build's loops pause while any
other than the reloader's own callers (a Reload or PreviewReload RPC waiting for it) are in
flight.

Must not import grpc or cedarpy.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from authz import courtesy, deadline
from authz.engine.cache import DEFAULT_BYTES as DEFAULT_DECISION_CACHE_BYTES
from authz.engine.cache import DEFAULT_SIZE as DEFAULT_DECISION_CACHE_SIZE
from authz.engine.evaluate import CALLER_POLICY_CACHE_BYTES, PARTITION_CACHE_BYTES
from authz.engine.ratelimit import TokenBucket
from authz.engine.snapshot import Snapshot, build_snapshot, run_repo_tests
from authz.engine.snapshot import SnapshotHolder as SnapshotHolder
from authz.errors import Problem, RepositoryError, ServiceUnavailable, Throttling, ValidationError
from authz.repo.memo import LoadMemo
from authz.repo.policytests import failure_problems
from authz.repo.publish import DEFAULT_MARKER, TRIGGERS, publication
from authz.repo.watch import DirectoryWatcher

log = logging.getLogger("authz.reload")

Builder = Callable[[Path], Snapshot]
WaitAtMost = Callable[[Callable[[], int], float], bool]
Listener = Callable[["ReloadStatus"], None]


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    ok: bool
    revision: str | None  # the revision serving after this attempt
    changed: bool = False
    problems: tuple[Problem, ...] = ()
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    revision: str | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    last_problems: tuple[Problem, ...] = ()
    attempts: int = 0
    activated: int = 0
    failed: int = 0
    unchanged: int = 0
    last_seconds: float = 0.0
    watching: bool = False

    def as_metrics(self) -> dict[str, float]:
        """Flat values for Prometheus gauges/counters (``authz_reload_*``)."""
        return {
            "authz_reload_attempts_total": self.attempts,
            "authz_reload_activated_total": self.activated,
            "authz_reload_failures_total": self.failed,
            "authz_reload_unchanged_total": self.unchanged,
            "authz_reload_last_duration_seconds": self.last_seconds,
            "authz_reload_last_success_timestamp_seconds": (
                self.last_success.timestamp() if self.last_success else 0.0
            ),
            "authz_reload_last_failed": 1.0 if self.last_error else 0.0,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_attempt": self.last_attempt.isoformat() if self.last_attempt else None,
            "last_error": self.last_error,
            "last_problems": [str(p) for p in self.last_problems],
            "attempts": self.attempts,
            "activated": self.activated,
            "failed": self.failed,
            "unchanged": self.unchanged,
            "watching": self.watching,
        }


BUILD_SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


@contextlib.contextmanager
def _polite() -> Any:
    """While a build runs, CPython hands the GIL to a waiting thread after 0.5 ms instead of
    5 ms: a request needing the GIL a few times waits a few half-milliseconds for the build,
    not a few times 5 ms (the build itself slows by a few percent). Builds never overlap."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, BUILD_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@dataclass
class _Gate:
    """Coalescing state: request sequence numbers and the last outcome."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    requested: int = 0
    started: int = 0
    finished: int = 0
    building: bool = False
    outcome: ReloadOutcome | None = None


class Reloader:
    """Builds snapshots of ``root`` into ``holder``. ``gate_tests`` runs the repository's policy
    tests before activation; ``cooldown`` is the file-watch quiet period in seconds.
    ``trigger`` is ``any`` or ``marker`` (``authz.repo.publish``); ``poll_interval`` how often
    the publication (symlink flip, marker) is checked while watching. The Reload RPC
    (``reload_requested``) may start ``rpc_rate`` builds per second, ``rpc_burst`` at once."""

    def __init__(
        self,
        root: Path | str,
        holder: SnapshotHolder | None = None,
        *,
        gate_tests: bool = True,
        cache_size: int = 4096,
        decision_cache_size: int = DEFAULT_DECISION_CACHE_SIZE,
        decision_cache_bytes: int = DEFAULT_DECISION_CACHE_BYTES,
        caller_policy_cache_bytes: int = CALLER_POLICY_CACHE_BYTES,
        partition_cache_bytes: int = PARTITION_CACHE_BYTES,
        cooldown: float = 0.2,
        git: bool = True,
        builder: Builder | None = None,
        trigger: str = "any",
        marker: str = DEFAULT_MARKER,
        poll_interval: float = 1.0,
        rpc_rate: float = 1.0,
        rpc_burst: int = 5,
        max_changed_decisions: int | None = None,
    ) -> None:
        if trigger not in TRIGGERS:
            raise ValidationError(f"reload_trigger must be one of {', '.join(TRIGGERS)}")
        self.root = Path(root)
        self.holder = holder if holder is not None else SnapshotHolder()
        self.gate_tests = gate_tests
        self.max_changed_decisions = max_changed_decisions
        self._forced = False  # the next build skips the changed-decisions gate
        self.cooldown = cooldown
        self.trigger = trigger
        self.marker = marker
        self.poll_interval = poll_interval
        self.limiter = TokenBucket(rpc_rate, rpc_burst)
        self.memo = LoadMemo()
        self._builder: Builder = builder or (
            lambda r: build_snapshot(
                r,
                cache_size=cache_size,
                decision_cache_size=decision_cache_size,
                decision_cache_bytes=decision_cache_bytes,
                caller_policy_cache_bytes=caller_policy_cache_bytes,
                partition_cache_bytes=partition_cache_bytes,
                git=git,
                memo=self.memo,
                previous=self.holder.peek(),
            )
        )
        self._published: str | None = None  # the publication the serving snapshot was built at
        self._poller: threading.Thread | None = None
        self._gate = _Gate()
        self._status = ReloadStatus()
        self._status_lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._watcher: DirectoryWatcher | None = None
        self._stop = threading.Event()
        self._courtesy: courtesy.Courtesy | None = None
        self._own_calls = 0  # RPC calls inside the reloader (they wait for its build)
        self._own_lock = threading.Lock()

    # -- serving first ---------------------------------------------------------------------

    def give_way_to(
        self,
        in_flight: Callable[[], int],
        wait_at_most: WaitAtMost | None = None,
        *,
        max_wait: float = courtesy.DEFAULT_MAX_WAIT,
        min_run: float = courtesy.DEFAULT_MIN_RUN,
    ) -> None:
        """Builds pause while ``in_flight()`` (the server's calls that have arrived and not
        finished) exceeds the calls waiting inside this reloader (``own_call``).
        ``wait_at_most(count, timeout)`` blocks until at most ``count()`` calls are in flight
        (the edge's pool signals it); without it a pausing build polls ``in_flight``."""

        def own() -> int:
            return self._own_calls

        quiet: courtesy.Quiet | None = None
        if wait_at_most is not None:
            wait = wait_at_most

            def quiet(timeout: float) -> bool:
                return wait(own, timeout)

        self._courtesy = courtesy.Courtesy(
            lambda: in_flight() > own(), max_wait=max_wait, min_run=min_run, quiet=quiet
        )

    @property
    def giving_way(self) -> courtesy.Courtesy | None:
        """The courtesy builds run with (None until ``give_way_to``)."""
        return self._courtesy

    @contextlib.contextmanager
    def own_call(self) -> Any:
        """Mark the calling RPC as the reloader's own while the block runs: a build does not
        give way to the call that waits for it, and runs with its courtesy bound."""
        with self._own_lock:
            self._own_calls += 1
        try:
            with courtesy.bound(self._courtesy):
                yield
        finally:
            with self._own_lock:
                self._own_calls -= 1

    # -- triggers --------------------------------------------------------------------------

    def reload(self, *, wait: bool = True, timeout: float | None = None) -> ReloadOutcome | None:
        """Request a reload. Builds in this thread unless a build is running; then the request
        is coalesced into the next build and (``wait``) its outcome returned."""
        gate = self._gate
        with gate.cond:
            gate.requested += 1
            mine = gate.requested
            if gate.building:
                if not wait:
                    return None
                gate.cond.wait_for(lambda: gate.finished >= mine, timeout)
                return gate.outcome if gate.finished >= mine else None
            gate.building = True
        return self._drain()

    def reload_requested(
        self, *, timeout: float | None = None, force: bool = False
    ) -> ReloadOutcome | None:
        """The Reload RPC: rate limited (``Throttling`` when refused), then as ``reload``; a
        call made while a build runs waits for the next build, which covers it. ``force``:
        that build activates even past ``max_changed_decisions``."""
        if not self.limiter.take():
            raise Throttling(
                f"Rate exceeded: Reload is limited to {self.limiter.rate:g} per second "
                f"(burst {self.limiter.burst}); the repository is also reloaded when it changes"
            )
        if force:
            self._forced = True
        left = deadline.current()
        if left is not None:  # the caller waits at most until its deadline; the build goes on
            timeout = max(
                0.0, min(timeout if timeout is not None else left.budget, left.remaining())
            )
        with self.own_call():
            return self.reload(wait=True, timeout=timeout)

    def fire(self) -> None:
        """Fire-and-forget reload in a background thread (SIGHUP, file events)."""
        threading.Thread(
            target=self.reload, kwargs={"wait": False}, name="authz-reload", daemon=True
        ).start()

    def install_sighup(self) -> None:
        """Reload on SIGHUP (call from the main thread)."""
        signal.signal(signal.SIGHUP, lambda _signum, _frame: self.fire())

    def watch(self, *, max_batch: float = 2.0) -> None:
        """Start watching the repository: file events (``any`` mode; bursts within
        ``cooldown`` coalesce) and the publication poller (flips, the marker)."""
        if self._poller is not None:
            return
        self._max_batch = max_batch
        if self.trigger == "any":
            self._start_watcher()
        self._poller = threading.Thread(target=self._poll, name="authz-publish", daemon=True)
        self._poller.start()
        self._set_status(watching=True)

    def _start_watcher(self) -> None:
        self._watcher = DirectoryWatcher(
            self.root, self._on_change, cooldown=self.cooldown, max_batch=self._max_batch
        )
        self._watcher.start()

    def _poll(self) -> None:
        seen = self._probe()
        while not self._stop.wait(self.poll_interval):
            now = self._probe()
            if now == seen:
                continue
            moved = now.split("\0", 1)[0] != seen.split("\0", 1)[0]
            seen = now
            if moved and self._watcher is not None:  # the watched tree was swapped out
                self._watcher.stop()
                self._start_watcher()
            try:
                self.reload(wait=True)
            except Exception:
                log.exception("reload after a publication failed")

    def _probe(self) -> str:
        try:
            return publication(self.root, self.trigger, self.marker)
        except OSError as err:
            return f"unreadable: {err}"

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(5)
        self._poller = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self._set_status(watching=False)

    def _on_change(self, paths: set[str]) -> None:
        log.debug("repository changed: %d path(s)", len(paths))
        self.reload(wait=True)

    # -- start -----------------------------------------------------------------------------

    def start(
        self,
        *,
        wait_for_valid: bool = False,
        poll_interval: float = 1.0,
        timeout: float | None = None,
    ) -> Snapshot:
        """The first build. A broken repository raises ``RepositoryError`` with every problem,
        unless ``wait_for_valid``: then keep retrying (and watching, if started) until valid."""
        deadline = None if timeout is None else time.monotonic() + timeout
        outcome = self.reload()
        while not self.holder.loaded:
            problems = list(outcome.problems) if outcome else []
            if not wait_for_valid or (deadline is not None and time.monotonic() >= deadline):
                if not problems:
                    message = outcome.error if outcome and outcome.error else "build failed"
                    problems = [Problem(".", "", "build_failed", message)]
                raise RepositoryError(problems)
            if self._stop.wait(poll_interval):
                raise ServiceUnavailable("reloader closed while waiting for a valid repository")
            if not self.holder.loaded:
                outcome = self.reload()
        return self.holder.current

    # -- status ----------------------------------------------------------------------------

    def status(self) -> ReloadStatus:
        return self._status

    def add_listener(self, listener: Listener) -> None:
        """Called with the new ``ReloadStatus`` after every attempt (metrics export)."""
        self._listeners.append(listener)
        listener(self._status)

    def _set_status(self, **changes: Any) -> ReloadStatus:
        with self._status_lock:
            self._status = replace(self._status, **changes)
            status = self._status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("reload status listener failed")
        return status

    # -- building --------------------------------------------------------------------------

    def _drain(self) -> ReloadOutcome:
        gate = self._gate
        outcome: ReloadOutcome | None = None
        try:
            while True:
                with gate.cond:
                    if gate.started >= gate.requested:
                        gate.building = False
                        gate.cond.notify_all()
                        assert outcome is not None
                        return outcome
                    gate.started = gate.requested
                outcome = self._attempt()
                with gate.cond:
                    gate.finished = gate.started
                    gate.outcome = outcome
                    gate.cond.notify_all()
        except BaseException:
            with gate.cond:
                gate.building = False
                gate.cond.notify_all()
            raise

    def _attempt(self) -> ReloadOutcome:
        # A build is the repository's work, shared by every caller it covers: the deadline of
        # the call that happens to run it (a Reload RPC) does not apply to it or to its gate.
        with deadline.bound(None):
            return self._attempt_unbounded()

    def _attempt_unbounded(self) -> ReloadOutcome:
        started = time.perf_counter()
        when = datetime.now(UTC)
        current = self.holder.peek()
        forced, self._forced = self._forced, False
        try:
            published = self._probe() if self.trigger == "marker" else None
            if current is not None and published is not None and published == self._published:
                outcome = ReloadOutcome(
                    True, current.revision, seconds=time.perf_counter() - started
                )
                self._record(outcome, when)
                return outcome
            with _polite(), courtesy.bound(self._courtesy):
                snapshot = self._builder(self.root)
            if current is not None and (
                snapshot is current or snapshot.revision == current.revision
            ):
                outcome = ReloadOutcome(True, current.revision, changed=False)
            else:
                with courtesy.bound(self._courtesy):
                    self._run_gate(snapshot)
                    if current is not None and not forced:
                        self._run_change_gate(current, snapshot)
                self.holder.swap(snapshot)
                outcome = ReloadOutcome(True, snapshot.revision, changed=True)
            self._published = published
        except RepositoryError as err:
            outcome = self._failure(current, tuple(err.problems), str(err))
        except Exception as err:  # a bug must not take the service down: keep the last good
            log.exception("reload failed unexpectedly")
            outcome = self._failure(current, (), f"{type(err).__name__}: {err}")
        outcome = replace(outcome, seconds=time.perf_counter() - started)
        self._record(outcome, when)
        return outcome

    def _run_gate(self, snapshot: Snapshot) -> None:
        if not self.gate_tests or not snapshot.repository.tests:
            return
        failures = failure_problems(run_repo_tests(snapshot))
        if failures:
            raise RepositoryError(failures)

    def _run_change_gate(self, current: Snapshot, snapshot: Snapshot) -> None:
        limit = self.max_changed_decisions
        if limit is None:
            return
        from authz.engine.diff import change_gate_problems  # only when the gate is on

        problems = change_gate_problems(current, snapshot, limit)
        if problems:
            raise RepositoryError(problems)

    def _failure(
        self, current: Snapshot | None, problems: tuple[Problem, ...], message: str
    ) -> ReloadOutcome:
        serving = current.revision if current else None
        shown = "; ".join(str(p) for p in problems[:5]) or message
        log.warning(
            "reload refused, still serving %s: %s",
            serving or "nothing",
            shown,
            extra={"problems": problems, "serving": serving, "root": str(self.root)},
        )
        return ReloadOutcome(False, serving, problems=problems, error=message)

    def _record(self, outcome: ReloadOutcome, when: datetime) -> None:
        status = self._status
        if outcome.ok and outcome.changed:
            log.info("activated revision %s in %.3fs", outcome.revision, outcome.seconds)
        changes: dict[str, Any] = {
            "revision": outcome.revision,
            "last_attempt": when,
            "attempts": status.attempts + 1,
            "last_seconds": outcome.seconds,
        }
        if outcome.ok:
            changes.update(last_success=when, last_error=None, last_problems=())
            key = "activated" if outcome.changed else "unchanged"
            changes[key] = getattr(status, key) + 1
        else:
            changes.update(
                last_error=outcome.error, last_problems=outcome.problems, failed=status.failed + 1
            )
        self._set_status(**changes)
