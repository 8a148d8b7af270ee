"""The escaping functions of the lexical retriever, one per query language, without a server:
FTS5 (recalld.graph.sqlite_filters.fts5_match, checked against SQLite itself), RediSearch
(recalld.graph.falkordb.redisearch_queries) and Lucene (recalld.graph.neo4j.lucene_query); and the
Cypher statement that carries their output, which takes caller values as parameters only."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recalld.graph.cypher import Query, fulltext
from recalld.graph.falkordb import redisearch_queries
from recalld.graph.neo4j import lucene_query
from recalld.graph.sqlite_filters import fts5_match
from recalld.kernel.domain import CURRENT, FilterOp, MetadataFilter, Scope, TimeRange, Validity
from tests.unit.test_cypher import HOSTILE, MARK, NOW, SCOPE, returned_columns

HOSTILE_TERMS = [
    '"',
    "'",
    "-",
    ":",
    "*",
    "(",
    "|",
    "@",
    "\\",
    'x" OR "y',
    "x' OR 'y",
    "a)|(b",
    "@text:(foo)",
    "%foo%1",
    "$param",
    "-foo",
    "~foo",
    "foo*",
    "NEAR(a b)",
    "text:foo",
    "AND",
    "OR",
    "NOT",
    "a && b || !c",
    "{a TO b}",
    "[a TO b]",
    "foo^2",
    "foo~2",
    "/re.ex/",
    "a\x00b",
    "tab\there",
    "new\nline",
    HOSTILE,
]


# -- FTS5 ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")
    db.executemany(
        "INSERT INTO t(text) VALUES (?)",
        [("x or y",), ("foo bar",), ("a b",), ("Melanie painted a sunrise",), ("Zoë",)],
    )
    yield db
    db.close()


def _fts_hits(db: sqlite3.Connection, terms: list[str]) -> set[str]:
    match = fts5_match(terms)
    if not match:
        return set()
    return {r[0] for r in db.execute("SELECT text FROM t WHERE t MATCH ?", (match,))}


def test_fts5_quotes_each_term_and_ors_them() -> None:
    assert fts5_match(["Boston", "Sapiens"]) == '"Boston" OR "Sapiens"'
    assert fts5_match(['say "hi"']) == '"say ""hi"""'
    assert fts5_match(["a\x00b", "tab\tx"]) == '"a b" OR "tab x"'
    assert fts5_match(["Boston", "BOSTON", "boston"]) == '"Boston"'


@pytest.mark.parametrize("terms", [[], [""], ["  "], ["*", "-", '"', "()"]])
def test_fts5_nothing_to_match_is_empty(terms: list[str]) -> None:
    assert fts5_match(terms) == ""


@pytest.mark.parametrize("term", HOSTILE_TERMS)
def test_fts5_hostile_terms_parse_and_match_only_as_text(fts: sqlite3.Connection, term: str) -> None:
    hits = _fts_hits(fts, [term])  # no syntax error
    words = set(re.findall(r"\w+", term.lower()))
    assert all(words & set(re.findall(r"\w+", h.lower())) for h in hits), hits
    # 'x" OR "y' is the phrase "x or y", never "x" or "y"
    if term == 'x" OR "y':
        assert hits == {"x or y"}
    if term in ("*", "foo*", "-foo", "text:foo", "NEAR(a b)"):
        assert hits <= {"foo bar", "a b"}


def test_fts5_stems_and_folds_diacritics(fts: sqlite3.Connection) -> None:
    assert _fts_hits(fts, ["painting"]) == {"Melanie painted a sunrise"}
    assert _fts_hits(fts, ["zoe", "nothing"]) == {"Zoë"}


@given(st.lists(st.text(max_size=12), max_size=5))
def test_fts5_any_terms_parse(terms: list[str]) -> None:
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")
        db.execute("INSERT INTO t(text) VALUES ('some text')")
        match = fts5_match(terms)
        if match:
            db.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,)).fetchall()
    finally:
        db.close()


# -- RediSearch (FalkorDB) -------------------------------------------------------------------------

# RediSearch's query syntax is ASCII; of ASCII, only letters, digits, the space (AND) and an escaped
# "_" may reach a query.
_REDISEARCH_SAFE = re.compile(r"(?:[A-Za-z0-9 ]|\\_|[^\x00-\x7f])*")


def test_redisearch_one_query_per_term_words_anded() -> None:
    assert redisearch_queries(["Boston", "Sapiens"]) == ["Boston", "Sapiens"]
    assert redisearch_queries(["O'Brien", "2023-05-01", "New York"]) == ["O Brien", "2023 05 01", "New York"]
    assert redisearch_queries(["max_retries", "O’Brien’s", "5€"]) == ["max\\_retries", "O’Brien’s", "5€"]
    assert redisearch_queries(["Boston\\", "a\x00b"]) == ["Boston", "a b"]
    assert redisearch_queries(["Boston", "BOSTON", " boston "]) == ["Boston"]
    assert redisearch_queries(["Zoë", "ZOË"]) == ["Zoë", "ZOË"]  # RediSearch folds ASCII case only


@pytest.mark.parametrize("terms", [[], [""], ["  "], ["*", "-", '"', "()", "\\", "|@:"]])
def test_redisearch_nothing_to_match_is_no_query(terms: list[str]) -> None:
    assert redisearch_queries(terms) == []


@pytest.mark.parametrize("term", HOSTILE_TERMS)
def test_redisearch_hostile_terms_keep_no_syntax(term: str) -> None:
    for query in redisearch_queries([term]):
        assert _REDISEARCH_SAFE.fullmatch(query), query
        assert query == query.strip() and "  " not in query
    assert redisearch_queries(['x" OR "y']) == ["x OR y"]  # three words, all required: no "|"


@given(st.lists(st.text(max_size=12), max_size=5))
def test_redisearch_any_terms_keep_no_syntax(terms: list[str]) -> None:
    queries = redisearch_queries(terms)
    assert len(queries) <= len(terms)
    for query in queries:
        assert query and _REDISEARCH_SAFE.fullmatch(query), query


# -- Lucene (Neo4j) --------------------------------------------------------------------------------

_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')


def _lucene_phrases(query: str) -> list[str]:
    """The phrases of ``query`` (``"..." OR "..."``), unescaped; fails unless every special
    character inside a phrase is escaped and the phrases are joined by `` OR `` only."""
    phrases, i = [], 0
    while i < len(query):
        assert query[i] == '"', (query, i)
        i += 1
        text = []
        while query[i] != '"':
            c = query[i]
            if c == "\\":
                text.append(query[i + 1])
                i += 2
                continue
            assert c not in _LUCENE_SPECIAL, (query, i)
            text.append(c)
            i += 1
        phrases.append("".join(text))
        i += 1
        if i < len(query):
            assert query[i : i + 4] == " OR ", (query, i)
            i += 4
    return phrases


def test_lucene_quotes_escapes_and_ors() -> None:
    assert lucene_query(["Boston", "Sapiens"]) == '"Boston" OR "Sapiens"'
    assert lucene_query(['x" OR "y']) == '"x\\" OR \\"y"'
    assert lucene_query(["a-b:c/d"]) == '"a\\-b\\:c\\/d"'
    assert lucene_query(["AND", "OR"]) == '"AND" OR "OR"'  # quoted: words, not operators
    assert lucene_query(["a\x00b"]) == '"a b"'
    assert lucene_query(["Boston", "BOSTON"]) == '"Boston"'


@pytest.mark.parametrize("terms", [[], [""], ["  "], ["*", "-", '"', "()", "\\"]])
def test_lucene_nothing_to_match_is_empty(terms: list[str]) -> None:
    assert lucene_query(terms) == ""


@pytest.mark.parametrize("term", HOSTILE_TERMS)
def test_lucene_hostile_terms_stay_one_phrase(term: str) -> None:
    query = lucene_query([term])
    if query:
        cleaned = re.sub(r"[\x00-\x1f\x7f]", " ", term)
        assert _lucene_phrases(query) == [cleaned]


@given(st.lists(st.text(max_size=12), max_size=5))
def test_lucene_any_terms_stay_phrases(terms: list[str]) -> None:
    query = lucene_query(terms)
    phrases = _lucene_phrases(query) if query else []
    assert len(phrases) <= len(terms)
    assert all(any(c.isalnum() for c in p) for p in phrases)


# -- the Cypher statement ---------------------------------------------------------------------------


def _lexical_queries() -> list[Query]:
    filters = [MetadataFilter(MARK + "k", op, HOSTILE) for op in FilterOp if op is not FilterOp.IN]
    filters.append(MetadataFilter(MARK + "in", FilterOp.IN, [HOSTILE, 2, True]))
    window = TimeRange(NOW, NOW)
    out = []
    for call in (fulltext.FALKORDB_FULLTEXT_CALL, fulltext.NEO4J_FULLTEXT_CALL):
        for scope in (SCOPE, Scope(HOSTILE), Scope(HOSTILE, exact=True), Scope(agent_id=HOSTILE)):
            for validity in (None, CURRENT, Validity(as_of=NOW), Validity(include_retired=True)):
                out.append(fulltext.lexical_search_query(call, [HOSTILE, HOSTILE], scope, 7, filters, window, validity))
    return out


@pytest.mark.parametrize("query", _lexical_queries())
def test_lexical_statement_takes_caller_values_as_parameters(query: Query) -> None:
    assert MARK not in query.text
    assert set(re.findall(r"\$(\w+)", query.text)) == set(query.params)
    assert query.params["queries"] == [HOSTILE] and query.params["limit"] == 7
    literals = set(re.findall(r"'([^']*)'", query.text))
    assert literals <= {"active", "MemoryText", "recalld_memory_text"}
    for aliases, order_keys in returned_columns(query.text):
        assert aliases == ["id", "score"] and order_keys == ["score", "id"]
    assert "m.state = 'active'" in query.text


def test_lexical_statement_only_runs_a_known_full_text_call() -> None:
    with pytest.raises(ValueError):
        fulltext.lexical_search_query("MATCH (n) DETACH DELETE n", ["a"], SCOPE, 1)
