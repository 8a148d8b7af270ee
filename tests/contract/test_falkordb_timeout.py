"""The FalkorDB client's reply timeout is recalld's setting, not redis-py's 5 s default: a start-up
sweep of 300k memories took longer than that and failed (bench/million.py)."""

from __future__ import annotations

import uuid

import pytest

from recalld.graph.cypher import Query
from recalld.graph.falkordb import FalkorDBGraphStore
from recalld.kernel.errors import Unavailable
from recalld.server.environment import load_settings
from tests.harness import FalkorDBServer

# A read that keeps FalkorDB busy for well over a millisecond (no user input in it).
SLOW = Query("slow", "UNWIND range(1, 3000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS n")


async def test_the_reply_timeout_is_configurable(falkordb_server: FalkorDBServer) -> None:
    assert load_settings({"RECALLD_GRAPH_TIMEOUT_S": "42.5"}).graph.timeout_s == 42.5
    assert load_settings({}).graph.timeout_s == 300.0

    impatient = FalkorDBGraphStore(url=falkordb_server.url, graph=f"t-{uuid.uuid4().hex}", timeout_s=0.05)
    await impatient.open()
    try:
        with pytest.raises(Unavailable, match="FalkorDB unreachable"):
            await impatient._runner.read(SLOW)
    finally:
        await impatient.close()

    patient = FalkorDBGraphStore(url=falkordb_server.url, graph=f"t-{uuid.uuid4().hex}")
    await patient.open()
    try:
        assert (await patient._runner.read(SLOW))[0]["n"] == 3000000 // 7
    finally:
        await patient.close()
