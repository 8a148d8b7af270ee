"""Requests as the core receives them: built once at the edge (the gRPC converters, the importer,
the operation log) and passed whole, so a new option is one field here and one line where it is
read, not a keyword argument threaded through every layer.

Checked by the core (recalld.core.memory.MemoryPipeline.check_add, HybridRetriever.search), not
here: a request object is what was asked, valid or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from recalld.kernel.domain import (
    CURRENT,
    Attribute,
    ChatMessage,
    Level,
    Metadata,
    MetadataFilter,
    Scope,
    SearchMode,
    TimeRange,
    Validity,
)


@dataclass(frozen=True, slots=True)
class AddCommand:
    """One Add: distil ``messages`` into memories of ``scope``.

    ``reference_time``: when the conversation happened (default: now). ``infer``: extract facts
    and reconcile them (else each message is stored as it is). ``importance`` (0..1, default 0.5)
    and ``ttl`` apply to every memory the Add makes. ``episode_id``: the id to record the Add
    under (an asynchronous Add's operation id), else a new one."""

    scope: Scope
    messages: Sequence[ChatMessage]
    metadata: Metadata | None = None
    reference_time: datetime | None = None
    infer: bool = True
    importance: float | None = None
    ttl: timedelta | None = None
    episode_id: str = ""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One Search: the memories of ``scope`` that answer ``query``, best first.

    ``limit`` (1-100; 0: 10) and ``threshold`` (0..1) bound the hits; ``filters``, ``time_range``,
    ``validity`` (default: what holds now) and ``attributes`` restrict them; ``levels`` search
    those levels of the scope's user as the scope's agent sees them."""

    scope: Scope
    query: str
    limit: int = 10
    threshold: float = 0.0
    filters: Sequence[MetadataFilter] = ()
    mode: SearchMode = SearchMode.HYBRID
    time_range: TimeRange | None = None
    validity: Validity = CURRENT
    levels: Sequence[Level] = ()
    attributes: Sequence[Attribute] = ()
