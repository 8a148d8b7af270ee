"""FullText of the embedded store: lexical search over ``memories_fts``.

``memories_fts`` is an FTS5 index over ``memories.text`` and the memory's owner (a
token made from its user id), contentless, keyed by the memories table's rowid; tokenizer
``porter unicode61 remove_diacritics 2``: "painting" finds "painted", "Zoe" finds "Zoë". A search
with a user matches ``owner : "<token>" AND text : (...)``, so the index intersects the user's
postings with the words' instead of reading every user's matches (the owner column weighs 0 in
bm25). Triggers on ``memories`` keep it in step inside the transaction of every write (insert,
text change, delete), so no write path can forget it; tombstones and retired memories stay
indexed and are filtered out by the query, like every other read. (Rowids of a table without an
INTEGER PRIMARY KEY may change on VACUUM, the SQLite manual warns; SQLite 3.40 keeps them; were
a VACUUM to renumber, ``DELETE FROM memories_fts`` and the insert of _V5's last statement
(schema.py) rebuild the index.)
"""

from __future__ import annotations

from collections.abc import Sequence

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.graph.embedded.sql import scope_sql, time_sql, validity_sql
from recalld.graph.sqlite_filters import fts5_match, sql_metadata_filter
from recalld.kernel.domain import MetadataFilter, Scope, TimeRange, Validity


class EmbeddedFullText(EmbeddedStoreBase):
    """The full-text retriever over memory texts."""

    async def lexical_search(
        self,
        scope: Scope,
        terms: Sequence[str],
        limit: int,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> list[tuple[str, float]]:
        match = fts5_match(terms)
        if not match or limit <= 0:
            return []
        match = f"text : ({match})"
        if scope.user_id:  # the user's postings only (the scope predicate below still applies)
            match = f'owner : "{owner_token(scope.user_id)}" AND {match}'

        return await self._run(self._lexical_sync, match, scope, limit, filters, time_range, validity)

    def _lexical_sync(
        self,
        match: str,
        scope: Scope,
        limit: int,
        filters: Sequence[MetadataFilter],
        time_range: TimeRange | None,
        validity: Validity | None,
    ) -> list[tuple[str, float]]:
        # get_memories' predicates on the matched rows. CROSS JOIN keeps the full-text match the
        # outer loop: the work follows the matches, never the scope's (or the table's) size.
        # bm25() is lower-is-better and negative for every match: negated, it is > 0, higher better.
        where, params = scope_sql(scope, "m")
        fsql, fparams = sql_metadata_filter(filters, "m.metadata")
        tsql, tparams = time_sql(time_range, "m")
        vsql, vparams = validity_sql(validity, "m")
        rows = self._conn.execute(
            "SELECT m.id AS id, -bm25(memories_fts, 1.0, 0.0) AS score FROM memories_fts "
            "CROSS JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND m.state='active' AND {where}{fsql}{tsql}{vsql} "
            "ORDER BY score DESC, m.id LIMIT ?",
            [match, *params, *fparams, *tparams, *vparams, limit],
        )
        return [(r[0], float(r[1])) for r in rows]


def owner_token(user_id: str) -> str:
    """The lexical index's owner token of a user: what _V5's triggers write ("u" + UTF-8 hex, only
    [0-9a-f] after the "u", so it needs no escaping inside an FTS5 string)."""
    return "u" + user_id.encode().hex()
