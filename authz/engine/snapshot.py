"""One immutable revision of the policy repository, ready to answer requests.

Owns ``Snapshot`` (the loaded ``Repository``, its revision, one ``Evaluator`` whose partition
cache is shared by principals with identical attachments, and one ``DecisionCache``, so a
reload starts with an empty one), ``build_snapshot`` and ``authorize``, which answers from the
decision cache when it can and stamps every ``Decision`` with the revision that made it;
``authorize_batch`` decides many requests of one caller the same way, evaluating the cache
misses together (one native Cedar call per partition).

Revision = the first 16 hex digits of the repository's content hash, plus ``+g<commit>`` when the
repository is a git checkout (``git rev-parse HEAD``; no git is fine).

Must not import grpc or cedarpy (Cedar lives behind ``authz.engine.evaluate``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from authz import courtesy, deadline
from authz.engine.cache import DEFAULT_BYTES, DEFAULT_SIZE, DecisionCache, Shape, request_shape
from authz.engine.decision import Decision, Layer
from authz.engine.evaluate import (
    CALLER_POLICY_CACHE_BYTES,
    PARTITION_CACHE_BYTES,
    Evaluator,
    principal_keys,
)
from authz.engine.principal import (
    PrincipalPolicies,
    policy_layers,
    principal_facts,
    principal_key,
    principal_policies,
    resolve_caller,
    resource_account,
)
from authz.errors import RepositoryError, ServiceUnavailable
from authz.iam.model import (
    AuthRequest,
    Caller,
    ContextValue,
    Policy,
    PolicyLayers,
    normalize_context,
)
from authz.repo.entities import Repository
from authz.repo.gitref import head_commit
from authz.repo.layout import read_repository
from authz.repo.load import check_files
from authz.repo.memo import LoadMemo
from authz.repo.policytests import Authorize, TestResult, run_tests
from authz.sizedcache import SizedLRU, approx_size

_MEMO_SIZE = 65_536  # callers and facts memoised per snapshot
_MEMO_BYTES = 16 * 1024 * 1024  # each of the three memos


def _memo() -> SizedLRU[Any, Any]:
    return SizedLRU(_MEMO_BYTES, max_entries=_MEMO_SIZE)


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
    evaluator: Evaluator = field(default_factory=Evaluator, repr=False)  # thread-safe
    decisions: DecisionCache = field(default_factory=DecisionCache, repr=False)
    # memos keyed by request data (principal ARNs): bounded in bytes and entries
    _principals: SizedLRU[tuple[str, str, str | None], PrincipalPolicies] = field(
        default_factory=lambda: _memo(), repr=False
    )
    _callers: SizedLRU[str, Caller] = field(default_factory=lambda: _memo(), repr=False)
    _facts: SizedLRU[Caller, dict[str, ContextValue]] = field(
        default_factory=lambda: _memo(), repr=False
    )

    def evaluate(
        self,
        layers: PolicyLayers,
        request: AuthRequest,
        *,
        trust: bool,
        transient: frozenset[Layer] = frozenset(),
    ) -> Decision:
        """Evaluate on this snapshot's Evaluator and stamp the revision. ``transient``: the
        layers holding caller-supplied policies (``Evaluator.decide``)."""
        return self.decide(layers, request, trust=trust, transient=transient)[0]

    def decide(
        self,
        layers: PolicyLayers,
        request: AuthRequest,
        *,
        trust: bool,
        transient: frozenset[Layer] = frozenset(),
    ) -> tuple[Decision, frozenset[str]]:
        """``evaluate`` plus the context keys the evaluation read (``Evaluator.decide``)."""
        return self.evaluator.decide(
            layers, request, trust=trust, revision=self.revision, transient=transient
        )

    def principal(self, caller: Caller) -> PrincipalPolicies:
        """The caller's identity policies, boundary, SCP levels and facts, cached per entity
        (the snapshot is immutable, so the cache never needs invalidating)."""
        key = principal_key(caller)
        found = self._principals.get(key)
        if found is None:
            found = principal_policies(self.repository, caller)
            # charged for the key and the facts; the policies belong to the repository
            self._principals.put(key, found, size=approx_size(key) + approx_size(found.facts))
        return found

    def caller(self, principal: str) -> Caller:
        """Resolve a principal ARN / service name against this revision (``NoSuchEntity``);
        memoised (bounded), failures are not."""
        found = self._callers.get(principal)
        if found is None:
            found = resolve_caller(self.repository, principal)
            self._callers.put(principal, found)
        return found

    def facts(
        self, caller: Caller, session_tags: Mapping[str, str] | None = None
    ) -> dict[str, ContextValue]:
        """The principal's context keys (``principal_keys`` + ``principal_facts``), normalised
        (lowercased); memoised per caller when there are no session tags. Do not mutate."""
        if not session_tags:
            found = self._facts.get(caller)
            if found is not None:
                return found
        facts: dict[str, object] = dict(principal_keys(caller))
        principal = self.principal(caller)
        facts.update(principal_facts(self.repository, caller, session_tags, principal=principal))
        normalized = normalize_context(facts)
        if not session_tags:
            self._facts.put(caller, normalized)
        return normalized

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
        """Hits, misses, evictions and size of the compiled-partition cache (``partition_*``)
        and of the decision cache (``decision_*``, plus ``decision_bypassed``)."""
        stats = {f"partition_{k}": v for k, v in self.evaluator.cache_stats().items()}
        stats.update({f"decision_{k}": v for k, v in self.decisions.stats().items()})
        return stats

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
    """The commit of the checkout containing ``root`` (``git rev-parse HEAD``), or None. Read
    from the git directory's files (``authz.repo.gitref``): running git forks while holding
    the interpreter lock, a stall of every call in flight at each reload."""
    return head_commit(root)


def build_snapshot(
    root: Path | str,
    *,
    cache_size: int = 4096,
    decision_cache_size: int = DEFAULT_SIZE,
    git: bool = True,
    memo: LoadMemo | None = None,
    previous: Snapshot | None = None,
    decision_cache_bytes: int = DEFAULT_BYTES,
    caller_policy_cache_bytes: int = CALLER_POLICY_CACHE_BYTES,
    partition_cache_bytes: int = PARTITION_CACHE_BYTES,
) -> Snapshot:
    """Load, validate and index the repository at ``root``; ``RepositoryError`` lists every
    problem. Compilation is lazy: the first request of each partition compiles it.
    ``decision_cache_size=0`` disables the decision cache.

    A reload passes its ``memo`` (files and entities reused when their content is unchanged:
    ``authz.repo.memo``) and the serving snapshot as ``previous``: when the repository's
    content hash equals the previous one, ``previous`` itself is returned (nothing rebuilt,
    the git commit not asked again); otherwise the new snapshot starts with the previous
    snapshot's compiled partitions (``Evaluator.adopt``)."""
    started = time.perf_counter()
    root = Path(root)
    if memo is not None:
        memo.begin()
    files = read_repository(root, memo)
    if previous is not None and not files.problems and files.content_hash == previous.content_hash:
        if memo is not None:
            memo.finish(files_only=True)
        return previous
    result = check_files(files, memo)
    if result.problems or result.repository is None:
        raise RepositoryError(result.problems)
    repository = result.repository
    commit = git_commit(root) if git else None
    revision = repository.content_hash[:16] + (f"+g{commit[:12]}" if commit else "")
    courtesy.pause()
    evaluator = Evaluator(
        cache_size=cache_size,
        caller_cache_bytes=caller_policy_cache_bytes,
        cache_bytes=partition_cache_bytes,
    )
    if previous is not None:
        evaluator.adopt(previous.evaluator)
    courtesy.pause()
    return Snapshot(
        repository=repository,
        revision=revision,
        root=root,
        content_hash=repository.content_hash,
        git_commit=commit,
        load_seconds=time.perf_counter() - started,
        evaluator=evaluator,
        decisions=DecisionCache(decision_cache_size, decision_cache_bytes),
    )


def build_request(
    snapshot: Snapshot,
    caller: Caller,
    action: str,
    resource: str,
    context: Mapping[str, object] | None = None,
    *,
    session_tags: Mapping[str, str] | None = None,
    normalized: bool = False,
) -> AuthRequest:
    """The request with the principal facts merged over the caller-supplied context (the
    principal's own keys cannot be overridden by the request). ``normalized``: ``context``
    came from ``normalize_context`` and may be taken over."""
    facts = snapshot.facts(caller, session_tags)
    merged: dict[str, ContextValue]
    if normalized:
        merged = dict(cast(Mapping[str, ContextValue], context or {}))
    else:
        merged = normalize_context(context) if context else {}
    for key in facts.keys() & merged.keys():
        del merged[key]
    merged.update(facts)
    return AuthRequest(
        caller=caller,
        action=action,
        resource=resource,
        resource_account=resource_account(snapshot.repository, resource),
        context=merged,
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
    normalized: bool = False,
) -> Decision:
    """Decide one request on this snapshot; the decision carries ``snapshot.revision``.
    Answered from the snapshot's decision cache when an equivalent request was decided
    before (not with a ``resource_policy`` override: SimulatePrincipalPolicy).
    ``normalized``: ``context`` is already ``normalize_context``'s output (not copied)."""
    deadline.check("deciding")  # batches of session callers decide item by item
    cache = snapshot.decisions
    shape = None
    ctx = _normalized(context, normalized)
    if resource_policy is None and cache.enabled:
        shape = request_shape(caller, action, resource, session_policies, session_tags)
        if shape is not None:
            found = cache.get(shape, ctx)
            if found is not None:
                return found
    layers, trust = snapshot.layers(
        caller, action, resource, session_policies=session_policies, resource_policy=resource_policy
    )
    request = build_request(
        snapshot, caller, action, resource, ctx, session_tags=session_tags, normalized=True
    )
    decision, referenced = snapshot.decide(layers, request, trust=trust)
    if shape is not None:
        cache.put(shape, ctx, referenced, decision)
    return decision


def _normalized(
    context: Mapping[str, object] | None, normalized: bool
) -> Mapping[str, ContextValue]:
    if normalized:
        return cast(Mapping[str, ContextValue], context or {})
    return normalize_context(context) if context else {}


def authorize_batch(
    snapshot: Snapshot,
    caller: Caller,
    items: Sequence[tuple[str, str, Mapping[str, object] | None]],
    *,
    normalized: bool = False,
) -> list[Decision]:
    """``authorize`` of each (action, resource, context) for one caller, with the same
    decisions: cache hits are answered from the decision cache, the misses are evaluated
    together (``Evaluator.decide_many``: one native Cedar call per partition) and stored.
    ``normalized`` as for ``authorize``."""
    cache = snapshot.decisions
    out: list[Decision | None] = [None] * len(items)
    misses: list[tuple[int, Shape | None, Mapping[str, ContextValue]]] = []
    work: list[tuple[PolicyLayers, AuthRequest, bool]] = []
    for i, (action, resource, context) in enumerate(items):
        ctx = _normalized(context, normalized)
        shape = request_shape(caller, action, resource) if cache.enabled else None
        if shape is not None:
            found = cache.get(shape, ctx)
            if found is not None:
                out[i] = found
                continue
        layers, trust = snapshot.layers(caller, action, resource)
        request = build_request(snapshot, caller, action, resource, ctx, normalized=True)
        work.append((layers, request, trust))
        misses.append((i, shape, ctx))
    decided = snapshot.evaluator.decide_many(work, revision=snapshot.revision)
    for (i, shape, context), (decision, referenced) in zip(misses, decided, strict=True):
        if shape is not None:
            cache.put(shape, context, referenced, decision)
        out[i] = decision
    return [d for d in out if d is not None]


def snapshot_authorizer(snapshot: Snapshot) -> Authorize:
    """The ``authorize`` callable policy tests use: principal strings resolved on ``snapshot``."""

    def run(principal: str, action: str, resource: str, context: Mapping[str, object]) -> Decision:
        return authorize(snapshot, snapshot.caller(principal), action, resource, context)

    return run


def run_repo_tests(snapshot: Snapshot) -> list[TestResult]:
    """Run the repository's own policy tests against this snapshot."""
    return run_tests(list(snapshot.repository.tests), snapshot_authorizer(snapshot))


class SnapshotHolder:
    """The current snapshot, swapped by reference (an attribute store is atomic). Read on
    every call (``current``), so it lives in this compiled module (``authz.engine.reload``
    swaps it)."""

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self._snapshot = snapshot

    @property
    def current(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            raise ServiceUnavailable("no policy snapshot is loaded yet")
        return snapshot

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    def peek(self) -> Snapshot | None:
        return self._snapshot

    def swap(self, snapshot: Snapshot) -> Snapshot | None:
        old, self._snapshot = self._snapshot, snapshot
        return old
