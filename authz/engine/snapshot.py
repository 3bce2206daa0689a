"""One immutable revision of the policy repository, ready to answer requests.

Owns ``Snapshot`` (the loaded ``Repository``, its revision, one ``Evaluator`` whose partition
cache is shared by principals with identical attachments), ``build_snapshot`` and
``authorize``, which stamps every ``Decision`` with the revision that made it.

Revision = the first 16 hex digits of the repository's content hash, plus ``+g<commit>`` when the
repository is a git checkout (``git rev-parse HEAD``; no git is fine).

Must not import grpc or cedarpy (Cedar lives behind ``authz.engine.evaluate``).
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from authz.engine.decision import Decision
from authz.engine.evaluate import Evaluator, principal_keys
from authz.engine.principal import (
    PrincipalPolicies,
    policy_layers,
    principal_facts,
    principal_key,
    principal_policies,
    resolve_caller,
    resource_account,
)
from authz.iam.model import AuthRequest, Caller, Policy, PolicyLayers, normalize_context
from authz.repo.entities import Repository
from authz.repo.load import load_repository
from authz.repo.policytests import Authorize, TestResult, run_tests


@dataclass(frozen=True, eq=False)
class Snapshot:
    """An immutable revision. Requests read ``holder.current`` once and use it to the end."""

    repository: Repository
    revision: str
    root: Path
    content_hash: str
    git_commit: str | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    load_seconds: float = 0.0
    evaluator: Evaluator = field(default_factory=Evaluator, repr=False)
    # The Evaluator's partition cache is not thread-safe; decisions on one snapshot take turns
    # (the GIL serializes them anyway). Per-thread evaluators would lose cache sharing.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _principals: dict[tuple[str, str, str | None], PrincipalPolicies] = field(
        default_factory=dict, repr=False
    )

    def evaluate(self, layers: PolicyLayers, request: AuthRequest, *, trust: bool) -> Decision:
        """Evaluate on this snapshot's Evaluator and stamp the revision."""
        with self.lock:
            decision = self.evaluator.evaluate(layers, request, trust=trust)
        return dataclasses.replace(decision, revision=self.revision)

    def principal(self, caller: Caller) -> PrincipalPolicies:
        """The caller's identity policies, boundary, SCP levels and facts, cached per entity
        (the snapshot is immutable, so the cache never needs invalidating)."""
        key = principal_key(caller)
        found = self._principals.get(key)
        if found is None:
            found = principal_policies(self.repository, caller)
            self._principals[key] = found
        return found

    def caller(self, principal: str) -> Caller:
        """Resolve a principal ARN / service name against this revision (``NoSuchEntity``)."""
        return resolve_caller(self.repository, principal)

    def layers(
        self,
        caller: Caller,
        action: str,
        resource: str,
        *,
        session_policies: tuple[Policy, ...] = (),
        resource_policy: Policy | None = None,
    ) -> tuple[PolicyLayers, bool]:
        return policy_layers(
            self.repository,
            caller,
            action,
            resource,
            principal=self.principal(caller),
            session_policies=session_policies,
            resource_policy=resource_policy,
        )

    def cache_stats(self) -> dict[str, int]:
        """Hits, misses, evictions and size of the compiled-partition cache."""
        with self.lock:
            return self.evaluator.cache_stats()

    def status(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "git_commit": self.git_commit,
            "loaded_at": self.loaded_at.isoformat(),
            "load_seconds": round(self.load_seconds, 4),
            "counts": self.repository.counts,
            "cache": self.cache_stats(),
        }


def git_commit(root: Path) -> str | None:
    """``git rev-parse HEAD`` of the checkout containing ``root``, or None."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) >= 40 else None


def build_snapshot(root: Path | str, *, cache_size: int = 4096, git: bool = True) -> Snapshot:
    """Load, validate and index the repository at ``root``; ``RepositoryError`` lists every
    problem. Compilation is lazy: the first request of each partition compiles it."""
    started = time.perf_counter()
    root = Path(root)
    repository = load_repository(root)
    commit = git_commit(root) if git else None
    revision = repository.content_hash[:16] + (f"+g{commit[:12]}" if commit else "")
    return Snapshot(
        repository=repository,
        revision=revision,
        root=root,
        content_hash=repository.content_hash,
        git_commit=commit,
        load_seconds=time.perf_counter() - started,
        evaluator=Evaluator(cache_size=cache_size),
    )


def build_request(
    snapshot: Snapshot,
    caller: Caller,
    action: str,
    resource: str,
    context: Mapping[str, object] | None = None,
    *,
    session_tags: Mapping[str, str] | None = None,
) -> AuthRequest:
    """The request with the principal facts merged over the caller-supplied context (the
    principal's own keys cannot be overridden by the request)."""
    facts: dict[str, object] = dict(principal_keys(caller))
    principal = snapshot.principal(caller)
    facts.update(principal_facts(snapshot.repository, caller, session_tags, principal=principal))
    lowered = {k.lower() for k in facts}
    merged = {k: v for k, v in (context or {}).items() if k.lower() not in lowered}
    merged.update(facts)
    return AuthRequest(
        caller=caller,
        action=action,
        resource=resource,
        resource_account=resource_account(snapshot.repository, resource),
        context=normalize_context(merged),
    )


def authorize(
    snapshot: Snapshot,
    caller: Caller,
    action: str,
    resource: str,
    context: Mapping[str, object] | None = None,
    *,
    session_policies: tuple[Policy, ...] = (),
    session_tags: Mapping[str, str] | None = None,
    resource_policy: Policy | None = None,
) -> Decision:
    """Decide one request on this snapshot; the decision carries ``snapshot.revision``."""
    layers, trust = snapshot.layers(
        caller, action, resource, session_policies=session_policies, resource_policy=resource_policy
    )
    request = build_request(snapshot, caller, action, resource, context, session_tags=session_tags)
    return snapshot.evaluate(layers, request, trust=trust)


def snapshot_authorizer(snapshot: Snapshot) -> Authorize:
    """The ``authorize`` callable policy tests use: principal strings resolved on ``snapshot``."""

    def run(principal: str, action: str, resource: str, context: Mapping[str, object]) -> Decision:
        return authorize(snapshot, snapshot.caller(principal), action, resource, context)

    return run


def run_repo_tests(snapshot: Snapshot) -> list[TestResult]:
    """Run the repository's own policy tests against this snapshot."""
    return run_tests(list(snapshot.repository.tests), snapshot_authorizer(snapshot))
