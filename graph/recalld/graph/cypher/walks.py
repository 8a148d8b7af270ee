"""EntityGraph, the traversals: walks from seeds (``expand``, and ``expand_walks`` where the
backend packs walks into strings), subgraphs and paths between two entities. One walk length per
query with a LIMIT (see the package docstring); subgraphs go breadth-first, one query per level."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

from recalld.graph.cypher.entities import CypherEntityLookups, entity_aliases_query
from recalld.graph.cypher.predicates import scope_predicate, validity_predicate
from recalld.graph.cypher.runner import Query, Row
from recalld.graph.cypher.schema import MAX_DEPTH
from recalld.graph.cypher.values import entity_key, opt_time
from recalld.kernel.domain import CURRENT, Edge, EntityNode, Path, Scope, Subgraph, Validity, norm
from recalld.kernel.times import from_micros
from recalld.kernel.walks import Walks

_EDGE_LIST = (
    "[r IN relationships(p) | [startNode(r).name, r.predicate, endNode(r).name, r.memory_id, r.valid_from, r.valid_to]]"
)
_SIMPLE_PATH = "ALL(n IN nodes(p) WHERE single(x IN nodes(p) WHERE x = n))"

# A walk packed into one string (for FalkorDB: CypherGraphStore's ``unpack``): the start's name,
# then per edge PACK_EDGE and its six fields joined by PACK_FIELD, times in decimal micros, a
# missing time empty. FalkorDB's Python client parses every value of a reply in Python: the 1,000
# two-edge walks around a user's hub cost 34 ms of CPU as lists, 3 ms as one string each. Neither
# separator can occur in a stored FalkorDB string: strings are stored through encode_text, where
# U+0001 is only ever followed by U+0001 or U+0002.
PACK_EDGE = "\x01\x04"
PACK_FIELD = "\x01\x03"


def _packed_edge(r: str) -> str:
    f = "'\x01\x03'"
    return (
        f"'\x01\x04' + startNode({r}).name + {f} + {r}.predicate + {f} + endNode({r}).name + {f} + {r}.memory_id + "
        f"{f} + coalesce(toString({r}.valid_from), '') + {f} + coalesce(toString({r}.valid_to), '')"
    )


def _bound(depth: int) -> int:
    """A variable-length bound, formatted into the statement: validated, never a caller string."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an integer in 1..{MAX_DEPTH}, not {depth!r}")
    return depth


def _relation_predicate(scope: Scope, validity: Validity | None, var: str = "r") -> tuple[str, dict[str, Any]]:
    where, params = scope_predicate(var, scope)
    vtext, vparams = validity_predicate(var, validity)
    return where + vtext, {**params, **vparams}


def expand_query(
    scope: Scope, seed: str, hops: int, limit: int, validity: Validity | None = None, *, packed: bool = False
) -> Query:
    """Walks of exactly ``hops`` edges from one seed, every edge visible in the scope and valid, no
    entity visited twice, at most ``limit`` of them. One length per query, so the database streams
    and stops at the limit instead of enumerating (and sorting) every walk around a hub.
    ``packed`` (FalkorDB): each walk as one string (``PACK_EDGE``, column ``walk``), its steps
    written out (``(s)-[r1]-(n1)-[r2]-(n2)``, each relation's predicate and the nodes pairwise
    distinct), which FalkorDB runs in 0.65 of the time of the variable-length path and its
    ``ALL`` over ``relationships(p)`` (8.5 against 13.0 ms for a hub's 1,000 two-edge walks)."""
    k = _bound(hops)
    key = {"seed": entity_key(scope.namespace, norm(seed)), "limit": limit}
    if packed:
        rels = [f"r{i}" for i in range(1, k + 1)]
        nodes = ["s", *(f"n{i}" for i in range(1, k + 1))]
        steps = "".join(f"-[{r}:REL]-({n}:Entity)" for r, n in zip(rels, nodes[1:], strict=True))
        wheres: list[str] = []
        params: dict[str, Any] = {}
        for r in rels:
            where, params = _relation_predicate(scope, validity, r)  # the same parameters for each
            wheres.append(where)
        wheres += [f"{a} <> {b}" for i, a in enumerate(nodes) for b in nodes[i + 1 :]]
        walk = " + ".join(["s.name", *(_packed_edge(r) for r in rels)])
        text = f"MATCH (s:Entity {{key: $seed}}){steps} WHERE {' AND '.join(wheres)} RETURN {walk} AS walk LIMIT $limit"
        return Query("expand", text, key | params, packed=True)
    where, params = _relation_predicate(scope, validity)
    text = (
        f"MATCH (s:Entity {{key: $seed}}) MATCH p = (s)-[:REL*{k}..{k}]-(:Entity) "
        f"WHERE ALL(r IN relationships(p) WHERE {where}) AND {_SIMPLE_PATH} "
        f"RETURN s.name AS start_name, {_EDGE_LIST} AS edges LIMIT $limit"
    )
    return Query("expand", text, key | params)


def paths_query(
    scope: Scope, source: str, target: str, hops: int, limit: int, validity: Validity | None = None
) -> Query:
    """Simple paths of exactly ``hops`` edges between two entities over visible, valid relations."""
    where, params = _relation_predicate(scope, validity)
    k = _bound(hops)
    text = (
        "MATCH (s:Entity {key: $source}) "
        "MATCH (t:Entity {key: $target}) "
        f"MATCH p = (s)-[:REL*{k}..{k}]-(t) "
        f"WHERE ALL(r IN relationships(p) WHERE {where}) AND {_SIMPLE_PATH} "
        f"RETURN {_EDGE_LIST} AS edges LIMIT $limit"
    )
    return Query(
        "paths_between",
        text,
        {
            "source": entity_key(scope.namespace, norm(source)),
            "target": entity_key(scope.namespace, norm(target)),
            "limit": limit,
            **params,
        },
    )


def incident_edges_query(scope: Scope, frontier: Sequence[str], limit: int, validity: Validity | None = None) -> Query:
    """The visible, valid relations touching each frontier entity (norms), for one breadth-first
    level, in a fixed order. A relation shows up at most twice (once per end), so ``2 * n`` rows
    always hold the first ``n`` relations a level can add."""
    where, params = _relation_predicate(scope, validity)
    text = (
        "UNWIND range(0, size($frontier) - 1) AS i "
        "MATCH (n:Entity {key: $frontier[i]})-[r:REL]-(o:Entity) "
        f"WHERE {where} "
        "RETURN i AS i, n.name AS name, n.type AS type, startNode(r).name AS subject, r.predicate AS predicate, "
        "endNode(r).name AS object, r.memory_id AS memory_id, o.norm AS other, o.name AS other_name, "
        "o.type AS other_type, r.created_at AS created_at, r.ord AS ord, r.valid_from AS valid_from, "
        "r.valid_to AS valid_to "
        "ORDER BY i, created_at, memory_id, ord LIMIT $limit"
    )
    keys = [entity_key(scope.namespace, n) for n in frontier]
    return Query("incident_edges", text, {"frontier": keys, "limit": limit, **params})


def unpack_edge(packed: str, decode: Callable[[str], str]) -> Edge:
    """One edge of a packed walk (``_packed_edge``); ``decode`` undoes the backend's string encoding."""
    s, p, o, mid, vf, vt = packed.split(PACK_FIELD)
    vfrom, vto = from_micros(int(vf)) if vf else None, from_micros(int(vt)) if vt else None
    return Edge(decode(s), decode(p), decode(o), decode(mid), vfrom, vto)


def _edges(edges: Sequence[Sequence[Any]]) -> tuple[Edge, ...]:
    """An ``edges`` column (``_EDGE_LIST``): [subject, predicate, object, memory_id, valid_from,
    valid_to] per edge."""
    return tuple(Edge(s, p, o, mid, opt_time(vf), opt_time(vt)) for s, p, o, mid, vf, vt in edges)


class CypherEntityWalks(CypherEntityLookups):
    """The traversals of EntityGraph (and WalkingGraphStore's ``expand_walks``) over the runner.
    ``_unpack``: decodes one field of a packed walk, where the backend packs them (None: it does not)."""

    _unpack: Callable[[str], str] | None

    async def expand(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> list[Path]:
        """Shortest first across the seeds (every seed's one-edge walks in seed order, then their
        two-edge walks, ...), cut at ``max_paths`` overall (recalld.graph.walking)."""
        if self._unpack is not None:
            return (await self.expand_walks(scope, seeds, depth, max_paths, validity)).paths()
        return [
            Path(start=r["start_name"], edges=_edges(r["edges"]))
            async for rows in self._expand_rows(scope, seeds, depth, max_paths, validity, packed=False)
            for r in rows
        ]

    async def expand_walks(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> Walks:
        """The walks of ``expand`` as index tuples (recalld.kernel.walks): built straight from the
        packed rows where the backend packs them (each distinct edge text parsed once: walks around
        a hub share their first edge), else converted from ``expand``'s paths."""
        decode = self._unpack
        if decode is None:
            return Walks.of(await self.expand(scope, seeds, depth, max_paths, validity))
        out = Walks()
        starts: dict[str, int] = {}
        index: dict[str, int] = {}  # an edge's packed text -> its place in out.edges
        async for rows in self._expand_rows(scope, seeds, depth, max_paths, validity, packed=True):
            for r in rows:
                start, *parts = r["walk"].split(PACK_EDGE)
                origin = starts.get(start)
                if origin is None:
                    origin = starts[start] = len(out.starts)
                    out.starts.append(decode(start))
                steps = []
                for part in parts:
                    i = index.get(part)
                    if i is None:
                        i = index[part] = len(out.edges)
                        out.edges.append(unpack_edge(part, decode))
                    steps.append(i)
                out.origins.append(origin)
                out.steps.append(tuple(steps))
        return out

    async def _expand_rows(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity, *, packed: bool
    ) -> AsyncIterator[list[Row]]:
        """expand's queries: one per walk length and seed, each length for every seed before the
        next, until ``max_paths`` rows."""
        depth = min(max(depth, 1), MAX_DEPTH)  # the embedded store walks one edge even for depth 0
        found = 0
        walking = list(seeds)
        for hops in range(1, depth + 1):
            for seed in list(walking):
                budget = max_paths - found
                if budget <= 0:
                    return
                rows = await self._runner.read(expand_query(scope, seed, hops, budget, validity, packed=packed))
                if not rows:
                    walking.remove(seed)  # nothing this long from it (unknown, or nothing visible): nothing longer
                    continue
                found += len(rows)
                yield rows

    async def subgraph(
        self, scope: Scope, entity: str, depth: int, limit: int, validity: Validity = CURRENT
    ) -> Subgraph | None:
        """Breadth-first, one query per level, like the embedded store: the relations touching
        the entities found so far, at most ``limit`` of them."""
        start = norm(await self._canonical(scope, entity))
        rows = await self._runner.read(incident_edges_query(scope, [start], max(2 * limit, 1), validity))
        if not rows:
            return None  # unknown, or no relation visible in this scope
        nodes = {start: EntityNode(rows[0]["name"], rows[0]["type"])}
        edges: dict[tuple[str, str, str, str], Edge] = {}
        frontier: list[str] = []
        for level in range(depth):
            if level > 0:
                if not frontier or len(edges) >= limit:
                    break
                rows = await self._runner.read(incident_edges_query(scope, frontier, 2 * limit, validity))
            frontier = []
            for r in rows:
                key = (r["subject"], r["predicate"], r["object"], r["memory_id"])
                if key not in edges and len(edges) < limit:
                    edges[key] = Edge(*key, opt_time(r["valid_from"]), opt_time(r["valid_to"]))
                    if (other := r["other"]) not in nodes:
                        nodes[other] = EntityNode(r["other_name"], r["other_type"])
                        frontier.append(other)
        aliases: dict[str, list[str]] = {}
        by_key = {entity_key(scope.namespace, n): n for n in nodes}
        for r in await self._runner.read(entity_aliases_query(scope.namespace, list(nodes))):
            aliases.setdefault(by_key[r["key"]], []).append(r["alias"])
        return Subgraph(
            nodes=tuple(replace(v, aliases=tuple(aliases.get(k, ()))) for k, v in nodes.items()),
            edges=tuple(edges.values()),
        )

    async def paths_between(
        self, scope: Scope, source: str, target: str, max_depth: int, limit: int, validity: Validity = CURRENT
    ) -> list[Path] | None:
        source, target = await self._canonical(scope, source), await self._canonical(scope, target)
        known = await self._entities(scope, [source, target])
        s, t = norm(source), norm(target)
        if s not in known or t not in known:
            return None
        if limit <= 0:
            return []
        if s == t:  # the one simple path from an entity to itself has no edge
            return [Path(start=known[s][0], edges=())]
        paths: list[Path] = []
        for hops in range(1, min(max_depth, MAX_DEPTH) + 1):  # shortest first, like sorting all of them
            if len(paths) >= limit:
                break
            rows = await self._runner.read(paths_query(scope, source, target, hops, limit - len(paths), validity))
            paths += [Path(start=known[s][0], edges=_edges(r["edges"])) for r in rows]
        return paths
