from pathlib import Path

import pytest

from recalld.server.config import Settings, load_settings


def test_defaults_run_on_embedded_stores() -> None:
    s = load_settings({})
    assert s == Settings()
    assert s.data_dir == Path("data")
    assert s.milvus_uri == "data/milvus.db"
    assert s.milvus_index == "FLAT"


def test_environment_overrides_including_nested_limits() -> None:
    s = load_settings(
        {
            "RECALLD_DATA_DIR": "/srv/recalld",
            "RECALLD_LISTEN": "0.0.0.0:6000",
            "RECALLD_VECTOR_URI": "http://milvus:19530",
            "RECALLD_LIMITS_MAX_MESSAGES": "7",
            "RECALLD_SEARCH_GRAPH_DEPTH": "3",
            "RECALLD_RECONCILE_INTERVAL_S": "1.5",
        }
    )
    assert s.data_dir == Path("/srv/recalld")
    assert s.listen == "0.0.0.0:6000"
    assert s.milvus_uri == "http://milvus:19530" and s.milvus_index == "HNSW"
    assert s.limits.max_messages == 7
    assert s.search.graph_depth == 3
    assert s.reconcile_interval_s == 1.5


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="RECALLD_LIMITS_MAX_MESSAGES"):
        load_settings({"RECALLD_LIMITS_MAX_MESSAGES": "many"})
