"""GraphService core: a scope's subgraph around an entity, paths between entities."""

from __future__ import annotations

from recalld.kernel.domain import CURRENT, Path, Scope, Subgraph, Validity
from recalld.kernel.errors import InvalidArgument, NotFound
from recalld.kernel.ports import EntityGraph
from recalld.kernel.validation import validate_scope


def _bounded(value: int, default: int, low: int, high: int, name: str) -> int:
    if value == 0:
        return default
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be between {low} and {high}")
    return value


def _entity(name: str, field: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidArgument(f"{field} is required")
    if len(name) > 256:
        raise InvalidArgument(f"{field} is longer than 256 characters")
    return name


class GraphExplorer:
    def __init__(self, *, graph: EntityGraph) -> None:
        self._graph = graph

    async def subgraph(
        self, scope: Scope, entity: str, *, depth: int = 0, limit: int = 0, validity: Validity = CURRENT
    ) -> Subgraph:
        validate_scope(scope)
        entity = _entity(entity, "entity")
        depth = _bounded(depth, 2, 1, 4, "depth")
        limit = _bounded(limit, 200, 1, 1000, "limit")
        sub = await self._graph.subgraph(scope, entity, depth, limit, validity)
        if sub is None:
            raise NotFound(f"entity {entity!r} not found in this scope")
        return sub

    async def paths(
        self,
        scope: Scope,
        source: str,
        target: str,
        *,
        max_depth: int = 0,
        limit: int = 0,
        validity: Validity = CURRENT,
    ) -> list[Path]:
        validate_scope(scope)
        source = _entity(source, "source")
        target = _entity(target, "target")
        max_depth = _bounded(max_depth, 3, 1, 4, "max_depth")
        limit = _bounded(limit, 10, 1, 100, "limit")
        found = await self._graph.paths_between(scope, source, target, max_depth, limit, validity)
        if found is None:
            raise NotFound(f"entity {source!r} or {target!r} not found in this scope")
        return found
