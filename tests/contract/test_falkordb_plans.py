"""FalkorDB query plans: no per-request statement scans a whole label.

FalkorDB plans by rule, not by cost: a pattern it cannot anchor on an index becomes a label scan
(or a hash join against one) whatever the graph's size, and a statement that costs 0.1 ms on a
test graph costs tens of milliseconds at a million memories. The 1M load (bench/million.py) found
one: alias resolution, run by every Add and every Search, joined the matched aliases against every
Entity node. This test runs the per-request statements on a real FalkorDB server and EXPLAINs each
one with the parameters it was sent.

Whole-store sweeps (start-up index check, Verify, counts, orphan sweeps, erasure, tenant and key
listings) are allowed their scans: they are meant to read everything.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from recalld.graph.cypher import Query
from recalld.graph.falkordb import FalkorDBGraphStore, FalkorDBRunner, _encode
from recalld.kernel.domain import CURRENT, Episode, EventKind, FilterOp, HistoryEntry, MetadataFilter, Scope
from tests.contract.graph_data import ALICE, NOW, mem, seed, write
from tests.harness import FalkorDBServer

SWEEPS = {
    "index_state",
    "count_memories",
    "orphan_entities",
    "orphan_relations",
    "unfinished_erasures",
    "erase_scope",
    "list_all_api_keys",
    "list_tenants",
}
WHOLE_LABEL = ("Label Scan", "All Node Scan", "Hash Join", "Cartesian Product")


class ExplainingRunner(FalkorDBRunner):
    """Runs each statement as usual, after recording the plan FalkorDB makes for it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plans: dict[str, str] = {}

    async def _call(self, query: Query, *, read_only: bool) -> list[dict[str, Any]]:
        if self._graph is not None and query.name not in self.plans:
            self.plans[query.name] = str(await self._graph.explain(query.text, _encode(query.params)))
        return await super()._call(query, read_only=read_only)


async def test_per_request_statements_use_indexes(falkordb_server: FalkorDBServer) -> None:
    from falkordb.asyncio import FalkorDB

    name = f"plans-{uuid.uuid4().hex}"
    runner = ExplainingRunner(url=falkordb_server.url, graph=name)
    store = FalkorDBGraphStore(url=falkordb_server.url, graph=name)
    store._runner = runner  # the same runner class, explaining what it runs
    await store.open()
    try:
        cold, siamese, _ = await seed(store)
        later = mem(ALICE, "Luna lives with my sister.", ("Luna", "live_with", "sister"), minutes=5)
        await store.add_memories(
            _episode(ALICE),
            [later],
            [HistoryEntry(later.id, EventKind.ADD, "", later.text, NOW)],
            reinforce=[cold.id],
            aliases={"my cat": "Luna"},
        )
        await store.resolve_aliases(ALICE, ["my cat", "the kitten"])
        await store.link_entities(ALICE, ["Luna", "cold"])
        await store.memory_entities([cold.id, siamese.id])
        await store.expand(ALICE, ["luna", "alice"], 2, 100, CURRENT)
        await store.get_memories([cold.id, siamese.id], ALICE)
        await store.find_relations(ALICE, ["alice"], ["has_pet"], ["Luna"])
        await store.find_by_hash(ALICE, [cold.content_hash])
        await store.history(cold.id, ALICE)
        await store.touch_memories([cold.id], ALICE, NOW + timedelta(hours=1))
        edited = replace(siamese, text="Luna is a Persian.", version=siamese.version + 1, updated_at=NOW)
        await store.replace_memory(
            edited,
            HistoryEntry(siamese.id, EventKind.UPDATE, siamese.text, edited.text, NOW),
            expected_version=siamese.version,
        )
        await store.mark_indexed({cold.id: cold.version})
        await store.pending_index(10)
        await store.delete_memories([later.id], at=NOW + timedelta(hours=2))
        await write(store, mem(ALICE, "I teach algebra.", ("alice", "teach", "algebra")))
        await store.lexical_search(ALICE, ["Luna", "Persian"], 10, [MetadataFilter("topic", FilterOp.EQ, "pets")])
    finally:
        await store.close()
        db = FalkorDB(host="127.0.0.1", port=falkordb_server.port)
        await db.select_graph(name).delete()
        await db.connection.aclose()

    exercised = {
        "add_memories",
        "resolve_aliases",
        "find_entities",
        "expand",
        "get_memories",
        "find_relations",
        "lexical_search",
    }
    assert exercised <= set(runner.plans), sorted(runner.plans)
    scans = {q: plan for q, plan in runner.plans.items() if q not in SWEEPS and any(op in plan for op in WHOLE_LABEL)}
    assert not scans, "statements that scan a whole label:\n" + "\n\n".join(f"{q}:\n{p}" for q, p in scans.items())


def _episode(scope: Scope) -> Episode:
    return Episode(str(uuid.uuid4()), scope, (), {}, NOW, datetime.now(UTC))


async def test_replies_read_as_the_client_reads_them_and_writes_run_once(falkordb_server: FalkorDBServer) -> None:
    """The runner reads compact replies itself: every value type recalld's statements return comes
    back as the falkordb client's parser gives it (strings decoded by decode_text, inside lists and
    maps too); a type the reader does not know (a node) goes through the client's parser on the
    same reply, so a write that returns one still runs once."""
    name = f"replies-{uuid.uuid4().hex}"
    runner = FalkorDBRunner(url=falkordb_server.url, graph=name)
    await runner.open()
    try:
        assert runner._graph is not None
        params = {"s": "nul\x00 and \x01 kept", "xs": ["a\x00", 1, 2.5, None, True], "big": 2**62}
        text = (
            "RETURN $s AS s, $xs AS xs, $big AS big, 0.1 + 0.2 AS d, false AS f, null AS n, "
            "{k: $s, inner: [$s, 3]} AS m, [] AS empty"
        )
        rows = await runner.read(Query("values", text, params))
        reply = await runner._graph.ro_query(text, _encode(params))
        theirs = dict(zip([n for _, n in reply.header], reply.result_set[0], strict=True))
        assert rows == [
            {
                "s": params["s"],
                "xs": params["xs"],
                "big": 2**62,
                "d": theirs["d"],
                "f": False,
                "n": None,
                "m": {"k": params["s"], "inner": [params["s"], 3]},
                "empty": [],
            }
        ]
        assert isinstance(rows[0]["d"], float)  # (as FalkorDB prints it: 0.3, for the client too)
        created = await runner.write(Query("node", "CREATE (n:Probe {name: $s}) RETURN n AS n, 1 AS one", params))
        assert created[0]["one"] == 1 and created[0]["n"].properties["name"] == "nul\x01\x01 and \x01\x02 kept"
        assert (await runner.read(Query("count", "MATCH (n:Probe) RETURN count(n) AS c")))[0]["c"] == 1
        assert await runner.write(Query("nothing", "MATCH (n:Probe) SET n.seen = true")) == []
    finally:
        await runner._graph.delete()
        await runner.close()
