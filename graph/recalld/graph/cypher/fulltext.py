"""FullText: the lexical retriever. The database's full-text procedure (one call per query
string the backend's dialect makes of the caller's terms), then get_memories' predicates; the
index itself is declared in recalld.graph.cypher.schema."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from recalld.graph.cypher.predicates import metadata_predicate, scope_predicate, time_predicate, validity_predicate
from recalld.graph.cypher.runner import CypherStoreBase, Query
from recalld.graph.cypher.values import lookup_key
from recalld.kernel.domain import MetadataFilter, Scope, TimeRange, Validity

# How each database is asked, one query string ``q`` per call.
FALKORDB_FULLTEXT_CALL = "CALL db.idx.fulltext.queryNodes('MemoryText', q) YIELD node AS m, score"
NEO4J_FULLTEXT_CALL = "CALL db.index.fulltext.queryNodes('recalld_memory_text', q) YIELD node AS m, score"


@dataclass(frozen=True, slots=True)
class FullText:
    """A backend's full-text dialect: ``call``, one of the ``*_FULLTEXT_CALL`` statements above, and
    ``queries``, which escapes the caller's terms into the query strings it is called with (one
    call per string; a memory's score is the sum over the calls that found it); ``scoped``: the
    query strings of a search with a user (None: the same strings, the user filtered after the
    call). ``idf``: a call's matches score 1 / (how many matched it in the scope) instead of the
    database's own score."""

    call: str
    queries: Callable[[Sequence[str]], list[str]]
    scoped: Callable[[list[str], str], list[str]] | None = None
    idf: bool = False


_MIN_SCORE = 1e-12


def lexical_search_query(
    call: str,
    queries: Sequence[str],
    scope: Scope,
    limit: int,
    filters: Sequence[MetadataFilter] = (),
    time_range: TimeRange | None = None,
    validity: Validity | None = None,
    *,
    idf: bool = False,
) -> Query:
    """The full-text procedure ``call`` once per query string, its nodes filtered by get_memories'
    predicates, then each memory's scores summed: best first, ``limit`` of them. ``idf``: a
    call's matches score 1 / their number (a rare word weighs more) instead of the procedure's
    score."""
    if call not in (FALKORDB_FULLTEXT_CALL, NEO4J_FULLTEXT_CALL):
        raise ValueError(f"unknown full-text call {call!r}")
    where, params = scope_predicate("m", scope)
    ftext, fparams = metadata_predicate(filters)
    ttext, tparams = time_predicate(time_range)
    vtext, vparams = validity_predicate("m", validity)
    matched = f"UNWIND $queries AS q {call} WHERE m.state = 'active' AND {where}{ftext}{ttext}{vtext} "
    if idf:
        matched += "WITH q, collect(m) AS ms UNWIND ms AS m WITH m, 1.0 / size(ms) AS score "
    text = matched + (
        "WITH m, sum(score) AS score RETURN m.id AS id, score AS score ORDER BY score DESC, id LIMIT $limit"
    )
    return Query(
        "lexical_search",
        text,
        {"queries": list(dict.fromkeys(queries)), "limit": limit, **params, **fparams, **tparams, **vparams},
    )


class CypherFullText(CypherStoreBase):
    """FullText over the runner in the backend's dialect (``_fulltext``; None: no lexical search)."""

    _fulltext: FullText | None

    async def lexical_search(
        self,
        scope: Scope,
        terms: Sequence[str],
        limit: int,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> list[tuple[str, float]]:
        if self._fulltext is None:
            raise NotImplementedError(f"{type(self).__name__} has no full-text dialect")
        queries = self._fulltext.queries(terms)
        if not queries or limit <= 0:
            return []
        if scope.user_id and self._fulltext.scoped is not None:
            queries = self._fulltext.scoped(queries, lookup_key(scope.user_id))  # = m.user_key
        query = lexical_search_query(
            self._fulltext.call, queries, scope, limit, filters, time_range, validity, idf=self._fulltext.idf
        )
        # Scores of matches are > 0 in both databases; the floor only keeps the promise if one is not.
        return [(r["id"], max(float(r["score"]), _MIN_SCORE)) for r in await self._runner.read(query)]
