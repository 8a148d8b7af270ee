"""SQLite query plans of the embedded store: a lookup by key uses the key's index.

SQLite plans by cost, and recalld keeps no statistics (no ANALYZE), so the planner guesses. With
several ids or hashes in an ``IN`` list it preferred the scope's index (``mem_user``, or
``mem_run`` for an exact scope, whose ``run_id = ''`` matches nearly every row) and read the
whole scope to find 50 rows: 5 ms per duplicate check at 11k memories, against 0.1 ms by the key
(bench.busy's Add-only profile). This test records every statement the per-request reads run,
with the values they were sent, and EXPLAINs each on the same database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from recalld.graph.embedded import EmbeddedGraphStore
from recalld.kernel.domain import CURRENT, Scope
from tests.contract.graph_data import ALICE, mem, write

EXACT = Scope(user_id="alice", exact=True)


async def test_lookups_by_key_use_the_key_index(tmp_path: Path) -> None:
    store = EmbeddedGraphStore(path=tmp_path / "graph.db")
    await store.open()
    try:
        written = {
            scope: [mem(scope, f"Fact {i} of {scope.user_id}.", ("alice", f"rel_{i}", f"thing {i}")) for i in range(60)]
            for scope in (ALICE, EXACT, Scope(user_id="bob"))
        }
        for batch in written.values():
            await write(store, *batch)
        memories = written[ALICE]
        assert all(m.content_hash for m in memories)
        ids = [m.id for m in memories]
        statements: list[str] = []
        db = store._db
        assert isinstance(db, sqlite3.Connection)
        db.set_trace_callback(statements.append)  # each statement with its bound values expanded
        for scope in (ALICE, EXACT):
            assert len(await store.get_memories([m.id for m in written[scope][:50]], scope)) == 50
            await store.find_by_hash(scope, [m.content_hash for m in memories[:50]])
            await store.get_any(ids[0], scope)
            await store.history(ids[0], scope)
            await store.touch_memories(ids[:50], scope, memories[0].created_at)
            await store.find_relations(scope, ["alice", "bob", "luna"], ["rel_1", "rel_2"], ["thing 3"])
        await store.expand(ALICE, ["alice"], 2, 100, CURRENT)
        db.set_trace_callback(None)
        plans = {
            s: " / ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + s).fetchall())
            for s in dict.fromkeys(statements)
            if s.lstrip().upper().startswith(("SELECT", "UPDATE"))
        }
    finally:
        await store.close()

    keyed = {s: p for s, p in plans.items() if " id IN (" in s or " id=" in s or "hash IN (" in s}
    assert len(keyed) >= 6, plans
    wrong = {s: p for s, p in keyed.items() if any(f"INDEX mem_{x}" in p for x in ("user", "agent", "run"))}
    assert not wrong, "lookups by key that read the scope instead:\n" + "\n".join(
        f"{p}\n  {s[:160]}" for s, p in wrong.items()
    )
    by_subject = [p for s, p in plans.items() if "subject IN (" in s]
    assert by_subject and all("rel_subject" in p for p in by_subject), by_subject
