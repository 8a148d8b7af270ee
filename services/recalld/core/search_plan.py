"""A Search checked and planned (recalld.core.retrieval): the request validated before anything is
read, and what every read scope of the Search shares: the query analysed, its names linked to
graph entities, its embedding (of the query without those names: :func:`vector_query_text`), its
words for the full-text retriever, and its time cues ("in May 2023", "the first", "after the
trip").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from recalld.core.dates import TimeSpan, find_and_resolve
from recalld.core.lexical import lexical_terms
from recalld.core.ordering import Order, TimeOrder, order_in
from recalld.core.settings import Limits, SearchSettings
from recalld.kernel.domain import QueryAnalysis, SearchMode
from recalld.kernel.errors import InvalidArgument, ResourceExhausted
from recalld.kernel.filters import validate_filters
from recalld.kernel.ports import Embedder, EntityGraph, Extractor
from recalld.kernel.requests import SearchQuery
from recalld.kernel.validation import validate_scope

_POSSESSIVE = r"(?:'s|\u2019s)?"


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A checked Search and what its read scopes share (:func:`plan_search`)."""

    query: SearchQuery
    analysis: QueryAnalysis
    qvec: Sequence[float] | None
    linked: Sequence[str]
    terms: Sequence[str]
    words: Sequence[str]
    window: TimeSpan | None
    order: TimeOrder | None
    event_time: datetime | None
    now: datetime
    at: datetime


def checked_query(q: SearchQuery, limits: Limits) -> SearchQuery:
    """``q`` with the query stripped and the default limit, or InvalidArgument /
    ResourceExhausted before anything is read."""
    validate_scope(q.scope)
    query = q.query.strip()
    if not query:
        raise InvalidArgument("query must not be empty")
    if len(query) > limits.max_query_chars:
        raise ResourceExhausted(f"query has {len(query)} characters; the limit is {limits.max_query_chars}")
    limit = q.limit or 10
    if not 1 <= limit <= 100:
        raise InvalidArgument("limit must be between 1 and 100")
    if not 0.0 <= q.threshold <= 1.0:
        raise InvalidArgument("threshold must be between 0 and 1")
    tr = q.time_range
    if tr and tr.start and tr.end and tr.start >= tr.end:
        raise InvalidArgument("time_range.start must be before time_range.end")
    validate_filters(q.filters)
    if len(q.attributes) > 16 or any(not a.name for a in q.attributes):
        raise InvalidArgument("attribute filters need a name each, at most 16 of them")
    return replace(q, query=query, limit=limit)


async def plan_search(
    q: SearchQuery, *, graph: EntityGraph, embedder: Embedder, extractor: Extractor, settings: SearchSettings
) -> SearchPlan:
    """What every read scope of the Search shares: the query analysed, its names linked to
    entities, its embedding, its words and its time cues."""
    query, mode = q.query, q.mode
    # One embedding per query, of the query as the vector search wants it (the names that link
    # to graph entities taken out): analysed first, then embedded once. Embedding the raw query
    # beside the analysis saved a few ms of latency on an idle server and cost a second model
    # call for every query naming someone, which a busy one pays in throughput.
    analysis = await extractor.analyze_query(query, speaker=q.scope.speaker)
    names = list(dict.fromkeys([*analysis.entities, *analysis.terms]))
    if names:  # "my cat" -> Luna, once "my cat Luna" was said
        names += (await graph.resolve_aliases(q.scope, analysis.entities)).values()
    linked = await graph.link_entities(q.scope, names) if names else []
    qvec: Sequence[float] | None = None
    if mode is not SearchMode.GRAPH:
        (qvec,) = await embedder.embed([vector_query_text(query, linked)])

    now = datetime.now(UTC)
    at = q.validity.as_of or now
    words = _lexical_words(query, linked, settings) if mode is SearchMode.HYBRID and settings.lexical else []
    # "in May 2023", "last summer": memories of that time rank higher (hybrid mode)
    hybrid = mode is SearchMode.HYBRID
    window = find_and_resolve(query, at) if hybrid and settings.time_alpha > 0 else None
    order = order_in(query) if hybrid and settings.time_order_alpha > 0 else None  # "first", "after the trip"
    event_time: datetime | None = None  # "after May 3, 2023": the event is a date
    if order is not None and order.order in (Order.BEFORE, Order.AFTER):
        span = find_and_resolve(order.event, at)
        if span is not None:
            event_time = span.end if order.order is Order.AFTER else span.start
    return SearchPlan(q, analysis, qvec, linked, analysis.terms, words, window, order, event_time, now, at)


def _lexical_words(query: str, linked: Sequence[str], settings: SearchSettings) -> list[str]:
    """The query's content words for the full-text retriever. Names that link to graph
    entities are left out unless ``lexical_linked`` (as the vector query leaves them out): a
    name matches every memory that merely mentions the person, and the graph walks from it
    already; the query is kept whole when nothing else would remain."""
    words = lexical_terms(query)
    if settings.lexical_linked or not linked:
        return words
    names = {w for n in linked for w in lexical_terms(n)}
    rest = [w for w in words if w not in names]
    return rest or words


def vector_query_text(query: str, linked: Sequence[str]) -> str:
    """The query as embedded for vector search: proper names that link to graph
    entities are removed ("What did Caroline research?" -> "What did
    research?"). A name pulls the embedding towards every sentence that merely
    addresses that person; the graph retriever already covers who is meant.
    Only capitalized occurrences go (proper nouns); the query is kept whole
    when fewer than two words would remain."""
    text = query
    for name in sorted(linked, key=len, reverse=True):
        pattern = re.compile(r"(?<!\w)" + re.escape(name) + _POSSESSIVE + r"(?!\w)", re.IGNORECASE)
        text = pattern.sub(lambda m: "" if m.group(0)[:1].isupper() else m.group(0), text)
    text = re.sub(r"\s+([?.!,;:])", r"\1", " ".join(text.split()))
    return text if len(re.findall(r"[^\W\d_]{2,}", text)) >= 2 else query
