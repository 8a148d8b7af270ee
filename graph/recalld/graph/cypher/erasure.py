"""ErasureLog: the erasure of a scope, recorded before anything is removed and resumed after a
crash; the removal itself is ONE statement (``erase_scope_query``).

    (:Erasure {id, user_id, agent_id, run_id, requested_at, requested_by, completed_at,
               memories, relations, entities, episodes, history_entries, operations, grants,
               vectors})                                   unique id

An erasure's counts are integer properties, one per ErasureCounts field, so that erase_scope adds
what it removed in the same statement that removes it (a JSON text could not be added to inside
Cypher)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from recalld.graph.cypher.predicates import scope_predicate
from recalld.graph.cypher.runner import CypherStoreBase, Query
from recalld.graph.cypher.values import lookup_key, opt_time
from recalld.graph.rows import decode_cache_clear
from recalld.kernel.domain import Erasure, ErasureCounts, Scope
from recalld.kernel.times import from_micros, to_micros

ERASURE_COUNTS = tuple(f.name for f in fields(ErasureCounts))
ERASURE_PROPS = ("id", "user_id", "agent_id", "run_id", "requested_at", "requested_by", "completed_at", *ERASURE_COUNTS)
_ERASURE_COLUMNS = ", ".join(f"er.{p} AS {p}" for p in ERASURE_PROPS)
_LOCK_ERASURE = "SET er._lock = true SET er._lock = null"


BEGIN_ERASURE = "MERGE (er:Erasure {id: $id}) ON CREATE SET er += $erasure"

GET_ERASURE = f"MATCH (er:Erasure {{id: $id}}) RETURN {_ERASURE_COLUMNS}"

UNFINISHED_ERASURES = f"""
MATCH (er:Erasure) WHERE er.completed_at IS NULL
RETURN {_ERASURE_COLUMNS} ORDER BY requested_at, id"""

# Adds the vectors and completes the erasure once; a second call changes nothing. Returns the record.
FINISH_ERASURE = f"""
MATCH (er:Erasure {{id: $id}})
{_LOCK_ERASURE}
WITH er, er.completed_at IS NULL AS first
SET er.vectors = CASE WHEN first THEN coalesce(er.vectors, 0) + $vectors ELSE er.vectors END,
    er.user_id = CASE WHEN first THEN $user_id ELSE er.user_id END,
    er.agent_id = CASE WHEN first THEN $agent_id ELSE er.agent_id END,
    er.run_id = CASE WHEN first THEN $run_id ELSE er.run_id END,
    er.completed_at = coalesce(er.completed_at, $at)
RETURN {_ERASURE_COLUMNS}"""


# erase_scope is ONE statement (one transaction in Neo4j, one atomic GRAPH.QUERY in FalkorDB), put
# together by erase_scope_query from the parts below. It carries one row from part to part: every
# aggregation groups on the erasure node and counts only (never on a list, which would be hashed
# once per input row), and every UNWIND of a list that may be empty appends a null, which matches
# nothing. Sizes are taken before the nodes they count are deleted. Episodes, operations, an
# agent's grants and a namespace's entities and aliases are found by label scan (their scope fields
# are not indexed): an erasure is rare, and a scan of one label is cheap next to its deletes.
#
# The erasure record, locked first: a second erase of the same erasure (a resumed one) waits, then
# finds nothing left.
_ERASE_BEGIN = """
OPTIONAL MATCH (er:Erasure {id: $erasure_id})
FOREACH (x IN CASE WHEN er IS NULL THEN [] ELSE [er] END | SET x._lock = true SET x._lock = null)
WITH er"""

# After ``OPTIONAL MATCH (m:Memory) WHERE <scope>``: the memories (every state) and their history,
# their relations, then the entities those relations touched that no relation touches any more,
# with the aliases naming them. (The WITH first: FalkorDB fails an index lookup on a property of a
# node the OPTIONAL MATCH just before did not find, "No record was given to locate a value".)
_ERASE_MEMORIES = """
WITH er, m
OPTIONAL MATCH (h:History {memory_id: m.id})
WITH er, collect(DISTINCT m) AS ms, collect(h) AS hs
WITH er, ms, hs, size(ms) AS memories, size(hs) AS history_entries
FOREACH (x IN hs | DELETE x)
WITH er, memories, history_entries, ms
UNWIND ms + [null] AS m
OPTIONAL MATCH ()-[r:REL {memory_id: m.id}]->()
WITH er, memories, history_entries, collect(DISTINCT m) AS ms, collect(r) AS rels
WITH er, memories, history_entries, ms, rels, size(rels) AS relations,
     [x IN rels | startNode(x)] + [x IN rels | endNode(x)] AS ends
FOREACH (x IN rels | DELETE x)
FOREACH (x IN ms | DELETE x)
WITH er, memories, history_entries, relations, ends
UNWIND ends + [null] AS e
OPTIONAL MATCH (e)-[y:REL]-()
WITH er, memories, history_entries, relations, e, count(y) AS degree
WITH er, memories, history_entries, relations, collect(DISTINCT CASE WHEN degree = 0 THEN e END) AS orphans
UNWIND orphans + [null] AS e
OPTIONAL MATCH (a:Alias {entity_key: e.key})
WITH er, memories, history_entries, relations, collect(DISTINCT e) AS orphans, collect(a) AS als
WITH er, memories, history_entries, relations, orphans, als, size(orphans) AS entities
FOREACH (x IN als | DELETE x)
FOREACH (x IN orphans | DELETE x)
WITH er, memories, history_entries, relations, entities"""

# The grants an erasure removes: about its user, and/or given or held by its agent (a run's: none).
_ERASE_GRANTS_OF_USER = "OPTIONAL MATCH (g:Grant {user_key: $grant_user_key}) WHERE g.user_id = $grant_user_id"
_ERASE_GRANTS_OF_USER_AGENT = (
    "OPTIONAL MATCH (g:Grant {user_key: $grant_user_key}) WHERE g.user_id = $grant_user_id "
    "AND (g.owner_agent = $grant_agent OR g.grantee_agent = $grant_agent)"
)
_ERASE_GRANTS_OF_AGENT = "OPTIONAL MATCH (g:Grant) WHERE g.owner_agent = $grant_agent OR g.grantee_agent = $grant_agent"
# A user's whole entity namespace (what the relations left: aliases, entities already orphaned).
_ERASE_NAMESPACE_ALIASES = "OPTIONAL MATCH (a:Alias) WHERE a.namespace = $namespace"
_ERASE_NAMESPACE_ENTITIES = "OPTIONAL MATCH (e:Entity) WHERE e.namespace = $namespace"

_ERASE_END = (
    "\nFOREACH (x IN CASE WHEN er IS NULL THEN [] ELSE [er] END |\n  SET "
    + ", ".join(f"x.{c} = coalesce(x.{c}, 0) + {c}" for c in ERASURE_COUNTS if c != "vectors")
    + ")\nRETURN "
    + ", ".join(f"{c} AS {c}" for c in ERASURE_COUNTS if c != "vectors")
)


def begin_erasure_query(erasure: Erasure) -> Query:
    return Query("begin_erasure", BEGIN_ERASURE, {"id": erasure.id, "erasure": erasure_props(erasure)})


def get_erasure_query(erasure_id: str) -> Query:
    return Query("get_erasure", GET_ERASURE, {"id": erasure_id})


def unfinished_erasures_query() -> Query:
    return Query("unfinished_erasures", UNFINISHED_ERASURES)


def finish_erasure_query(erasure_id: str, vectors: int, at: datetime, pseudonym: Scope) -> Query:
    return Query(
        "finish_erasure",
        FINISH_ERASURE,
        {"id": erasure_id, "vectors": vectors, "at": to_micros(at), "user_id": pseudonym.user_id,
         "agent_id": pseudonym.agent_id, "run_id": pseudonym.run_id},
    )  # fmt: skip


def _erase_step(match: str, var: str, counted: str, carried: Sequence[str], delete: str = "DELETE") -> str:
    """One more kind of node to remove: ``match`` binds ``var`` (OPTIONAL MATCH), the nodes are
    counted into ``counted`` and deleted; ``carried`` names the counts so far."""
    keep = ", ".join(["er", *carried])
    return (
        f"\n{match}\nWITH {keep}, collect({var}) AS doomed\nWITH {keep}, doomed, size(doomed) AS {counted}\n"
        f"FOREACH (x IN doomed | {delete} x)\nWITH {keep}, {counted}"
    )


def erase_scope_query(erasure_id: str, scope: Scope) -> Query:
    """The one statement of erase_scope (see _ERASE_BEGIN): memories matching ``scope`` as a read
    filter in any state, with their history and relations and the entities left without relations;
    episodes and operations matching it; the grants naming its user and/or agent (none for a run);
    for a scope that is only a user (not exact), everything left in the user's entity namespace. Adds the counts
    to the erasure's record (when there is one) and returns them, one row."""
    mwhere, params = scope_predicate("m", scope)
    epwhere, _ = scope_predicate("ep", scope)
    owhere, _ = scope_predicate("o", scope)
    params = {**params, "erasure_id": erasure_id}
    carried = ["memories", "history_entries", "relations", "entities"]
    text = _ERASE_BEGIN + f"\nOPTIONAL MATCH (m:Memory) WHERE {mwhere}" + _ERASE_MEMORIES
    text += _erase_step(f"OPTIONAL MATCH (ep:Episode) WHERE {epwhere}", "ep", "episodes", carried)
    carried.append("episodes")
    text += _erase_step(f"OPTIONAL MATCH (o:Operation) WHERE {owhere}", "o", "operations", carried)
    carried.append("operations")
    if scope.run_id:
        grants = ""
    elif scope.user_id and scope.agent_id:
        grants = _ERASE_GRANTS_OF_USER_AGENT
    elif scope.user_id:
        grants = _ERASE_GRANTS_OF_USER
    else:
        grants = _ERASE_GRANTS_OF_AGENT
    if grants:
        text += _erase_step(grants, "g", "grants", carried)
        params.update(
            {"grant_user_key": lookup_key(scope.user_id), "grant_user_id": scope.user_id} if scope.user_id else {}
        )
        params.update({"grant_agent": scope.agent_id} if scope.agent_id else {})
    else:
        text += f"\nWITH er, {', '.join(carried)}, 0 AS grants"
    carried.append("grants")
    # Not for an exact scope: {alice, exact} erases alice's user-level memories only, and the
    # namespace is shared with the memories her agents and runs keep.
    if scope.user_id and not scope.agent_id and not scope.run_id and not scope.exact:
        text += _erase_step(_ERASE_NAMESPACE_ALIASES, "a", "aliases", carried)
        text += _erase_step(_ERASE_NAMESPACE_ENTITIES, "e", "rest", carried, delete="DETACH DELETE")
        others = [c for c in carried if c != "entities"]
        text += f"\nWITH er, {', '.join(others)}, entities + rest AS entities"
        params["namespace"] = Scope(scope.user_id).namespace
    return Query("erase_scope", text + _ERASE_END, params)


def erasure_props(e: Erasure) -> dict[str, Any]:
    """The record begin_erasure creates (``completed_at`` absent: not completed)."""
    s = e.scope
    props: dict[str, Any] = {
        "id": e.id,
        "user_id": s.user_id,
        "agent_id": s.agent_id,
        "run_id": s.run_id,
        "requested_at": to_micros(e.requested_at),
        "requested_by": e.requested_by,
        **{c: getattr(e.counts, c) for c in ERASURE_COUNTS},
    }
    if e.completed_at is not None:
        props["completed_at"] = to_micros(e.completed_at)
    return props


def row_to_erasure(row: Mapping[str, Any]) -> Erasure:
    return Erasure(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        requested_at=from_micros(row["requested_at"]),
        requested_by=row["requested_by"] or "",
        counts=ErasureCounts(**{c: int(row[c] or 0) for c in ERASURE_COUNTS}),
        completed_at=opt_time(row["completed_at"]),
    )


def erasure_counts(row: Mapping[str, Any]) -> ErasureCounts:
    """The counts erase_scope returns (every field but ``vectors``)."""
    return ErasureCounts(**{c: int(row[c] or 0) for c in ERASURE_COUNTS if c != "vectors"})


class CypherErasureLog(CypherStoreBase):
    """ErasureLog over the runner."""

    async def begin_erasure(self, erasure: Erasure) -> None:
        await self._runner.write(begin_erasure_query(erasure))

    async def unfinished_erasures(self) -> list[Erasure]:
        return [row_to_erasure(r) for r in await self._runner.read(unfinished_erasures_query())]

    async def get_erasure(self, erasure_id: str) -> Erasure | None:
        rows = await self._runner.read(get_erasure_query(erasure_id))
        return row_to_erasure(rows[0]) if rows else None

    async def erase_scope(self, erasure_id: str, scope: Scope) -> ErasureCounts:
        """One statement, hence one transaction (see erase_scope_query); idempotent."""
        rows = await self._runner.write(erase_scope_query(erasure_id, scope))
        decode_cache_clear()  # no erased text stays decoded in this process
        return erasure_counts(rows[0]) if rows else ErasureCounts()

    async def finish_erasure(self, erasure_id: str, vectors: int, at: datetime, pseudonym: Scope) -> Erasure:
        rows = await self._runner.write(finish_erasure_query(erasure_id, vectors, at, pseudonym))
        if not rows:
            raise KeyError(erasure_id)
        return row_to_erasure(rows[0])
