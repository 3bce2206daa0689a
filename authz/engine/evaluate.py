"""The evaluation engine: ``Evaluator.evaluate(layers, request, trust=...)`` → ``Decision``.

One small compiled partition per layer (each SCP level, resource / trust, identity, boundary,
session) and service prefix, cached in a bounded LRU keyed by what it depends on: the layer, the
policies (digest, name, source), the service prefix and the values of the compile-time variables
those policies reference. Principals with identical attachments share partitions. Principal keys
(``aws:PrincipalArn`` = role ARN for sessions, ``aws:PrincipalAccount``, ``aws:PrincipalType``,
``aws:username``, ``aws:userid``) are derived from the caller unless the request lists them.

An evaluation runs in three steps: ``_collect`` resolves the partition of each layer that
applies (``_Run.layer`` appends a ``_Step``), ``_fill`` decides the partitions that need a
native Cedar call, and ``_Run.verdicts`` files the results by layer for ``combine``. A constant
partition (every statement unconditional) or an empty one needs no call; when several others
apply — the bucket policy, the identity policies and the permissions boundary of a distinct
Authorize in the example repository — they are answered by ONE native call on a merged policy
set (``authz.cedar.merged.MergedSet``: the same per-layer results as their own calls; a native
call costs ~116k instructions before any policy is evaluated). Merged sets are cached by their
members' identities (bounded in bytes and entries, built on a combination's second sighting; a
combination with a caller-supplied partition goes to a cache with the caller-policy byte bound,
and a caller-supplied partition that is not cached itself is called on its own). ``decide_many``
does the same for a batch: the runs that need the same merged set or partition share one native
call.

Owns request preparation, the partition cache and decision assembly; combination rules live in
``authz.engine.combine``. Must not import cedarpy (only ``authz.cedar`` does).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from authz import deadline
from authz.cedar.context import RequestFacts
from authz.cedar.emit import is_compile_time
from authz.cedar.merged import MEMO_BYTES, MergedSet
from authz.cedar.pattern import parse_pattern, variables_of
from authz.cedar.policyset import EMPTY, LayerResult, Partition
from authz.cedar.principals import BOUNDED_MARKER, caller_ids, grant_kinds
from authz.cedar.translate import CedarStatement, translate_policies
from authz.engine.combine import Verdicts, combine, resource_policy_required
from authz.engine.decision import Decision, EvalDecision, Layer, MatchedStatement
from authz.errors import AuthzError, DeadlineExceeded
from authz.iam.model import (
    AuthRequest,
    Caller,
    CallerKind,
    ContextValue,
    Policy,
    PolicyLayers,
)
from authz.sizedcache import SizedLRU

_PRINCIPAL_TYPE = {
    CallerKind.USER: "User",
    CallerKind.ROOT: "Account",
    CallerKind.ROLE: "Role",
    CallerKind.ASSUMED_ROLE: "AssumedRole",
    CallerKind.FEDERATED_USER: "FederatedUser",
    CallerKind.ANONYMOUS: "Anonymous",
}
# Callers that sign with account credentials: sts:GetCallerIdentity needs no permission for
# them (spec §3.3 step 0, §6.3); an anonymous caller has no identity to return.
_SIGNED = frozenset(_PRINCIPAL_TYPE) - {CallerKind.ANONYMOUS}
PartitionKey = tuple[object, ...]
_BOUNDABLE = (CallerKind.USER, CallerKind.ROLE, CallerKind.ASSUMED_ROLE)
ALL_LAYERS = frozenset(Layer)
_SCP, _RCP, _IDENTITY, _BOUNDARY, _SESSION = (
    Layer.SCP,
    Layer.RCP,
    Layer.IDENTITY,
    Layer.BOUNDARY,
    Layer.SESSION,
)
CALLER_POLICY_CACHE_BYTES = 16 * 1024 * 1024
PARTITION_CACHE_BYTES = 256 * 1024 * 1024  # compiled repository partitions per snapshot
# Approximate bytes of a compiled partition per character of its Cedar text (the parsed
# policy, the translated statements, the text and the native policy set: 34 bytes per
# character by RSS over twenty 128 KiB documents, docs/operations.md "Limits") plus a fixed
# part.
PARTITION_BYTES_PER_CHAR = 36
PARTITION_BYTES_FIXED = 8192
MERGED_CACHE_BYTES = 64 * 1024 * 1024  # merged policy sets of repository partitions


def partition_bytes(partition: Partition) -> int:
    """The approximate memory a compiled partition holds (for byte-bounded caches)."""
    return PARTITION_BYTES_FIXED + PARTITION_BYTES_PER_CHAR * partition.text_chars


def merged_bytes(members: Sequence[Partition]) -> int:
    """The approximate memory a merged set of ``members`` holds: its own text (at most the
    members' together), policy set and answer memo, and the members (it keeps them alive
    after their own cache dropped them)."""
    chars = sum(m.text_chars for m in members)
    own = PARTITION_BYTES_FIXED + PARTITION_BYTES_PER_CHAR * chars + MEMO_BYTES
    return own + sum(partition_bytes(m) for m in members)


@lru_cache(maxsize=4096)
def _caller_facts(
    caller: Caller,
) -> tuple[dict[str, ContextValue], tuple[str, ...], tuple[str, ...]]:
    """Per-caller constants (cached; never mutate the returned dict)."""
    pids, pself = caller_ids(caller)
    return principal_keys(caller), tuple(sorted(pids)), tuple(sorted(pself))


def principal_keys(caller: Caller) -> dict[str, ContextValue]:
    """Context keys the caller implies (spec §5, §4.6); the request's own values win."""
    if caller.kind not in _PRINCIPAL_TYPE:
        return {}
    out: dict[str, ContextValue] = {"aws:principaltype": _PRINCIPAL_TYPE[caller.kind]}
    if caller.entity_arn:
        out["aws:principalarn"] = caller.entity_arn
    if caller.account:
        out["aws:principalaccount"] = caller.account
    if caller.user_name:
        out["aws:username"] = caller.user_name
    userid = caller.account if caller.kind is CallerKind.ROOT else caller.unique_id
    if userid:
        out["aws:userid"] = userid
    return out


class Evaluator:
    """Decides requests; holds the partition cache. Thread-safe: a lock guards the cache
    bookkeeping only; compiling a partition and the Cedar call run outside it (two threads may
    compile the same partition at once; the first one stored wins)."""

    def __init__(
        self,
        *,
        cache_size: int = 4096,
        caller_cache_bytes: int = CALLER_POLICY_CACHE_BYTES,
        cache_bytes: int = PARTITION_CACHE_BYTES,
        merged_cache_bytes: int = MERGED_CACHE_BYTES,
        merge_sighting: int = 2,
    ) -> None:
        self._lock = threading.Lock()
        # Partitions compiled from caller-supplied policies (simulation inputs, session
        # policies): their own LRU bounded in bytes, never the repository cache below, and
        # never memoised in ``_resolved`` / ``_static`` / ``_decided`` / ``_variables``.
        self._transient: SizedLRU[PartitionKey, Partition] = SizedLRU(caller_cache_bytes)
        # Partitions compiled from repository policies, keyed by content (so a reload reuses
        # the unchanged ones): bounded by entries and by the bytes they hold.
        self._cache: SizedLRU[PartitionKey, Partition] = SizedLRU(
            cache_bytes, max_entries=cache_size, max_entry_fraction=1.0
        )
        self._cache_size = cache_size
        # One policy set for the partitions of a request that make native calls
        # (``MergedSet``), keyed by the members' identities (the value holds them, so the
        # ids stay unique). Built on a combination's second sighting (``_seen``), so
        # combinations that never repeat cost no build. A combination with a caller-supplied
        # member follows the caller-policy rules: its own LRU with that byte bound.
        # ``merge_sighting``: the request of a combination that builds its set (1: the first;
        # the differential and vector tests use 1 so that every input takes the merged path).
        self._merge_sighting = merge_sighting
        self._merged: SizedLRU[tuple[int, ...], MergedSet] = SizedLRU(
            merged_cache_bytes, max_entries=cache_size
        )
        self._merged_transient: SizedLRU[tuple[int, ...], MergedSet] = SizedLRU(caller_cache_bytes)
        self._seen: dict[tuple[int, ...], int] = {}  # sightings, by ids: holds no partition
        self._stats = {"hits": 0, "misses": 0}
        self._variables: dict[str, frozenset[str]] = {}
        self._static: dict[
            tuple[object, ...], tuple[tuple[Policy, ...], tuple[object, ...], tuple[str, ...]]
        ] = {}
        # The fast path, both memos bounded by ``cache_size`` (cleared when full):
        # (layer, service, policy ids) -> (policies, partition) for policy tuples without
        # compile-time variables (the value holds the policies, so the ids stay unique), and
        # what a decision depends on -> (decision, keys read, the partitions it used).
        self._resolved: dict[tuple[object, ...], tuple[tuple[Policy, ...], Partition]] = {}
        self._decided: dict[
            tuple[object, ...], tuple[Decision, frozenset[str], tuple[Partition | None, ...]]
        ] = {}

    def adopt(self, other: Evaluator) -> None:
        """Start with ``other``'s compiled partitions (the previous snapshot's, on a reload).
        Their keys are content (layer, policy digests, names and sources, service, variable
        values), so a partition whose policies did not change is reused, not compiled again;
        the others age out of the LRU."""
        entries = other._cache.items()
        with other._lock:
            variables = dict(other._variables)
        self._cache.adopt(entries)  # the bounds of this cache apply
        self._merged.adopt(other._merged.items())  # keyed by the adopted partitions
        with self._lock:
            self._variables.update(variables)

    def cache_stats(self) -> dict[str, int]:
        transient = self._transient.stats()
        with self._lock:
            return {
                **self._stats,
                "evictions": self._cache.evictions,
                "size": len(self._cache),
                "bytes": self._cache.bytes,
                "caller_size": transient["size"],
                "caller_bytes": transient["bytes"],
                "caller_evictions": transient["evictions"],
                "merged_size": len(self._merged),
                "merged_bytes": self._merged.bytes,
                "merged_caller_size": len(self._merged_transient),
                "merged_caller_bytes": self._merged_transient.bytes,
            }

    def evaluate(
        self,
        layers: PolicyLayers,
        request: AuthRequest,
        *,
        trust: bool = False,
        transient: frozenset[Layer] = frozenset(),
    ) -> Decision:
        return self.decide(layers, request, trust=trust, transient=transient)[0]

    def decide(
        self,
        layers: PolicyLayers,
        request: AuthRequest,
        *,
        trust: bool = False,
        revision: str | None = None,
        transient: frozenset[Layer] = frozenset(),
    ) -> tuple[Decision, frozenset[str]]:
        """The decision (stamped with ``revision``) and every context key the evaluated
        partitions read (condition keys, runtime and compile-time variables): what a decision
        cache must key on. ``transient``: layers whose policies the caller supplied (the
        session layer always is); their partitions go to the caller-policy cache."""
        prepared = self._prepare(request, layers)
        if isinstance(prepared, Decision):
            return replace(prepared, revision=revision), frozenset()
        run = _Run(self, prepared, service_of(prepared.action), transient=transient)
        self._collect(run, layers, request.caller, trust)
        self._fill([run])
        verdicts = run.verdicts(trust)
        if run.failed or run.used_transient:  # no memo
            decision = self._assemble(run, verdicts, request, trust, revision)
            return decision, frozenset(run.keys | run.variables)
        # The decision is a function of the caller, the account relation, the per-layer
        # (partition, result) sequence, the keys the context lacks and the revision: equal
        # inputs share one Decision (and its wire form at the edge).
        caller = request.caller
        same = request.resource_account is None or request.resource_account == caller.account
        context = prepared.context
        missing = tuple(sorted(k for k in run.keys if k not in context))
        required = resource_policy_required(request.resource)
        key = (caller, same, trust, required, revision, missing, run.trace())
        found = self._decided.get(key)
        if found is not None:
            return found[0], found[1]
        decision = self._assemble(run, verdicts, request, trust, revision)
        referenced = frozenset(run.keys | run.variables)
        if not decision.errors:
            if len(self._decided) >= self._cache_size:
                self._decided.clear()
            self._decided[key] = (decision, referenced, run.partitions())
        return decision, referenced

    def decide_many(
        self,
        items: Sequence[tuple[PolicyLayers, AuthRequest, bool]],
        *,
        revision: str | None = None,
    ) -> list[tuple[Decision, frozenset[str]]]:
        """``decide`` of each (layers, request, trust), with one native Cedar call per
        merged set or partition for all the items that need it (``_fill``), then combined
        per item exactly as ``decide`` does. Items with the same per-layer results share one
        ``Decision`` object."""
        runs: list[tuple[_Run, PolicyLayers, AuthRequest, bool] | Decision] = []
        for layers, request, trust in items:
            deadline.check("deciding a batch")
            prepared = self._prepare(request, layers)
            if isinstance(prepared, Decision):
                runs.append(replace(prepared, revision=revision))
                continue
            run = _Run(self, prepared, service_of(prepared.action))
            self._collect(run, layers, request.caller, trust)
            runs.append((run, layers, request, trust))
        self._fill([entry[0] for entry in runs if not isinstance(entry, Decision)])
        out: list[tuple[Decision, frozenset[str]]] = []
        shared: dict[tuple[object, ...], Decision] = {}  # what a Decision depends on -> it
        for entry in runs:
            if isinstance(entry, Decision):
                out.append((entry, frozenset()))
                continue
            run, layers, request, trust = entry
            missing = tuple(sorted(k for k in run.keys if k not in run.facts.context))
            signature = (
                request.caller,
                request.resource_account,
                trust,
                resource_policy_required(request.resource),
                missing,
                run.signature(),
            )
            decision = shared.get(signature)
            if decision is None:
                verdicts = run.verdicts(trust)
                decision = shared[signature] = self._assemble(
                    run, verdicts, request, trust, revision
                )
            out.append((decision, frozenset(run.keys | run.variables)))
        return out

    def _fill(self, runs: Sequence[_Run]) -> None:
        """The results of the runs' steps that need a native call. A run with several such
        partitions has them answered by one merged call (``MergedSet``; a caller-supplied
        partition that is not cached stays out of it), a run with one by the partition's own
        call; runs that need the same merged set or partition share one native batch call
        (a request asked twice is sent once)."""
        if len(runs) == 1 and len(runs[0].native) == 1:  # its own call, no grouping
            step = runs[0].native[0]
            if step.partition is not None:
                step.result = step.partition.decide(runs[0].facts)
            return
        singles: dict[int, tuple[Partition, list[tuple[_Step, RequestFacts]]]] = {}
        merged: dict[int, tuple[MergedSet, list[tuple[list[tuple[_Step, int]], RequestFacts]]]]
        merged = {}
        for run in runs:
            steps = run.native
            group = self._merged_set(steps) if len(steps) > 1 else None
            if group is not None:
                slot = {id(m): i for i, m in enumerate(group.members)}
                inside = [(s, slot[id(s.partition)]) for s in steps if id(s.partition) in slot]
                merged.setdefault(id(group), (group, []))[1].append((inside, run.facts))
                steps = [s for s in steps if id(s.partition) not in slot]
            for step in steps:
                if step.partition is not None:
                    entry = singles.setdefault(id(step.partition), (step.partition, []))
                    entry[1].append((step, run.facts))
        for group, entries in merged.values():
            answers = group.decide_many([facts for _, facts in entries])
            for (inside, _), answer in zip(entries, answers, strict=True):
                for step, member in inside:
                    step.result = answer[member]
        for partition, pending in singles.values():
            requests = [partition.request(facts) for _, facts in pending]
            results = partition.decide_many([r for r in requests if r is not None])
            for (step, _), result in zip(pending, results, strict=True):
                step.result = result

    def _merged_set(self, steps: Sequence[_Step]) -> MergedSet | None:
        """The merged set of the distinct partitions of ``steps`` that will be seen again
        (repository ones, cached caller-supplied ones), or None (fewer than two, first
        sighting of the combination, or not mergeable)."""
        members = tuple({id(s.partition): s.partition for s in steps if s.shared}.values())
        if len(members) < 2:
            return None
        parts = tuple(m for m in members if m is not None)
        key = tuple(map(id, parts))
        transient = any(s.transient for s in steps if s.shared)
        cache = self._merged_transient if transient else self._merged
        found = cache.get(key)
        if found is None or not all(a is b for a, b in zip(found.members, parts, strict=True)):
            size = merged_bytes(parts)
            if not cache.fits(size):  # too large to keep (or a bound of 0): no merging
                return None
            sightings = self._seen.get(key, 0) + 1  # (a reused id: one set built early)
            if sightings < self._merge_sighting:
                with self._lock:
                    if len(self._seen) >= self._cache_size:
                        self._seen.clear()
                    self._seen[key] = sightings
                return None
            found = MergedSet(parts)
            cache.put(key, found, size=size)
        return found if found.usable else None

    def _prepare(self, request: AuthRequest, layers: PolicyLayers) -> RequestFacts | Decision:
        """The request's facts (caller-derived keys under the request's context), or the
        decision when none is needed (GetCallerIdentity, spec §3.3 step 0). A caller with a
        permissions boundary carries ``BOUNDED_MARKER`` among its own ids (NotPrincipal Deny)."""
        caller = request.caller
        action = request.action.lower()
        derived, pids, pself = _caller_facts(caller)
        if layers.boundary is not None and caller.kind in _BOUNDABLE:
            pself = (*pself, BOUNDED_MARKER)
        context = {**derived, **request.context} if derived else dict(request.context)
        if action == "sts:getcalleridentity" and caller.kind in _SIGNED:
            return Decision(EvalDecision.ALLOWED)  # signed callers only: not anonymous
        return RequestFacts(action, request.resource, context, pids, pself)

    def _assemble(
        self,
        run: _Run,
        verdicts: Verdicts,
        request: AuthRequest,
        trust: bool,
        revision: str | None,
    ) -> Decision:
        caller = request.caller
        same = request.resource_account is None or request.resource_account == caller.account
        outcome = combine(
            verdicts,
            caller,
            same_account=same,
            trust=trust,
            kinds=lambda sid: grant_kinds(run.statements[sid].statement, caller),
            resource_must_allow=resource_policy_required(request.resource),
        )
        context = run.facts.context
        return Decision(
            decision=outcome.decision,
            matched=tuple(run.matched(layer, sid) for layer, sid in outcome.deciding),
            failing_layer=outcome.failing_layer
            if outcome.decision is not EvalDecision.ALLOWED
            else None,
            missing_context=tuple(sorted(k for k in run.keys if k not in context)),
            errors=tuple(run.errors),
            revision=revision,
        )

    def _collect(self, run: _Run, layers: PolicyLayers, caller: Caller, trust: bool) -> None:
        """The layers that apply to the caller, in order, as ``run.steps`` (``_Run.verdicts``
        files each step's result under its layer)."""
        if layers.resource is not None:
            run.layer(Layer.TRUST if trust else Layer.RESOURCE, (layers.resource,))
        # RCPs cap the resource whoever the caller is (anonymous and service callers too)
        for level in layers.rcp:
            if level:
                run.layer(Layer.RCP, level)
        if caller.kind in (CallerKind.ANONYMOUS, CallerKind.SERVICE, CallerKind.WEB_IDENTITY):
            return  # no identity policies, boundaries, sessions or SCPs
        for level in layers.scp:
            run.layer(Layer.SCP, level)
        if caller.kind is CallerKind.ROOT:
            return  # root has no identity policies, boundary or session (full access)
        run.layer(Layer.IDENTITY, layers.identity)
        if layers.boundary is not None:
            run.layer(Layer.BOUNDARY, (layers.boundary,))
        if layers.session and caller.kind in (CallerKind.ASSUMED_ROLE, CallerKind.FEDERATED_USER):
            run.layer(Layer.SESSION, layers.session)

    def resolve(
        self,
        layer: Layer,
        policies: Sequence[Policy],
        service: str | None,
        context: Mapping[str, ContextValue],
    ) -> tuple[Partition, tuple[str, ...]]:
        """``partition_and_variables``, answered from a plain dict for policy tuples without
        compile-time variables (most): no key building, no LRU bookkeeping."""
        key = (layer, service, *map(id, policies))
        found = self._resolved.get(key)
        if found is not None and all(a is b for a, b in zip(found[0], policies, strict=True)):
            with self._lock:
                self._stats["hits"] += 1
            return found[1], ()
        part, names = self.partition_and_variables(layer, policies, service, context)
        if not names:
            with self._lock:
                if len(self._resolved) >= self._cache_size:
                    self._resolved.clear()
                self._resolved[key] = (tuple(policies), part)
        return part, names

    def resolve_transient(
        self,
        layer: Layer,
        policies: Sequence[Policy],
        service: str | None,
        context: Mapping[str, ContextValue],
    ) -> tuple[Partition, tuple[str, ...], bool]:
        """``partition_and_variables`` for caller-supplied policies, and whether the partition
        is cached: only in the byte-bounded caller-policy LRU (and only when every policy has
        a content digest)."""
        referenced = frozenset().union(*(policy_variables(p) for p in policies))
        names = tuple(sorted(k for k in referenced if is_compile_time(k)))
        env = {k: v if isinstance(v := context.get(k), str) else None for k in names}
        keyed = all(p.digest for p in policies)
        static = (str(layer), tuple((p.digest, p.name, p.source) for p in policies))
        key = (static, service, tuple(env.items()))
        found = self._transient.get(key) if keyed else None
        if found is not None:
            return found, names, True

        def lookup(name: str) -> str | bool | None:
            return env.get(name) if name in env else False

        built = Partition(translate_policies(policies, str(layer), service=service, lookup=lookup))
        kept = keyed and self._transient.put(key, built, size=partition_bytes(built))
        return built, names, kept

    def partition_and_variables(
        self,
        layer: Layer,
        policies: Sequence[Policy],
        service: str | None,
        context: Mapping[str, ContextValue],
    ) -> tuple[Partition, tuple[str, ...]]:
        """The partition and the compile-time variables whose values selected it."""
        static, names = self._static_key(layer, policies)
        env = {k: v if isinstance(v := context.get(k), str) else None for k in names}
        key = (static, service, tuple(env.items()))
        found = self._cache.get(key)
        with self._lock:
            if found is not None:
                self._stats["hits"] += 1
                return found, names
            self._stats["misses"] += 1

        def lookup(name: str) -> str | bool | None:
            return env.get(name) if name in env else False

        built = Partition(translate_policies(policies, str(layer), service=service, lookup=lookup))
        found = self._cache.peek(key)
        if found is not None:  # another thread compiled it meanwhile: share theirs
            return found, names
        self._cache.put(key, built, size=partition_bytes(built))
        return built, names

    def _static_key(
        self, layer: Layer, policies: Sequence[Policy]
    ) -> tuple[tuple[object, ...], tuple[str, ...]]:
        """(layer + policy identities, compile-time variables referenced, sorted), memoised
        per policy tuple; the memo holds the policies, so the ids in its key stay unique."""
        ids = (str(layer), *map(id, policies))
        found = self._static.get(ids)  # a dict read is atomic; writes take the lock
        if found is not None and all(a is b for a, b in zip(found[0], policies, strict=True)):
            return found[1], found[2]
        static = (str(layer), tuple((p.digest, p.name, p.source) for p in policies))
        referenced = frozenset().union(*(self._policy_variables(p) for p in policies))
        names = tuple(sorted(k for k in referenced if is_compile_time(k)))
        with self._lock:
            if len(self._static) > self._cache_size:
                self._static.clear()
            self._static[ids] = (tuple(policies), static, names)
        return static, names

    def _policy_variables(self, policy: Policy) -> frozenset[str]:
        if not policy.variables:
            return frozenset()
        cache_key = policy.digest or str(id(policy))
        found = self._variables.get(cache_key)
        if found is None:
            found = policy_variables(policy)
            self._variables[cache_key] = found  # idempotent: a racing writer stores the same
        return found


def policy_variables(policy: Policy) -> frozenset[str]:
    """The policy variables (``${...}``) a policy's resources and condition values name."""
    if not policy.variables:
        return frozenset()
    texts = [t for st in policy.statements for t in (*st.resources, *st.not_resources)]
    texts += [v for st in policy.statements for c in st.conditions for v in c.values]
    return frozenset().union(
        *(
            variables_of(parse_pattern(t, variables=True, wildcards=False))
            for t in texts
            if "${" in t
        )
    )


def service_of(action: str) -> str | None:
    """The partition key of a (lowercased) action: its service prefix, or None for an action
    without one (its partitions keep every statement: a ``<service>:*`` pattern is dropped as
    always true only where every action asked has that prefix and a colon)."""
    prefix, colon, _ = action.partition(":")
    return prefix if colon else None


@dataclass(slots=True)
class _Step:
    """One layer of a run: its partition (None: it failed to compile, ``message`` says why),
    whether deciding it takes a native call (``native``: neither empty nor constant), whether
    the partition will be seen again (``shared``: a repository partition or a cached
    caller-supplied one; only those join a merged set) and whether it is caller-supplied
    (``transient``), then its result (a constant partition's from the start)."""

    layer: Layer
    partition: Partition | None
    result: LayerResult
    message: str | None = None
    native: bool = False
    shared: bool = True
    transient: bool = False

    def __init__(
        self,
        layer: Layer,
        partition: Partition | None,
        result: LayerResult,
        message: str | None = None,
        native: bool = False,
        shared: bool = True,
        transient: bool = False,
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        self.layer = layer
        self.partition = partition
        self.result = result
        self.message = message
        self.native = native
        self.shared = shared
        self.transient = transient


class _Run:
    """The state of one evaluation: partitions used, statements seen, errors, keys read.
    ``Evaluator._collect`` resolves the partition of each layer that applies (``layer``
    appends ``steps``), ``Evaluator._fill`` decides the steps that need a native call (merged
    into one call where it can), and ``verdicts`` files the results under their layers,
    recording errors in layer order."""

    def __init__(
        self,
        evaluator: Evaluator,
        facts: RequestFacts,
        service: str | None,
        *,
        transient: frozenset[Layer] = frozenset(),
    ) -> None:
        self.evaluator = evaluator
        self.transient = transient
        self.used_transient = False  # a caller-policy partition decided: no decision memo
        self.failed = False  # a layer failed to compile: no decision memo
        self.facts = facts
        self.service = service
        self.statements: dict[str, CedarStatement] = {}
        self.errors: list[str] = []
        self.keys: set[str] = set()
        self.variables: set[str] = set()  # compile-time variables that selected partitions
        self.steps: list[_Step] = []
        self.native: list[_Step] = []  # the steps that need a native call
        self._trace: list[tuple[Layer, int, LayerResult]] = []

    def verdicts(self, trust: bool) -> Verdicts:
        """The steps' results by layer (call once, after ``Evaluator._fill``)."""
        v = Verdicts(resource_layer=Layer.TRUST if trust else Layer.RESOURCE)
        errors = self.errors
        trace = self._trace
        for step in self.steps:
            result, layer = step.result, step.layer
            trace.append((layer, id(step.partition), result))
            if step.message is not None:
                errors.append(step.message)
            elif result.errors:
                errors.extend(f"layer `{layer.value}`: {e}" for e in result.errors)
            if layer is _SCP:
                v.scp.append(result)
            elif layer is _IDENTITY:
                v.identity = result
            elif layer is _RCP:
                v.rcp.append(result)
            elif layer is _BOUNDARY:
                v.boundary = result
            elif layer is _SESSION:
                v.session = result
            else:  # the resource or trust policy
                v.resource = result
        return v

    def trace(self) -> tuple[tuple[Layer, int, LayerResult], ...]:
        """(layer, partition identity, result) per layer (after ``verdicts``): what
        ``Evaluator.decide`` memoises a decision on (with ``partitions``, which keeps the
        identities unique)."""
        return tuple(self._trace)

    def partitions(self) -> tuple[Partition | None, ...]:
        return tuple(s.partition for s in self.steps)

    def signature(self) -> tuple[object, ...]:
        """What the decision of a batch item depends on besides caller, trust and context:
        each layer's partition (by identity), result and error."""
        return tuple((s.layer, id(s.partition), s.result, s.message) for s in self.steps)

    def layer(self, layer: Layer, policies: Sequence[Policy]) -> None:
        """Resolve ``layer``'s partition into a step (a constant one with its result)."""
        # (an Enum hashes in Python: test the set only when it has members)
        transient = layer is _SESSION or (bool(self.transient) and layer in self.transient)
        try:
            if transient:
                self.used_transient = True
                part, names, shared = self.evaluator.resolve_transient(
                    layer, policies, self.service, self.facts.context
                )
            else:
                part, names = self.evaluator.resolve(
                    layer, policies, self.service, self.facts.context
                )
                shared = True
            self.variables.update(names)
        except DeadlineExceeded:
            raise
        except AuthzError as err:
            message = f"layer `{layer.value}`: {err.message}"
            failed = LayerResult(False, False, errors=(message,))
            self.steps.append(_Step(layer, None, failed, message))
            self.failed = True
            return
        self.statements.update(part.statements)
        self.keys |= part.keys
        if part.constant is not None:  # known without a native call
            self.steps.append(_Step(layer, part, part.constant))
        elif part.native:
            step = _Step(layer, part, EMPTY, None, True, shared, transient)
            self.steps.append(step)
            self.native.append(step)
        else:  # an empty partition: EMPTY without a call
            self.steps.append(_Step(layer, part, EMPTY))

    def matched(self, layer: Layer, sid: str) -> MatchedStatement:
        st = self.statements.get(sid)
        if st is None:
            return MatchedStatement(policy=sid, layer=layer, statement="", effect="")
        return MatchedStatement(st.policy, layer, st.label, str(st.statement.effect), st.source)


_DEFAULT = Evaluator()


def default_evaluator() -> Evaluator:
    """The process-wide ``Evaluator`` of callers without a repository (SimulateCustomPolicy,
    the reference-compatible tests)."""
    return _DEFAULT


def configure_default(caller_cache_bytes: int) -> None:
    """Replace the process-wide ``Evaluator`` with one whose caller-policy cache holds at most
    ``caller_cache_bytes`` (``Settings.caller_policy_cache_bytes``)."""
    global _DEFAULT
    _DEFAULT = Evaluator(caller_cache_bytes=caller_cache_bytes)


def evaluate(layers: PolicyLayers, request: AuthRequest, *, trust: bool = False) -> Decision:
    """Decide with the process-wide default ``Evaluator``; every policy counts as the
    caller's (``transient``): none reaches a repository cache."""
    return _DEFAULT.evaluate(layers, request, trust=trust, transient=ALL_LAYERS)
