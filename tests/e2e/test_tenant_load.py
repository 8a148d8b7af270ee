"""Issue 10, item 8: two tenants under concurrent load on a real server with authentication on
(bench/tenants.py), on every backend combination, and one fault run with the Milvus server killed
and restarted in the middle of the load.

Each run: zero cross-tenant search hits, zero unexpected errors, every acknowledged Add's
memories readable afterwards, Verify of each tenant consistent after the reconciler's passes. The
fault run also: some calls saw UNAVAILABLE (naming Milvus) while Milvus was down, none INTERNAL.

``RECALLD_TEST_LOAD_SECONDS`` (default 12) and ``RECALLD_TEST_LOAD_CLIENTS`` (default 16) size the
load; ``python -m bench.tenants`` is the full-size run (60 s, 32 clients)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.tenants import LoadResult, run
from tests.conftest import BACKENDS, backend_env
from tests.harness import MilvusServerProcess

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("RECALLD_TEST_LOAD_SECONDS", "12"))
CLIENTS = int(os.environ.get("RECALLD_TEST_LOAD_CLIENTS", "16"))


def check(result: LoadResult) -> None:
    where = f"server log: {result.server_log}"
    assert result.cross_tenant_hits == 0, (result.errors[:10], where)
    assert not result.errors, (len(result.errors), result.errors[:10], where)
    assert result.unknown_hits == 0, where
    assert not result.memories_lost, (len(result.memories_lost), result.memories_lost[:10], where)
    assert result.verify_consistent, (result.verify, where)
    assert result.adds_acknowledged > 0 and result.ops["search"] > 0 and result.ops["delete"] > 0, result.ops
    assert result.memories_checked > 0 and result.hits_checked > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_tenants_under_load_stay_apart_and_consistent(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    result = run(tmp_path, backend=backend, seconds=SECONDS, clients=CLIENTS, env=backend_env(request, backend))
    check(result)
    assert not result.unavailable, result.unavailable


def test_milvus_killed_mid_load_answers_unavailable_and_loses_no_acknowledged_add(
    request: pytest.FixtureRequest, tmp_path: Path, milvus_server: MilvusServerProcess
) -> None:
    """The session's Milvus server is killed (SIGKILL) and restarted on its data directory and
    ports: later tests find it serving again."""
    env = backend_env(request, "falkordb+milvus")
    result = run(
        tmp_path, backend="falkordb+milvus", seconds=SECONDS, clients=CLIENTS, fault=True, env=env, milvus=milvus_server
    )
    assert not result.internal, (result.internal, f"server log: {result.server_log}")
    check(result)
    assert result.unavailable["search"] > 0, result.unavailable
    assert result.unavailable_without_milvus == 0, result.unavailable_samples
    assert result.recover_s >= 0, "no Search succeeded after Milvus came back"
