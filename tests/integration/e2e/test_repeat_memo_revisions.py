"""The Authorize response memos (repeats: request bytes -> answer; wire: Decision object ->
response message) hold entries of the serving revision only: a reload empties them, so the
entries of a replaced revision (which can never answer again) do not stay until the memo is
full, holding their responses and the old snapshot's decisions. Under a reload every 30 s the
wire memo otherwise filled to its 4,096 entries over ~10 minutes and RSS climbed with it
(docs/operations.md, "RSS under the soak"). Against a real in-process server on 127.0.0.1."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

from authz.server.servicers.authorizer import AuthorizerServicer
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def build_repo(root: Path, generation: int) -> Path:
    repo = RepoBuilder()
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}
    repo.user(ACCOUNT, "alice", inline=[{"Version": "2012-10-17", "Statement": [statement]}])
    repo.user(ACCOUNT, f"other{generation}")  # a change elsewhere: a new revision
    if root.exists():
        shutil.rmtree(root)
    return repo.write(root)


def _servicer(env: E2EServer) -> AuthorizerServicer:
    found = [
        o
        for o in gc.get_objects()
        if isinstance(o, AuthorizerServicer) and o._backend is env.backend
    ]
    assert len(found) == 1
    return found[0]


def _revisions(servicer: AuthorizerServicer) -> list[str]:
    return [value[0] for _, value, _ in servicer._repeats.items()]


def _wire_revisions(servicer: AuthorizerServicer) -> set[str]:
    return {decision.revision for decision, _ in list(servicer._wire.values())}


def test_a_reload_empties_the_response_memos(start_server: ServerFactory, tmp_path: Path) -> None:
    env = start_server(build_repo(tmp_path / "repo", 1))
    servicer = _servicer(env)
    first = env.backend.current_revision()
    with env.client(env.access_key(ALICE)) as client:
        for i in range(5):
            for _ in range(2):  # answers are kept from their second evaluation on
                client.authorize("s3:GetObject", f"arn:aws:s3:::data/{i}")
        assert _revisions(servicer) == [first] * 5  # remembered (else this proves nothing)
        assert _wire_revisions(servicer) == {first}
        build_repo(tmp_path / "repo", 2)
        outcome = env.backend.reloader.reload(wait=True, timeout=30)
        assert outcome is not None and outcome.error is None and outcome.changed
        second = env.backend.current_revision()
        assert second != first
        client.authorize("s3:GetObject", "arn:aws:s3:::data/new")
        client.authorize("s3:GetObject", "arn:aws:s3:::data/new")
        assert _revisions(servicer) == [second]  # the old revision's five are gone
        assert _wire_revisions(servicer) == {second}  # and their Decision objects
        client.authorize("s3:GetObject", "arn:aws:s3:::data/0")  # asked before the reload
        client.authorize("s3:GetObject", "arn:aws:s3:::data/0")
        assert _revisions(servicer) == [second, second]


def test_an_answer_of_a_replaced_revision_is_not_remembered(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """A call decided just before a reload finishes after it: its answer is not stored (it
    could never be used) and does not empty the memo of the serving revision."""
    env = start_server(build_repo(tmp_path / "repo", 1))
    servicer = _servicer(env)
    assert servicer._memo_serves(env.backend.current_revision() or "")
    assert not servicer._memo_serves("an-older-revision")
    with env.client(env.access_key(ALICE)) as client:
        client.authorize("s3:GetObject", "arn:aws:s3:::data/1")
        client.authorize("s3:GetObject", "arn:aws:s3:::data/1")  # kept from the second on
    assert not servicer._memo_serves("an-older-revision")
    assert _revisions(servicer) == [env.backend.current_revision()]
