import re
from pathlib import Path

import pytest

from recalld.core.settings import FusionMethod
from recalld.server.config import Consistency, GraphBackend, LogLevel, Settings, VectorIndex
from recalld.server.environment import known_variables, load_settings


def test_defaults_run_on_embedded_stores() -> None:
    s = load_settings({})
    assert s == Settings()
    assert s.data_dir == Path("data")
    assert s.milvus_uri == "data/milvus.db"
    assert s.vector.effective_index is VectorIndex.FLAT
    assert s.graph.backend is GraphBackend.EMBEDDED and s.search.fusion is FusionMethod.WEIGHTED


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
    assert s.milvus_uri == "http://milvus:19530" and s.vector.effective_index is VectorIndex.HNSW
    assert s.limits.max_messages == 7
    assert s.search.graph_depth == 3
    assert s.reconcile_interval_s == 1.5


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="RECALLD_LIMITS_MAX_MESSAGES"):
        load_settings({"RECALLD_LIMITS_MAX_MESSAGES": "many"})


def test_choices_are_enums_parsed_case_insensitively() -> None:
    s = load_settings(
        {
            "RECALLD_SEARCH_FUSION": "RRF",  # once silently weighted: the code compared with "rrf"
            "RECALLD_GRAPH_BACKEND": "FalkorDB",
            "RECALLD_VECTOR_CONSISTENCY": "strong",
            "RECALLD_VECTOR_INDEX": "hnsw",
            "RECALLD_LOG_LEVEL": "debug",
        }
    )
    assert s.search.fusion is FusionMethod.RRF
    assert s.graph.backend is GraphBackend.FALKORDB
    assert s.vector.consistency is Consistency.STRONG
    assert s.vector.effective_index is VectorIndex.HNSW
    assert s.log.level is LogLevel.DEBUG


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("RECALLD_SEARCH_FUSION", "borda", "'weighted', 'rrf'"),
        ("RECALLD_GRAPH_BACKEND", "cassandra", "'embedded', 'falkordb', 'neo4j'"),
        ("RECALLD_VECTOR_CONSISTENCY", "sometimes", "'Strong', 'Session', 'Bounded', 'Eventually'"),
        ("RECALLD_VECTOR_INDEX", "DISKANN", "'FLAT', 'HNSW', 'IVF_FLAT', 'AUTOINDEX'"),
        ("RECALLD_LOG_LEVEL", "chatty", "'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
    ],
)
def test_a_value_outside_the_choices_stops_start_up_with_the_choices(name: str, value: str, allowed: str) -> None:
    with pytest.raises(ValueError) as info:
        load_settings({name: value})
    assert str(info.value) == f"{name}={value!r} is not one of {allowed}"


def test_booleans_must_say_true_or_false() -> None:
    from recalld.server import environment

    assert environment._convert("yes", bool, "X") is True
    with pytest.raises(ValueError, match="X='maybe'"):
        environment._convert("maybe", bool, "X")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RECALLD_TLS_CERT_FILE": "/tls/tls.crt"}, "go together"),
        ({"RECALLD_TLS_KEY_FILE": "/tls/tls.key"}, "go together"),
        ({"RECALLD_TLS_CLIENT_CA_FILE": "/tls/ca.crt"}, "mutual TLS"),
        ({"RECALLD_METRICS_LISTEN": "9464"}, "RECALLD_METRICS_LISTEN='9464': expected host:port"),
        ({"RECALLD_HEALTH_LISTEN": "0.0.0.0:http"}, "RECALLD_HEALTH_LISTEN"),
        ({"RECALLD_LOG_FORMAT": "xml"}, "'text', 'json'"),
        ({"RECALLD_TRACING": "jaeger"}, "'off', 'otlp'"),
    ],
)
def test_operations_settings_that_cannot_work_stop_start_up(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings(env)


def test_known_variables_are_the_ones_load_settings_reads() -> None:
    names = known_variables()
    assert {"RECALLD_LISTEN", "RECALLD_METRICS_LISTEN", "RECALLD_LIMITS_MAX_MESSAGES", "RECALLD_LLM_MODEL"} <= set(
        names
    )
    assert "RECALLD_LIMITS" not in names and "RECALLD_LLM" not in names  # nested groups are expanded
    # every variable is read: a value either changes the settings or is refused naming it
    for name in names:
        try:
            changed = load_settings({name: "x9"}) != Settings()
        except ValueError as exc:
            changed = name in str(exc)
        assert changed, name


def test_workers_need_the_production_stores_and_a_fixed_port() -> None:
    with pytest.raises(ValueError, match="RECALLD_WORKERS=2 needs the production stores"):
        load_settings({"RECALLD_WORKERS": "2"})
    prod = {"RECALLD_GRAPH_BACKEND": "falkordb", "RECALLD_VECTOR_URI": "http://milvus:19530", "RECALLD_WORKERS": "2"}
    with pytest.raises(ValueError, match="fixed port"):
        load_settings({**prod, "RECALLD_LISTEN": "127.0.0.1:0"})
    assert load_settings({**prod, "RECALLD_LISTEN": "0.0.0.0:50051"}).workers == 2
    with pytest.raises(ValueError, match="RECALLD_WORKERS=0"):
        load_settings({"RECALLD_WORKERS": "0"})
    with pytest.raises(ValueError, match="MAX_QUEUED"):
        load_settings({"RECALLD_MAX_QUEUED_RPCS": "-1"})


def test_the_production_stores_run_more_calls_at_once_unless_told_otherwise() -> None:
    assert load_settings({}).max_concurrent_rpcs == 8  # embedded: the CPU and the model worker are the limit
    production = {"RECALLD_GRAPH_BACKEND": "falkordb", "RECALLD_VECTOR_URI": "http://milvus:19530"}
    assert load_settings(production).max_concurrent_rpcs == 16  # they wait on the network
    assert load_settings({**production, "RECALLD_MAX_CONCURRENT_RPCS": "6"}).max_concurrent_rpcs == 6
    assert load_settings({**production, "RECALLD_MAX_CONCURRENT_RPCS": "0"}).max_concurrent_rpcs == 0
