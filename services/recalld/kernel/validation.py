"""Validators of the values a request names: scopes and memory ids.

Reads accept any scope id the store may hold (1-256 characters, no control characters), so data
stored before a rule tightened stays listable, erasable and deletable. New writes (Add, its
asynchronous and bulk forms, a new grant) also refuse ids that show nothing: only whitespace or
zero-width characters (" ", "\\u200b", "\\ufeff").
"""

from __future__ import annotations

import re
import unicodedata

from recalld.kernel.domain import Scope
from recalld.kernel.errors import InvalidArgument

_SCOPE_VALUE = re.compile(r"^[^\x00-\x1f]{1,256}$")
_MEMORY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def validate_scope(scope: Scope) -> None:
    """A scope a read or a change of existing memories may name."""
    if scope.is_empty:
        raise InvalidArgument("scope is required: set at least one of user_id, agent_id, run_id")
    for name, value in scope.items():
        if not _SCOPE_VALUE.match(value):
            raise InvalidArgument(f"scope.{name} must be 1-256 characters without control characters")


def validate_new_scope(scope: Scope) -> None:
    """A scope new memories (or a new grant) are written under: :func:`validate_scope`, and no id
    that is only whitespace or zero-width characters."""
    validate_scope(scope)
    for name, value in scope.items():
        if blank(value):
            raise InvalidArgument(f"scope.{name} must show at least one character: not only whitespace or zero-width")


def blank(value: str) -> bool:
    """Only whitespace and invisible format characters (zero-width space, joiners, BOM)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value)


def validate_memory_id(memory_id: str) -> None:
    if not memory_id:
        raise InvalidArgument("memory_id is required")
    if not _MEMORY_ID.match(memory_id):
        raise InvalidArgument(f"memory_id {memory_id[:80]!r} is not a memory id (a lowercase UUID)")
