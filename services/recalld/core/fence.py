"""In-process fence between writers and erasures of a scope (see recalld.core.erasure)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from recalld.kernel.domain import Scope
from recalld.kernel.errors import Unavailable


class ScopeFence:
    """Writers enter the scope they write; an erasure closes a scope to new writers and waits for
    the ones inside to leave."""

    def __init__(self) -> None:
        self._erasing: list[Scope] = []
        self._writers: dict[int, Scope] = {}
        self._changed = asyncio.Condition()
        self._next = 0

    def blocks(self, scope: Scope) -> bool:
        return any(e.contains(scope) for e in self._erasing)

    @contextlib.asynccontextmanager
    async def writing(self, scope: Scope) -> AsyncIterator[None]:
        if self.blocks(scope):
            raise Unavailable("this scope is being erased; retry once the erasure has completed")
        self._next += 1
        token = self._next
        self._writers[token] = scope
        try:
            yield
        finally:
            del self._writers[token]
            async with self._changed:
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def erasing(self, scope: Scope) -> AsyncIterator[None]:
        self._erasing.append(scope)
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: not any(scope.contains(w) for w in self._writers.values()))
            yield
        finally:
            self._erasing.remove(scope)
