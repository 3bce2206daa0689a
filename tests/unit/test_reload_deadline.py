"""A reload is the repository's work: the deadline of the Reload call that happens to run it
does not cut its build or its gate of policy tests short (it only bounds how long that
caller waits)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from authz import deadline
from authz.deadline import Deadline
from authz.engine.reload import Reloader

ROOT = Path(__file__).resolve().parents[2]


def _changed_copy(tmp_path: Path) -> tuple[Reloader, Path]:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "policies", repo)
    reloader = Reloader(repo, git=False, rpc_rate=0)
    reloader.start()
    assert reloader.holder.current.repository.tests, "the example repository has policy tests"
    role = sorted((repo / "accounts").glob("*/roles/*.json"))[0]
    doc = json.loads(role.read_text())
    doc["Description"] = "changed while a Reload call's deadline ran out"
    role.write_text(json.dumps(doc))
    return reloader, repo


def test_an_expired_call_deadline_does_not_fail_the_gate(tmp_path: Path) -> None:
    reloader, _ = _changed_copy(tmp_path)
    before = reloader.holder.current.revision
    expired = Deadline(time.monotonic() - 1.0, 0.5)
    with deadline.bound(expired):
        outcome = reloader.reload_requested(timeout=60)
    # The caller's time was up before it started; the build it ran (it was the only caller)
    # completed and passed the policy-test gate all the same.
    assert outcome is not None
    assert outcome.ok, outcome.error
    assert outcome.changed
    status = reloader.status()
    assert (status.failed, status.last_error) == (0, None)
    assert reloader.holder.current.revision != before
