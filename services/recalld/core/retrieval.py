"""Hybrid retrieval: vector hits + graph traversal, fused into one ranking.

1. Vector: the query embedding against fact embeddings, filtered by scope,
   metadata and time inside the vector store. Names of known entities are
   left out of the embedded text (recalld.core.search_plan.vector_query_text).
2. Graph: seeds are the entities the query names (first person -> the user,
   names and nouns linked to known entities) plus, in hybrid mode, the
   entities of the top vector hits. Walks of up to ``graph_depth`` edges from
   the seeds reach memories through their relations; a walk scores
   ``seed weight * 0.5 ** (hops - 1) * (1 + matches)``, where ``matches``
   counts query terms found in the walk's predicates and entity names, so
   "how is my pet's health?" follows alice -has_pet-> Luna -catch-> cold.
   Each memory keeps its best walks as the explanation (recalld.core.walk_scoring).
3. Fusion (recalld.core.fusion), by the mode's named recipe (:func:`recipes`):
   by default cosine + each other list's alpha * its normalized score (graph,
   full-text; boosts for the time the query names, the first / last it asks
   for, and what a speaker it names said (recalld.core.speakers); candidates without a cosine start
   from the weakest vector candidate's); weighted reciprocal rank fusion as an
   alternative. On LoCoMo dev (bench/results) score fusion with name-free
   vector queries beat RRF.
4. Decay (recalld.core.profile.decay_weight): the fused relevance times the
   memory's weight at the moment searched, so older, unconfirmed, unused facts
   rank lower without disappearing.

Levels: with ``levels`` set, the search runs over one view per level (the
user's shared memories, the session's, the agent's own, and those of agents
that granted it access) and merges them; each hit says its level.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from opentelemetry import trace

from recalld.core.currency import HANDOVER, newest_change_first
from recalld.core.dates import TimeSpan
from recalld.core.fusion import Method, Recipe, boosts, fuse
from recalld.core.ordering import Order, order_scores
from recalld.core.profile import decay_weight, half_lives
from recalld.core.search_plan import SearchPlan, checked_query, plan_search
from recalld.core.settings import DecaySettings, FusionMethod, GraphRanking, Limits, SearchSettings
from recalld.core.speakers import OTHERS_WEIGHT, about_someone_else, asks_about_self, said_by
from recalld.core.spreading import ENTITY, MEMORY, bipartite_edges, memory_scores, personalized_pagerank
from recalld.core.walk_scoring import GraphCandidate, score_walks
from recalld.kernel.domain import (
    CURRENT,
    Attribute,
    Level,
    Memory,
    MetadataFilter,
    Retriever,
    Scope,
    SearchHit,
    SearchMode,
    TimeRange,
    Validity,
    norm,
)
from recalld.kernel.errors import InvalidArgument
from recalld.kernel.ports import (
    Embedder,
    EntityGraph,
    Extractor,
    FullText,
    GrantStore,
    MemoryReads,
    VectorHit,
    VectorStore,
)
from recalld.kernel.requests import SearchQuery
from recalld.kernel.times import to_micros
from recalld.kernel.validation import validate_scope
from recalld.kernel.walks import Walks

# The OpenTelemetry API only (a no-op until the server installs an SDK provider).
_tracer = trace.get_tracer("recalld")

_TIME = "time"  # the fusion's name for "of the time the query names" (a boost, not a retriever)
_ORDER = "order"  # and for "earliest / latest among the best hits" (recalld.core.ordering)
_SPEAKER = "speaker"  # and for "said by the person the query names"
_RETRIEVERS = frozenset(r.value for r in Retriever)


def _within(memory: Memory, window: TimeSpan) -> bool:
    """The memory was said, or its fact began, in the window."""
    return any(window.start <= t < window.end for t in (memory.reference_time, memory.valid_from) if t is not None)


def _margin(limit: int) -> int:
    """Hits a view hands to the final ranking: decay may lift hits from below the cut."""
    return max(limit * 3, limit + 20)


def _states(memory: Memory, wanted: Attribute) -> bool:
    return any(
        a.name == wanted.name and (not wanted.value or norm(a.value) == norm(wanted.value)) for a in memory.attributes
    )


def recipes(s: SearchSettings) -> dict[SearchMode, Recipe]:
    """How each search mode fuses (recalld.core.fusion), its weights from the settings. Hybrid
    under score fusion: the cosine plus each list's alpha times its normalized score; under rank
    fusion (``fusion=rrf``): each list's weight (the time list's weight serves the ordering too;
    the speaker list has no order to give and takes no part)."""
    if s.fusion is FusionMethod.RRF:
        hybrid = Recipe(
            "hybrid-rrf",
            Method.RANK,
            {
                Retriever.VECTOR.value: s.vector_weight,
                Retriever.GRAPH.value: s.graph_weight,
                Retriever.LEXICAL.value: s.lexical_weight,
                _TIME: s.time_weight,
                _ORDER: s.time_weight,
            },
            rrf_k=s.rrf_k,
        )
    else:
        hybrid = Recipe(
            "hybrid-score",
            Method.SCORE,
            {
                Retriever.GRAPH.value: s.graph_alpha,
                Retriever.LEXICAL.value: s.lexical_alpha,
                _TIME: s.time_alpha,
                _ORDER: s.time_order_alpha,
                _SPEAKER: s.speaker_alpha,
            },
        )
    return {
        SearchMode.VECTOR: Recipe("vector", Method.COSINE),
        SearchMode.GRAPH: Recipe("graph", Method.GRAPH),
        SearchMode.HYBRID: hybrid,
    }


class SearchedGraph(MemoryReads, FullText, EntityGraph, GrantStore, Protocol):
    """The graph store as a Search uses it: memories, full text, entities and walks, and the grants
    that open other agents' memories."""


class HybridRetriever:
    def __init__(
        self,
        *,
        graph: SearchedGraph,
        vector: VectorStore,
        embedder: Embedder,
        extractor: Extractor,
        settings: SearchSettings,
        limits: Limits,
        decay: DecaySettings | None = None,
    ) -> None:
        self._decay = decay or DecaySettings()
        self._half_lives = half_lives(self._decay)
        self._graph = graph
        self._vector = vector
        self._embedder = embedder
        self._extractor = extractor
        self._s = settings
        self._recipes = recipes(settings)
        self._limits = limits

    async def search(self, q: SearchQuery) -> list[SearchHit]:
        """Memories valid per ``q.validity`` (by default: those that hold now) ranked for the
        query; vector search, graph walks and the final read all apply it. ``q.levels``: search
        those levels of the scope's user as the scope's agent sees them (recalld.core.levels);
        ``q.attributes``: only memories stating each (an empty value: any value of that name)."""
        q = checked_query(q, self._limits)
        views = await self.views(q.scope, q.levels)
        plan = await plan_search(
            q, graph=self._graph, embedder=self._embedder, extractor=self._extractor, settings=self._s
        )
        per_view = await asyncio.gather(*(self._search_view(view, plan) for view in views))
        return self._merge(q, plan, per_view)

    def _merge(self, q: SearchQuery, plan: SearchPlan, per_view: Sequence[list[SearchHit]]) -> list[SearchHit]:
        """The hits of every read scope, each memory once, weighted by decay, best first."""
        now, at, analysis = plan.now, plan.at, plan.analysis
        best: dict[str, SearchHit] = {}
        hybrid = q.mode is SearchMode.HYBRID
        me = norm(q.scope.speaker) if hybrid and asks_about_self(analysis, q.scope.speaker) else ""
        others: set[str] = set()  # hits about someone else than the speaker the question asks about
        for hits in per_view:
            for h in hits:
                if h.memory.expired(now):
                    continue  # not pruned yet, already gone for readers
                weight = decay_weight(h.memory, at, self._half_lives, self._decay) if self._decay.enabled else 1.0
                if me and about_someone_else(h.memory, me, analysis):
                    weight *= OTHERS_WEIGHT
                    others.add(h.memory.id)
                hit = replace(
                    h, relevance=h.score, weight=weight, score=h.score * weight, level=Level.of(h.memory.scope, q.scope)
                )
                if h.memory.id not in best or hit.score > best[h.memory.id].score:
                    best[h.memory.id] = hit
        ranked = sorted(best.values(), key=lambda h: -h.score)  # stable: ties keep the fused order
        # "now", "currently", "these days" ask for the latest: about the present too
        latest = plan.order is None or (plan.order.order is Order.LATEST and not plan.order.event)
        about_now = latest and q.time_range is None and not plan.window and q.validity == CURRENT
        if hybrid and self._s.current_first_k and about_now:  # not a question placed in time

            def may_pass(change: SearchHit, older: SearchHit) -> bool:
                # another person's change is theirs, unless they took over a role of the speaker's
                return change.memory.id not in others or HANDOVER.search(change.memory.text) is not None

            ranked = newest_change_first(ranked, self._s.current_first_k, may_pass)
        return [h for h in ranked if h.score >= q.threshold][: q.limit]

    async def views(self, scope: Scope, levels: Sequence[Level]) -> list[Scope]:
        """The read scopes a search over ``levels`` merges: the user's shared memories (no agent,
        no run), the run's (the shared ones and the agent's own), the agent's own, and for each
        active grant to the agent the granting agent's memories of the user. Without levels: the
        request scope as a filter."""
        validate_scope(scope)
        if not levels:
            return [scope]
        if not scope.user_id:
            raise InvalidArgument("levels need scope.user_id: they are levels of one user's memory")
        wanted = set(levels)
        if wanted & {Level.AGENT, Level.SHARED} and not scope.agent_id:
            raise InvalidArgument("the agent and shared levels need scope.agent_id: the agent that reads")
        if Level.SESSION in wanted and not scope.run_id:
            raise InvalidArgument("the session level needs scope.run_id")
        u, a, r = scope.user_id, scope.agent_id, scope.run_id
        views: list[Scope] = []
        if Level.USER in wanted:
            views.append(Scope(u, exact=True))
        if Level.SESSION in wanted:
            views.append(Scope(u, "", r, exact=True))
            if a:
                views.append(Scope(u, a, r, exact=True))
        if Level.AGENT in wanted:
            views.append(Scope(u, a))
        if Level.SHARED in wanted:
            views += [Scope(u, g.owner_agent) for g in await self._graph.list_grants(u, grantee_agent=a)]
        return list(dict.fromkeys(views))

    async def _search_view(self, scope: Scope, plan: SearchPlan) -> list[SearchHit]:
        """Hits of one read scope, scored by relevance only, best first."""
        q, qvec, linked, terms, words = plan.query, plan.qvec, plan.linked, plan.terms, plan.words
        window, order, event_time = plan.window, plan.order, plan.event_time
        limit, filters, mode, time_range, validity = q.limit, q.filters, q.mode, q.time_range, q.validity
        attributes = q.attributes
        allowed: set[str] | None = None
        if attributes:
            allowed = {
                m.id
                for m in await self._graph.attributed_memories(scope, validity, sorted({a.name for a in attributes}))
                if all(_states(m, a) for a in attributes)
            }
            if not allowed:
                return []
        vector_hits: list[VectorHit] = []
        lexical: dict[str, float] = {}
        if qvec is not None or words:
            vector_hits, lexical = await asyncio.gather(
                self._vector_hits(scope, qvec, limit, filters, time_range, validity, allowed),
                self._lexical_hits(scope, words, limit, filters, time_range, validity, allowed),
            )

        graph_cands: dict[str, GraphCandidate] = {}
        if mode is not SearchMode.VECTOR:
            graph_cands = await self._graph_candidates(
                scope, linked, terms, vector_hits if mode is SearchMode.HYBRID else [], validity
            )
            if allowed is not None:
                graph_cands = {k: v for k, v in graph_cands.items() if k in allowed}

        # GRAPH mode and rank fusion break graph-score ties by recency: they need the tied ones read
        by_recency = mode is SearchMode.GRAPH or (mode is SearchMode.HYBRID and self._s.fusion is FusionMethod.RRF)
        graph_all = {m: c.score for m, c in graph_cands.items()}
        memories = await self._fetch(
            scope,
            vector_hits,
            self._fetch_order(mode, graph_all, lexical),
            limit,
            filters,
            time_range,
            validity,
            ties=by_recency,
        )
        vec_score = {h.id: h.score for h in vector_hits if h.id in memories}
        graph_score = {m: v for m, v in graph_all.items() if m in memories}
        lexical_score = {m: v for m, v in lexical.items() if m in memories}
        timely = {m: 1.0 for m, mem in memories.items() if window is not None and _within(mem, window)}
        said = said_by(memories, linked) if mode is SearchMode.HYBRID and self._s.speaker_alpha > 0 else None
        with _tracer.start_as_current_span("fusion"):
            in_window = timely if window else None
            fused = self._fuse(mode, vec_score, graph_score, lexical_score, in_window, memories, said=said)
            if order is not None:  # the first / last of what the query is about: a second pass
                # "the latest in July": July's hits, when the period has any ("before April 10": the
                # day said nothing, and the date is only where the answer is measured from)
                in_period = [f[0] for f in fused if f[0] in timely] or [f[0] for f in fused]
                ends = order_scores(in_period, memories, order, limit, event_time) or None
                fused = self._fuse(mode, vec_score, graph_score, lexical_score, in_window, memories, ends, said)
        hits: list[SearchHit] = []
        for mid, score, sources in fused[: _margin(limit)]:
            cand = graph_cands.get(mid)
            hits.append(
                SearchHit(
                    memory=memories[mid],
                    score=score,
                    retrievers=tuple(Retriever(s) for s in sources if s in _RETRIEVERS),
                    paths=tuple(w for _, w in cand.explanation()) if cand else (),
                    vector_score=vec_score.get(mid),
                )
            )
        return hits

    async def _vector_hits(
        self,
        scope: Scope,
        qvec: Sequence[float] | None,
        limit: int,
        filters: Sequence[MetadataFilter],
        time_range: TimeRange | None,
        validity: Validity,
        allowed: set[str] | None,
    ) -> list[VectorHit]:
        if qvec is None:
            return []
        candidates = max(self._s.vector_candidates, limit)
        return await self._vector.search(
            qvec, scope, candidates, filters, time_range, validity, ids=sorted(allowed) if allowed else None
        )

    async def _lexical_hits(
        self,
        scope: Scope,
        words: Sequence[str],
        limit: int,
        filters: Sequence[MetadataFilter],
        time_range: TimeRange | None,
        validity: Validity,
        allowed: set[str] | None,
    ) -> dict[str, float]:
        """Full-text matches of the query's content words, scoped and filtered in the store."""
        if not words:
            return {}
        with _tracer.start_as_current_span("lexical"):
            found = await self._graph.lexical_search(
                scope, words, max(self._s.lexical_candidates, limit), filters, time_range, validity
            )
        return {m: s for m, s in found if allowed is None or m in allowed}

    def _fetch_order(
        self, mode: SearchMode, graph: Mapping[str, float], lexical: Mapping[str, float]
    ) -> dict[str, float]:
        """How fusion orders the candidates no vector hit has (they share the floor cosine): by
        their summed boosts under score fusion, by their rank-fusion score under RRF, by graph
        score in GRAPH mode."""
        if mode is not SearchMode.HYBRID or not lexical:
            return dict(graph)
        if self._s.fusion is FusionMethod.RRF:
            k = self._s.rrf_k
            out: dict[str, float] = {}
            for found, w in ((graph, self._s.graph_weight), (lexical, self._s.lexical_weight)):
                for rank, m in enumerate(sorted(found, key=lambda x: (-found[x], x)), start=1):
                    out[m] = out.get(m, 0.0) + w / (k + rank)
            return out
        return boosts({"graph": graph, "lexical": lexical}, self._recipes[SearchMode.HYBRID].weights)

    async def _fetch(
        self,
        scope: Scope,
        vector_hits: Sequence[VectorHit],
        candidates: Mapping[str, float],
        limit: int,
        filters: Sequence[MetadataFilter],
        time_range: TimeRange | None,
        validity: Validity,
        *,
        ties: bool,
    ) -> dict[str, Memory]:
        """The candidates that can rank, read from the system of record (which applies scope,
        filters, time range and validity): every vector hit, and the others (graph walks, full-text
        matches; ``candidates``: id -> the score fusion orders them by) best first until
        ``_margin(limit)`` of them pass (with ``ties``, those tied with the last one
        too, up to a bound; score fusion breaks ties by id, as this order does).

        A walk from a hub (the user's own node links to every first-person fact) reaches up to
        ``max_paths`` memories; reading them all made a Search cost grow with the user's memory.
        Fusion ranks those candidates by that score alone (their cosine is the same floor), so
        those below the cut could not have entered the first ``_margin(limit)`` hits."""
        want = _margin(limit)
        vector_ids = [h.id for h in vector_hits]
        seen = set(vector_ids)
        order = sorted((m for m in candidates if m not in seen), key=lambda m: (-candidates[m], m))
        memories = await self._graph.get_memories(vector_ids + order[:want], scope, filters, time_range, validity)
        passed = sum(1 for m in order[:want] if m in memories)
        fetched = want
        while passed < want and fetched < len(order):  # filtered out or gone: read further down
            chunk = order[fetched : fetched + 2 * want]
            fetched += len(chunk)
            more = await self._graph.get_memories(chunk, scope, filters, time_range, validity)
            memories.update(more)
            passed += len(more)
        if ties and fetched < len(order):  # equal scores at the cut: recency decides among them
            cut = candidates[order[fetched - 1]]
            tied = [m for m in order[fetched : fetched + 4 * want] if candidates[m] == cut]
            if tied:
                memories.update(await self._graph.get_memories(tied, scope, filters, time_range, validity))
        return memories

    def _fuse(
        self,
        mode: SearchMode,
        vec: dict[str, float],
        graph: dict[str, float],
        lexical: dict[str, float],
        timely: dict[str, float] | None,
        memories: Mapping[str, Memory],
        ends: dict[str, float] | None = None,
        said: dict[str, float] | None = None,
    ) -> list[tuple[str, float, tuple[str, ...]]]:
        """The mode's recipe (:func:`recipes`) over the lists. ``timely``: the candidates of the
        time the query names (None: it names none); ``ends``: the best hits' places on the
        timeline when the query asks for its first or last
        (:func:`recalld.core.ordering.order_scores`); ``said``: the candidates said by a person
        the query names (:func:`said_by`)."""
        lists: dict[str, Mapping[str, float]] = {Retriever.VECTOR.value: vec, Retriever.GRAPH.value: graph}
        if self._s.lexical:
            lists[Retriever.LEXICAL.value] = lexical
        for name, boost in ((_TIME, timely), (_ORDER, ends), (_SPEAKER, said)):
            if boost is not None:  # a named time counts even when nothing was said in it
                lists[name] = boost
        recency = {m: to_micros(mem.reference_time) for m, mem in memories.items()}
        return [(f.id, f.score, f.sources) for f in fuse(self._recipes[mode], lists, recency)]

    async def _graph_candidates(
        self,
        scope: Scope,
        linked: Sequence[str],
        terms: Sequence[str],
        vector_hits: Sequence[VectorHit],
        validity: Validity,
    ) -> dict[str, GraphCandidate]:
        weights = {norm(n): 1.0 for n in linked}
        top = [h.id for h in vector_hits[: self._s.seed_hits]]
        hit_weight = {h.id: 0.5 * h.score for h in vector_hits[: self._s.seed_hits]}
        top_entities = await self._graph.memory_entities(top) if top else {}
        for mid, ents in top_entities.items():
            for e in ents:
                weights[norm(e)] = max(weights.get(norm(e), 0.0), hit_weight[mid])
        if not weights:
            return {}
        # Entities the query names are walked graph_depth hops; entities borrowed
        # from vector hits one hop (their neighbourhood, not the user's whole graph:
        # two hops from them mostly pass through the user's own hub node).
        named = {norm(n) for n in linked}
        order = sorted(weights, key=lambda n: (-weights[n], n))
        walks = await self._walks(
            scope, [n for n in order if n in named], self._s.graph_depth, self._s.max_paths, validity
        )
        borrowed = [n for n in order if n not in named]
        if borrowed and len(walks) < self._s.max_paths:
            walks.extend(await self._walks(scope, borrowed, 1, self._s.max_paths - len(walks), validity))
        cands = score_walks(walks, weights, terms)
        if self._s.graph_ranking is GraphRanking.WALKS:
            return cands
        # Personalized PageRank over the same walks: activation starts at the named entities and
        # the top vector hits' memories (recalld.core.spreading), times (1 + the query terms the
        # memory's best walk matched: "pet" on has_pet), as the walk scores count them; the walks
        # stay the explanation.
        with _tracer.start_as_current_span("spreading"):
            seeds = {ENTITY + n: 1.0 for n in named} | {MEMORY + m: w for m, w in hit_weight.items()}
            edges = bipartite_edges(walks, top_entities)
            scores = memory_scores(personalized_pagerank(edges, seeds, damping=self._s.ppr_damping))
        out: dict[str, GraphCandidate] = {}
        for mid, score in scores.items():
            cand = cands.get(mid) or GraphCandidate()
            cand.score = score * (1.0 + cand.matched)
            out[mid] = cand
        return out

    async def _walks(self, scope: Scope, seeds: list[str], depth: int, max_paths: int, validity: Validity) -> Walks:
        """The store's walks as index tuples: directly from a store that has them
        (``WalkingGraphStore``), else converted from its paths."""
        walking = getattr(self._graph, "expand_walks", None)
        if walking is not None:
            found: Walks = await walking(scope, seeds, depth, max_paths, validity)
            return found
        return Walks.of(await self._graph.expand(scope, seeds, depth, max_paths, validity))
