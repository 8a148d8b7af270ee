"""The embedded graph store: SQLite for durability, networkx for traversal.

SQLite (WAL, synchronous=FULL) is the system of record in ``<data_dir>/graph.db``.
The relations of each entity namespace are mirrored in a networkx
MultiDiGraph, built lazily from SQLite on first use and updated after each
committed write, so traversal never touches disk. All SQLite work runs on one
dedicated thread; callers stay on the event loop.

Layout: one module per port of recalld.kernel.ports, each a mixin with the store methods of that
concern, all over one shared connection and its thread (:class:`EmbeddedStoreBase`);
:class:`EmbeddedGraphStore` is all of them (the modules are named like recalld.graph.cypher's).

* ``connection``: :class:`EmbeddedStoreBase` (the SQLite connection, the thread every statement
  runs on, transactions, and the Lifecycle port).
* ``schema``: the tables, the full-text index and its triggers, and the migrations of older files
  (PRAGMA user_version).
* ``sql``: the memory and history columns, the scope, validity and time clauses every read
  shares, ids in chunks.
* ``mirror``: the networkx mirror of each namespace (loaded, kept in step, dropped); ``relations``:
  the entity and relation rows of a memory's triples. Both shared by the writes and erasure.
* ``memory_writes``, ``memory_reads``, ``fulltext``: MemoryWrites, MemoryReads, FullText.
* ``entities``, ``walks``: EntityGraph's lookups and its traversals (with ``expand_walks``).
* ``operations``, ``grants``, ``ledger``, ``erasure``, ``credentials``: OperationLog, GrantStore,
  IndexLedger, ErasureLog, CredentialStore.
"""

from __future__ import annotations

from recalld.graph.embedded.credentials import EmbeddedCredentialStore
from recalld.graph.embedded.erasure import EmbeddedErasureLog
from recalld.graph.embedded.fulltext import EmbeddedFullText
from recalld.graph.embedded.grants import EmbeddedGrantStore
from recalld.graph.embedded.ledger import EmbeddedIndexLedger
from recalld.graph.embedded.memory_reads import EmbeddedMemoryReads
from recalld.graph.embedded.memory_writes import EmbeddedMemoryWrites
from recalld.graph.embedded.operations import EmbeddedOperationLog
from recalld.graph.embedded.walks import EmbeddedEntityWalks

__all__ = ["EmbeddedGraphStore"]


class EmbeddedGraphStore(
    EmbeddedMemoryWrites,
    EmbeddedMemoryReads,
    EmbeddedFullText,
    EmbeddedEntityWalks,
    EmbeddedOperationLog,
    EmbeddedGrantStore,
    EmbeddedIndexLedger,
    EmbeddedErasureLog,
    EmbeddedCredentialStore,
):
    """GraphStore over SQLite + networkx in a data directory."""
