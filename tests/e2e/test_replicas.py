"""Two stateless replicas against one FalkorDB and one Milvus server, as the Helm chart's
production mode runs them: both write (the same users, sync and asynchronous Adds, Updates and
Deletes) and reconcile at the same time for a minute. Nothing acknowledged is lost, nothing
deleted comes back, the vector index does not drift, and both replicas agree.

``RECALLD_TEST_REPLICA_SECONDS`` shortens or lengthens the load (default 30)."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from recalld.client import NotFound, Recalld
from tests.conftest import backend_env
from tests.harness import ServerProcess

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("RECALLD_TEST_REPLICA_SECONDS", "30"))
USERS = [f"patient-{i}" for i in range(6)]


def test_two_replicas_write_and_reconcile_together_without_loss_or_drift(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = {
        **backend_env(request, "falkordb+milvus"),
        "RECALLD_RECONCILE_INTERVAL_S": "1",
        "RECALLD_SWEEP_INTERVAL_S": "5",  # full sweeps race with the other replica's writes
        "RECALLD_ASYNC_ADD_WORKERS": "2",
    }
    with (
        ServerProcess(tmp_path / "a", env=env) as a,
        ServerProcess(tmp_path / "b", env=env) as b,
        Recalld(a.address) as ca,
        Recalld(b.address) as cb,
    ):
        alive: dict[str, tuple[str, str]] = {}  # memory id -> (user, text) it must have
        deleted: dict[str, str] = {}  # memory id -> user
        operations: list[tuple[Recalld, str]] = []
        errors: list[BaseException] = []
        counts = {"add": 0, "async": 0, "update": 0, "delete": 0}
        lock = threading.Lock()
        deadline = time.monotonic() + SECONDS

        def worker(n: int, client: Recalld) -> None:
            rnd = random.Random(n)
            i = 0
            try:
                while time.monotonic() < deadline:
                    i += 1
                    user = rnd.choice(USERS)
                    roll = rnd.random()
                    with lock:
                        mine = [(m, u) for m, (u, _) in alive.items() if u == user]
                    if roll < 0.55 or not mine:
                        text = f"Visit {n}-{i}: {user} saw doctor {rnd.randint(1, 999)} about a knee."
                        result = client.add(text, user_id=user, infer=False)
                        with lock:
                            for e in result.events:
                                alive[e.memory.id] = (user, e.memory.text)
                            counts["add"] += 1
                    elif roll < 0.65:
                        op = client.add(f"Async note {n}-{i} for {user}.", user_id=user, infer=False, mode="async")
                        with lock:
                            operations.append((client, op.operation_id))
                            counts["async"] += 1
                    elif roll < 0.85:
                        mid, u = rnd.choice(mine)
                        text = f"Corrected {n}-{i}: {u} saw doctor {rnd.randint(1, 999)} about a hip."
                        with lock:  # claim it: no other worker updates or deletes it meanwhile
                            if alive.pop(mid, None) is None:
                                continue
                        client.update(mid, text, user_id=u)
                        with lock:
                            alive[mid] = (u, text)
                            counts["update"] += 1
                    else:
                        mid, u = rnd.choice(mine)
                        with lock:
                            if alive.pop(mid, None) is None:
                                continue
                        client.delete(mid, user_id=u)
                        with lock:
                            deleted[mid] = u
                            counts["delete"] += 1
            except BaseException as exc:  # surfaced below: no unexpected error is tolerated
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n, (ca, cb)[n % 2])) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
        assert not errors, errors
        assert counts["add"] > 50 and counts["update"] > 5 and counts["delete"] > 5 and counts["async"] > 5, counts

        # Asynchronous Adds: each applied exactly once, whichever replica claimed it.
        for client, op_id in operations:
            (op,) = client.wait_operations([op_id], timeout=120)
            assert op.status == "succeeded" and op.attempts == 1, op
            for r in op.results:
                alive[r.memory_id] = (op.user_id, client.get(r.memory_id, user_id=op.user_id).text)

        time.sleep(3)  # a reconcile pass on each replica after the last write
        for client in (ca, cb):
            for mid, (user, text) in alive.items():
                assert client.get(mid, user_id=user).text == text
            for mid, user in deleted.items():
                with pytest.raises(NotFound):
                    client.get(mid, user_id=user)
            report = client.verify()
            assert report.consistent, report
            assert report.memories == report.vectors == len(alive), (report, len(alive))
        # The vector index serves both replicas with current vectors: a sample of exact texts, each the
        # nearest vector to itself (a stale vector of an older text would not be).
        for mid, (user, text) in random.Random(0).sample(sorted(alive.items()), 10):
            for client in (ca, cb):
                assert client.search(text, user_id=user, limit=5, mode="vector")[0].memory.id == mid
