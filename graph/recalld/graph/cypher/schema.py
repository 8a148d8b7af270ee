"""What is stored and how it is indexed: the property names the statements share, the
indexes and uniqueness constraints (rendered in each backend's dialect), the statements that list
them, and the full-text index of the lexical search. The data model is in the package docstring."""

from __future__ import annotations

SCOPE_PROPS = ("user_id", "agent_id", "run_id")
# Validity, retirement and reinforcement: read with the memory, kept by replace_memory.
LIFECYCLE_PROPS = (
    "valid_from",
    "valid_to",
    "retired_at",
    "superseded_by",
    "retired_by_rule",
    "confirmations",
    "confirmed_at",
)
# Living memory: importance, use, expiry and the structured attributes (JSON [[name, value], ...]).
# Nodes written before they existed lack them; reads return null, which means the default.
LIVING_PROPS = ("importance", "last_used_at", "expires_at", "attributes")
SCOPE_KEYS = {"user_id": "user_key", "agent_id": "agent_key", "run_id": "run_key"}
MEMORY_PROPS = (
    "id",
    "user_id",
    "agent_id",
    "run_id",
    "text",
    "hash",
    "metadata",
    "triples",
    "episode_id",
    "reference_time",
    "created_at",
    "updated_at",
    "state",
    "version",
    "indexed",
    *LIFECYCLE_PROPS,
    *LIVING_PROPS,
    "speaker",
)
META_STRING_PREFIX = "m_s_"
META_NUMBER_PREFIX = "m_n_"
GENERIC_TYPES = ("entity", "concept")  # an entity's type may be refined from these, never from others
MAX_DEPTH = 8  # longest walk a statement is built for; the store clamps to it (the service allows 4)

# The memory columns, named like the stored properties (what memory_from_fields reads).
MEMORY_COLUMNS = ", ".join(f"m.{p} AS {p}" for p in MEMORY_PROPS)


# Indexes and uniqueness, declared once; each backend renders them in its dialect.
UNIQUE_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Memory", ("id",)),
    ("Episode", ("id",)),
    ("Entity", ("key",)),
    ("Alias", ("key",)),
    ("Operation", ("id",)),
    ("Counter", ("key",)),
    ("ApiKey", ("id",)),
    ("Tenant", ("key",)),
    ("Erasure", ("id",)),
)
NODE_INDEXES: tuple[tuple[str, str], ...] = (
    ("Memory", "user_key"),
    ("Memory", "agent_key"),
    ("Memory", "run_key"),
    ("Memory", "dedup_key"),
    ("Memory", "indexed"),
    ("Memory", "expires_at"),
    ("History", "memory_id"),
    ("Alias", "entity_key"),
    ("Operation", "status"),
    ("Grant", "user_key"),
    ("ApiKey", "tenant_key"),
)
REL_INDEXES: tuple[tuple[str, str], ...] = (("REL", "memory_id"),)


def neo4j_schema() -> list[str]:
    """Neo4j 5 DDL, idempotent (``IF NOT EXISTS``); uniqueness constraints bring their own index. Last,
    the full-text index of the lexical search."""
    out = []
    for label, props in UNIQUE_KEYS:
        name = f"recalld_{label.lower()}_{'_'.join(props)}"
        keys = ", ".join(f"n.{p}" for p in props)
        target = keys if len(props) == 1 else f"({keys})"
        out.append(f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE {target} IS UNIQUE")
    for label, prop in NODE_INDEXES:
        out.append(f"CREATE INDEX recalld_{label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})")
    for rel, prop in REL_INDEXES:
        out.append(f"CREATE INDEX recalld_{rel.lower()}_{prop} IF NOT EXISTS FOR ()-[r:{rel}]-() ON (r.{prop})")
    out.append(NEO4J_FULLTEXT_INDEX)
    return out


def falkordb_indexes() -> list[tuple[str, str, str]]:
    """FalkorDB range indexes as (label, property, statement). FalkorDB has no ``IF NOT EXISTS``:
    the backend skips those ``db.indexes()`` already lists. A unique constraint needs an index on
    each of its properties, so those come first."""
    out: list[tuple[str, str, str]] = []
    for label, props in UNIQUE_KEYS:
        out += [(label, p, f"CREATE INDEX FOR (n:{label}) ON (n.{p})") for p in props]
    out += [(label, p, f"CREATE INDEX FOR (n:{label}) ON (n.{p})") for label, p in NODE_INDEXES]
    out += [(rel, p, f"CREATE INDEX FOR ()-[r:{rel}]-() ON (r.{p})") for rel, p in REL_INDEXES]
    return out


LIST_INDEXES = "CALL db.indexes() YIELD label, properties RETURN label AS label, properties AS properties"
# The index types of each property, {property: [type, ...]} per label ("RANGE", "FULLTEXT", ...).
LIST_INDEX_TYPES = "CALL db.indexes() YIELD label, types RETURN label AS label, types AS types"

# The lexical index on the memory text. Both databases update it in the transaction that writes the
# text: a replace is found by its new text at once, a deleted node is gone from it. FalkorDB's is on
# the MemoryText label (see the module docstring); nodes written before it existed get that label
# in batches first (LABEL_MEMORY_TEXT until it labels none), then the index is created. It also
# indexes ``user_key`` (a hex digest: one token), so that a user's search asks for
# ``@user_key:<key> @text:(...)`` and reads that user's matches only; at 300k memories an unscoped
# "live" matched 39k memories and took 225 ms (bench/million.py).
FALKORDB_FULLTEXT_INDEX = (
    "CALL db.idx.fulltext.createNodeIndex({label: 'MemoryText', language: 'english'}, 'text', 'user_key')"
)
FALKORDB_FULLTEXT_DROP = "CALL db.idx.fulltext.drop('MemoryText')"
LABEL_MEMORY_TEXT = (
    "MATCH (m:Memory) WHERE NOT m:MemoryText WITH m LIMIT $batch SET m:MemoryText RETURN count(m) AS labelled"
)
NEO4J_FULLTEXT_INDEX = (
    "CREATE FULLTEXT INDEX recalld_memory_text IF NOT EXISTS FOR (m:Memory) ON EACH [m.text] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'english'}}"
)


LIST_CONSTRAINTS = (
    "CALL db.constraints() YIELD type, label, properties, status "
    "RETURN type AS type, label AS label, properties AS properties, status AS status"
)
