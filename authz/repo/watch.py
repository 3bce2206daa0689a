"""Debounced file events for a repository directory (watchfiles, in a daemon thread).

Owns turning a burst of file-system events (an editor's save, a ``git checkout``) into one
callback: events are batched until no new event arrives for ``cooldown`` seconds (at most
``max_batch`` seconds), like Cerbos' dirwatch. Hidden files and editor temporaries are ignored.
If the directory disappears or cannot be watched, the watcher retries until stopped.

Knows nothing of snapshots; imports neither cedarpy nor grpc.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

log = logging.getLogger("authz.watch")

_TEMP_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".part")


def relevant(path: str) -> bool:
    """True for files a repository reload cares about (not hidden, not editor temporaries)."""
    name = Path(path).name
    return not (name.startswith((".", "#")) or name.endswith(_TEMP_SUFFIXES))


def _filter(_change: watchfiles.Change, path: str) -> bool:
    return relevant(path)


class DirectoryWatcher:
    """Calls ``on_change(paths)`` after each quiet period following file events under ``root``."""

    def __init__(
        self,
        root: Path,
        on_change: Callable[[set[str]], None],
        *,
        cooldown: float = 0.2,
        max_batch: float = 2.0,
        retry: float = 1.0,
    ) -> None:
        self.root = root
        self.on_change = on_change
        self.cooldown = cooldown
        self.max_batch = max(max_batch, cooldown)
        self.retry = retry
        self.batches = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="authz-watch", daemon=True)

    def start(self, *, wait_ready: float = 2.0) -> None:
        self._thread.start()
        self._ready.wait(wait_ready)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch_once()
            except Exception as err:
                log.warning("watching %s failed (%s); retrying", self.root, err)
                self._ready.set()
                self._stop.wait(self.retry)

    def _watch_once(self) -> None:
        events = watchfiles.watch(
            self.root,
            watch_filter=_filter,
            debounce=int(self.max_batch * 1000),
            step=max(1, int(self.cooldown * 1000)),
            stop_event=self._stop,
            rust_timeout=200,
            yield_on_timeout=True,
            raise_interrupt=False,
            ignore_permission_denied=True,
        )
        for changes in events:
            self._ready.set()
            if self._stop.is_set():
                return
            if not changes:
                continue
            self.batches += 1
            try:
                self.on_change({path for _, path in changes})
            except Exception:
                log.exception("change handler failed")
