"""Concurrent Update + Update + Delete of the same memories through the public API.

The race that once corrupted memories: every memory of a user is hit at the same time by two
Updates and a Delete from a pool of client threads. Afterwards nothing of a deleted memory may
be visible through any RPC, history never shows a change after a delete, and Verify finds the
graph and the vector index consistent (the server's periodic reconciler is off in this tier, so
consistency comes from the write path itself). Five rounds per backend combination.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from recalld.v1 import admin_pb2, common_pb2, graph_pb2, memory_pb2
from tests.e2e.conftest import Client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MEMORIES = 40
ROUNDS = 5


def _scope(user: str) -> common_pb2.Scope:
    return common_pb2.Scope(user_id=user)


def _seed(client: Client, user: str) -> list[str]:
    resp = client.memory.Add(
        memory_pb2.AddRequest(
            scope=_scope(user),
            messages=[
                memory_pb2.Message(role="user", content=f"I have a friend named Tom{1000 + i}.")
                for i in range(MEMORIES)
            ],
        )
    )
    ids = [r.memory.id for r in resp.results if r.event == memory_pb2.EVENT_ADD]
    assert len(ids) == MEMORIES
    return ids


def _race(client: Client, user: str, ids: list[str]) -> dict[str, list[tuple[str, grpc.StatusCode]]]:
    """Two Updates and one Delete per memory, all submitted at once; (call, status) per memory."""

    def update(mid: str, n: int) -> tuple[str, str, grpc.StatusCode]:
        req = memory_pb2.UpdateRequest(scope=_scope(user), memory_id=mid, text=f"My friend Ann{n} moved to Paris.")
        try:
            client.memory.Update(req, timeout=60)
            return mid, "update", grpc.StatusCode.OK
        except grpc.RpcError as exc:
            return mid, "update", exc.code()

    def delete(mid: str) -> tuple[str, str, grpc.StatusCode]:
        try:
            client.memory.Delete(memory_pb2.DeleteRequest(scope=_scope(user), memory_id=mid), timeout=60)
            return mid, "delete", grpc.StatusCode.OK
        except grpc.RpcError as exc:
            return mid, "delete", exc.code()

    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for i, mid in enumerate(ids):
            futures += [pool.submit(update, mid, 2 * i), pool.submit(update, mid, 2 * i + 1), pool.submit(delete, mid)]
        results = [f.result() for f in futures]
    out: dict[str, list[tuple[str, grpc.StatusCode]]] = {mid: [] for mid in ids}
    for mid, call, code in results:
        out[mid].append((call, code))
    return out


def _check_nothing_visible(client: Client, user: str, ids: list[str]) -> None:
    deleted = set(ids)
    assert client.memory.List(memory_pb2.ListRequest(scope=_scope(user), page_size=1000)).memories == []
    hits = client.memory.Search(memory_pb2.SearchRequest(scope=_scope(user), query="who are my friends?", limit=50))
    assert [h.memory.id for h in hits.hits] == []
    for entity in (user, "Tom1000", "Ann1", "Paris"):
        try:
            sub = client.graph.Subgraph(graph_pb2.SubgraphRequest(scope=_scope(user), entity=entity, depth=2))
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc
            continue
        leaked = [e for e in sub.edges if e.memory_id in deleted]
        assert leaked == [], f"Subgraph({entity}) shows relations of deleted memories: {leaked[:3]}"
    try:
        paths = client.graph.Paths(graph_pb2.PathsRequest(scope=_scope(user), source=user, target="Paris"))
        assert [e for p in paths.paths for e in p.edges if e.memory_id in deleted] == []
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND, exc


def test_concurrent_update_update_delete_leave_nothing_behind(client: Client) -> None:
    for round_ in range(ROUNDS):
        user = f"race-{uuid.uuid4().hex[:8]}"
        ids = _seed(client, user)
        outcomes = _race(client, user, ids)

        for mid, calls in outcomes.items():
            codes = Counter((call, code) for call, code in calls)
            assert codes[("delete", grpc.StatusCode.OK)] == 1, (round_, mid, calls)
            unexpected = [
                c for c in calls if c[1] not in (grpc.StatusCode.OK, grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND)
            ]
            assert unexpected == [], (round_, mid, calls)
            history = client.memory.History(memory_pb2.HistoryRequest(scope=_scope(user), memory_id=mid)).entries
            events = [h.event for h in history]
            assert events[0] == memory_pb2.EVENT_ADD and events[-1] == memory_pb2.EVENT_DELETE, (round_, events)
            assert events.count(memory_pb2.EVENT_DELETE) == 1, (round_, events)
            # every acknowledged update is in the history, before the delete; nothing else is
            assert events[1:-1] == [memory_pb2.EVENT_UPDATE] * codes[("update", grpc.StatusCode.OK)], (round_, calls)

        _check_nothing_visible(client, user, ids)
        report = client.admin.Verify(admin_pb2.VerifyRequest())
        assert report.consistent, (round_, report)


def test_expected_version_gives_optimistic_concurrency(client: Client) -> None:
    user = f"cas-{uuid.uuid4().hex[:8]}"
    (mid,) = _seed(client, user)[:1]
    got = client.memory.Get(memory_pb2.GetRequest(scope=_scope(user), memory_id=mid)).memory
    assert got.version == 1
    upd = memory_pb2.UpdateRequest(scope=_scope(user), memory_id=mid, text="Tom moved to Rome.", expected_version=1)
    assert client.memory.Update(upd).memory.version == 2
    with pytest.raises(grpc.RpcError) as stale:
        client.memory.Update(upd)  # still based on version 1
    assert stale.value.code() == grpc.StatusCode.ABORTED and "version 2" in (stale.value.details() or "")
    with pytest.raises(grpc.RpcError) as stale_delete:
        client.memory.Delete(memory_pb2.DeleteRequest(scope=_scope(user), memory_id=mid, expected_version=1))
    assert stale_delete.value.code() == grpc.StatusCode.ABORTED
    client.memory.Delete(memory_pb2.DeleteRequest(scope=_scope(user), memory_id=mid, expected_version=2))
    with pytest.raises(grpc.RpcError) as gone:
        client.memory.Update(memory_pb2.UpdateRequest(scope=_scope(user), memory_id=mid, text="Tom is back."))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
