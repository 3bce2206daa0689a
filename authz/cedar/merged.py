"""One native Cedar call for several partitions of one request: ``MergedSet`` holds the
statements of its member partitions (the non-constant layers of an Authorize: an SCP level, the
identity policies, a bucket policy, ...) in one cedarpy policy set, and ``decide`` answers each
member's ``LayerResult`` exactly as the member's own call (``Partition.decide``) would. A native
call has a fixed cost of ~116k instructions even for an empty context
(``cedar-context-20261206-185556``); an Authorize with three such layers pays it once.

Why the answers are the members' own:

- **Effects.** Cedar's answer lists only the policies that decided it (a matched forbid hides
  the matched permits), so every statement is emitted as ``permit`` and its real effect is kept
  here: the answer then lists every statement that matched, and each member's result is
  rebuilt as ``policyset._layer_result`` builds it from the member's own answer (a forbid
  matched: a deny listing the forbids; else a permit matched: an allow listing the permits;
  an error: neither, listing what the own answer would have listed).
- **Ids.** Cedar numbers the policies of a parsed text ``policy0``, ``policy1``, … in order
  (cedarpy documents it, ``PolicySet.with_added_str``). Member ``m``'s statement ``k`` is
  ``policy<offset_m + k>`` here and ``policy<k>`` in the member's own set, so matches and
  evaluation errors (``error while evaluating policy `policyN`: …``) go back to their member,
  renumbered as its own call reports them. No ``@id`` is sent (the member's ids are known).
- **Context.** The request context is the union of the members' context plans. Every
  attribute a member's policies read is in its own plan (the translator spells each access
  through ``Emitter``), and an attribute's value is a function of the request alone
  (``build_context``), so each member sees the same values, and the same presence for
  ``has``, as in its own call; the two lists the members share (``keys``, ``oracle``) are only
  read with ``contains`` of the member's own names, and fact ids are content hashes.
  ``tests/unit/test_merged_call.py`` checks these properties on generated policies and
  compares every member's result with its own call.
- **Entities.** Action groups and oracle facts are content-hashed (the same id has the same
  content), so the members' are united; a conflict (never seen) makes the set unusable and
  the members are called one by one.
- **Anything the answer cannot attribute** — ``NoDecision`` (a request Cedar cannot build,
  e.g. a context value it rejects: it would fail only the members reading that value), an
  error that names no policy, an unknown policy id, the whole call failing — falls back to the
  members' own calls for that request, so the results are theirs, errors included.

Owns the merged policy set and the split of its answer. Imports cedarpy (``authz.cedar`` is
its only importer).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import cedarpy

from authz.cedar import policyset
from authz.cedar.context import ContextPlan, RequestFacts
from authz.cedar.oracle import Fact, FactTable
from authz.cedar.policyset import EMPTY, LayerResult, Partition, native_request, request_key
from authz.cedar.translate import action_entities
from authz.iam.model import Effect

_ERROR_PREFIX = "error while evaluating policy `policy"
_METRICS = ',"metrics":'
_MEMO_SIZE = 32  # answer texts per merged set (cleared when full)
MEMO_BYTES = _MEMO_SIZE * 512  # what the memo may hold (a text is ~300 bytes), for caches


class MergedSet:
    """The statements of ``members`` (distinct partitions that make native calls) as one
    policy set; ``usable`` is False when they cannot be merged (then call them one by one)."""

    def __init__(self, members: Sequence[Partition]) -> None:
        self.members = tuple(members)
        # merged position -> (member, position in the member's own set, statement id, forbid)
        self._owners: list[tuple[int, int, str, bool]] = []
        self._policy_set: cedarpy.PolicySet | None = None
        self._entities: cedarpy.Entities | None = None
        self._native_entities: object = None
        self._memo: dict[str, tuple[LayerResult, ...] | None] = {}
        texts: list[str] = []
        uses: set[tuple[str, str]] = set()
        flags: set[str] = set()
        facts: dict[str, Fact] = {}
        groups: dict[str, frozenset[str]] = {}
        usable = len(self.members) >= 2 and all(m.native for m in self.members)
        for m, part in enumerate(self.members):
            tr = part.translation
            for k, st in enumerate(tr.statements):
                self._owners.append((m, k, st.policy_id, st.effect is Effect.DENY))
                texts.append("permit " + st.scope())
            uses |= tr.uses
            flags |= tr.flags
            for fid, fact in tr.facts.items():
                usable = usable and facts.setdefault(fid, fact) == fact
            for gid, names in tr.groups.items():
                usable = usable and groups.setdefault(gid, names) == names
        text = "\n\n".join(texts)
        self.text_chars = len(text)
        self.plan = ContextPlan.of(frozenset(uses), frozenset(flags))
        self.facts = FactTable(facts)
        if usable and policyset._BATCH is not None:
            try:
                self._policy_set = cedarpy.PolicySet.from_str(text)
                self._entities, self._native_entities = policyset.native_entities(
                    action_entities(groups)
                )
            except ValueError:
                self._policy_set = None
        self.usable = self._policy_set is not None

    def request(self, req: RequestFacts) -> dict[str, object]:
        """The native request of ``req`` for the merged set (the union of the plans)."""
        return native_request(self.plan, self.facts, req)

    def decide(self, req: RequestFacts) -> tuple[LayerResult, ...]:
        """Each member's ``decide(req)``, in member order."""
        return self.decide_many([req])[0]

    def decide_many(self, reqs: Sequence[RequestFacts]) -> list[tuple[LayerResult, ...]]:
        """``decide`` of each request, in one native call (a request asked twice is sent
        once); a request whose answer cannot be attributed gets the members' own calls."""
        index: dict[tuple[object, ...], int] = {}
        unique: list[tuple[RequestFacts, dict[str, object]]] = []
        slots: list[int] = []
        for req in reqs:
            request = self.request(req)
            slot = index.setdefault(request_key(request), len(unique))
            if slot == len(unique):
                unique.append((req, request))
            slots.append(slot)
        raws = self._answers([request for _, request in unique])
        results: list[tuple[LayerResult, ...]] = []
        for (req, _), raw in zip(unique, raws, strict=True):
            split = self.split(raw) if raw is not None else None
            results.append(split if split is not None else self.own_calls(req))
        return [results[slot] for slot in slots]

    def attributed(self, req: RequestFacts) -> tuple[LayerResult, ...] | None:
        """The members' results read from one merged answer, or None when it cannot be
        attributed (``decide`` then answers with the members' own calls)."""
        raw = self._answers([self.request(req)])[0]
        return None if raw is None else self.split(raw)

    def _answers(self, requests: list[dict[str, object]]) -> list[str | None]:
        """Cedar's answer text of each request in one native call (None each when the call
        fails as a whole)."""
        batch = policyset._BATCH
        if self._policy_set is None or self._entities is None or batch is None:
            return [None] * len(requests)
        try:
            answered = batch(requests, self._policy_set, self._native_entities, None, False)
        except Exception:
            return [None] * len(requests)  # the members' own calls report what failed
        return list(answered) if len(answered) == len(requests) else [None] * len(requests)

    def own_calls(self, req: RequestFacts) -> tuple[LayerResult, ...]:
        """What the members answer one by one (today's path; the fallback)."""
        return tuple(m.decide(req) for m in self.members)

    def split(self, raw: str) -> tuple[LayerResult, ...] | None:
        """Each member's result from the merged answer ``raw`` (memoised on its text up to
        the ``metrics`` member, as ``policyset._parsed``), or None when it cannot be
        attributed."""
        cut = raw.rfind(_METRICS)
        key = raw[:cut] if cut > 0 else raw
        try:
            return self._memo[key]  # one read: another thread may clear the memo
        except KeyError:
            pass
        found = self._split(json.loads(raw))
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = found
        return found

    def _split(self, result: dict[str, object]) -> tuple[LayerResult, ...] | None:
        if result.get("decision") not in ("Allow", "Deny"):
            return None  # NoDecision: the request could not be built
        diagnostics = result.get("diagnostics")
        if not isinstance(diagnostics, dict):
            diagnostics = {}
        n = len(self.members)
        permits: list[list[str]] = [[] for _ in range(n)]
        forbids: list[list[str]] = [[] for _ in range(n)]
        errors: list[list[str]] = [[] for _ in range(n)]
        for reason in diagnostics.get("reason") or ():
            owner = self._owner(str(reason), "policy")
            if owner is None:
                return None
            member, _, policy_id, forbid = owner
            (forbids if forbid else permits)[member].append(policy_id)
        for error in diagnostics.get("errors") or ():
            text = str(error)
            number, tick, rest = text.partition("`: ")
            owner = self._owner(number, _ERROR_PREFIX) if tick else None
            if owner is None:
                return None
            member, local = owner[0], owner[1]
            errors[member].append(f"{_ERROR_PREFIX}{local}`: {rest}")
        out: list[LayerResult] = []
        for i in range(n):
            matched = tuple(sorted(forbids[i] or permits[i]))
            if errors[i]:
                out.append(LayerResult(False, False, matched, tuple(errors[i])))
            elif forbids[i]:
                out.append(LayerResult(False, True, matched))
            elif permits[i]:
                out.append(LayerResult(True, False, matched))
            else:
                out.append(EMPTY)
        return tuple(out)

    def _owner(self, text: str, prefix: str) -> tuple[int, int, str, bool] | None:
        """The owner of the policy named ``<prefix><number>`` in ``text``, or None."""
        number = text[len(prefix) :] if text.startswith(prefix) else ""
        if not (number.isascii() and number.isdigit()) or len(number) > 9:
            return None
        position = int(number)
        return self._owners[position] if position < len(self._owners) else None
