"""The entity and relation rows a memory's triples make in SQLite: written with the memory, found
again when it changes or goes, and the entities no relation touches any more dropped (with their
aliases). Shared by the writes and erasure."""

from __future__ import annotations

from collections.abc import Sequence

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.graph.embedded.sql import chunks, opt_ts
from recalld.kernel.domain import Memory, norm
from recalld.kernel.times import to_micros as _ts


class RelationRows(EmbeddedStoreBase):
    """Rows of ``entities``, ``relations`` and ``aliases`` per memory (inside the caller's
    transaction)."""

    def _insert_relations(self, m: Memory) -> None:
        db = self._conn
        ns, s = m.scope.namespace, m.scope
        for t in m.triples:
            for name, typ in ((t.subject, t.subject_type), (t.object, t.object_type)):
                db.execute(
                    "INSERT INTO entities VALUES (?,?,?,?) ON CONFLICT(namespace, norm) DO UPDATE SET "
                    "type = CASE WHEN entities.type IN ('entity','concept') THEN excluded.type ELSE entities.type END",
                    (ns, norm(name), name, typ),
                )
            db.execute(
                "INSERT INTO relations (memory_id, namespace, user_id, agent_id, run_id, subject, predicate, object,"
                " created_at, valid_from, valid_to) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    m.id,
                    ns,
                    s.user_id,
                    s.agent_id,
                    s.run_id,
                    norm(t.subject),
                    t.predicate,
                    norm(t.object),
                    _ts(m.created_at),
                    _ts(m.valid_from or m.reference_time),
                    opt_ts(m.valid_to),
                ),
            )

    def _relation_entities(self, memory_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(namespace, entity) pairs the relations of these memories touch."""
        out: set[tuple[str, str]] = set()
        for chunk in chunks(memory_ids, 500):
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT namespace, subject, object FROM relations WHERE memory_id IN ({marks})", chunk
            ):
                out.update(((r[0], r[1]), (r[0], r[2])))
        return out

    def _drop_orphan_entities(self, candidates: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Delete the entities among ``candidates`` no relation touches any more (and aliases
        naming them). Returns the deleted ones."""
        db = self._conn
        gone: set[tuple[str, str]] = set()
        for ns, name in candidates:
            if db.execute(
                "SELECT 1 FROM relations WHERE namespace=? AND (subject=? OR object=?) LIMIT 1", (ns, name, name)
            ).fetchone():
                continue
            db.execute("DELETE FROM entities WHERE namespace=? AND norm=?", (ns, name))
            db.execute("DELETE FROM aliases WHERE namespace=? AND entity=?", (ns, name))
            gone.add((ns, name))
        return gone
