"""Walks as index tuples: what a Search walks, without a Path object per walk.

A hybrid Search enumerates up to ``max_paths`` (1,000) walks and explains only the dozen hits it
returns. :class:`Walks` holds them compactly: each relation crossed once (``edges``, in the order
the walks first cross them), each walk as its start (an index into ``starts``) and its edges
(indices into ``edges``). ``path(i)`` builds the i-th walk as the :class:`~recalld.kernel.domain.
Path` that ``GraphStore.expand`` returns at that position. A store that walks in-process returns
them directly (``expand_walks``, an optional capability of a GraphStore); any other store's paths
convert with :meth:`Walks.of`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from recalld.kernel.domain import Edge, Path


@dataclass(slots=True, eq=False)
class Walks:
    starts: list[str] = field(default_factory=list)  # the seeds' names, as a Path starts
    edges: list[Edge] = field(default_factory=list)  # each relation crossed, once, first crossed first
    origins: list[int] = field(default_factory=list)  # walk -> its start (an index into starts)
    steps: list[tuple[int, ...]] = field(default_factory=list)  # walk -> its edges (indices into edges)

    def __len__(self) -> int:
        return len(self.steps)

    def path(self, i: int) -> Path:
        """The i-th walk as a Path."""
        edges = self.edges
        return Path(self.starts[self.origins[i]], tuple(edges[e] for e in self.steps[i]))

    def paths(self) -> list[Path]:
        return [self.path(i) for i in range(len(self.steps))]

    @classmethod
    def of(cls, paths: Iterable[Path]) -> Walks:
        """Paths as walks; a relation is one edge by identity (a store builds each once)."""
        out = cls()
        out.extend_paths(paths)
        return out

    def extend_paths(self, paths: Iterable[Path]) -> None:
        starts: dict[str, int] = {s: i for i, s in enumerate(self.starts)}
        index = {id(e): i for i, e in enumerate(self.edges)}
        for p in paths:
            origin = starts.get(p.start)
            if origin is None:
                origin = starts[p.start] = len(self.starts)
                self.starts.append(p.start)
            self.origins.append(origin)
            self.steps.append(tuple(self._index(index, e) for e in p.edges))

    def extend(self, other: Walks) -> None:
        """Append ``other``'s walks (their relations shared with these by identity)."""
        index = {id(e): i for i, e in enumerate(self.edges)}
        remap = [self._index(index, e) for e in other.edges]
        base = len(self.starts)
        self.starts += other.starts
        self.origins += [base + o for o in other.origins]
        self.steps += [tuple(remap[e] for e in s) for s in other.steps]

    def _index(self, index: dict[int, int], e: Edge) -> int:
        i = index.get(id(e))
        if i is None:
            i = index[id(e)] = len(self.edges)
            self.edges.append(e)
        return i
