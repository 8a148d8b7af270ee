"""Settings the core consumes: request limits and search behaviour (values only, no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FusionMethod(enum.StrEnum):
    WEIGHTED = "weighted"  # cosine + alpha * normalized graph score
    RRF = "rrf"  # reciprocal rank fusion


@dataclass(frozen=True, slots=True)
class Limits:
    max_messages: int = 100  # per Add
    max_message_chars: int = 16_000  # per message content
    max_metadata_bytes: int = 16_384  # JSON-encoded
    max_query_chars: int = 2_000
    max_text_chars: int = 16_000  # Update text
    max_request_bytes: int = 4 * 1024 * 1024  # gRPC receive limit


@dataclass(frozen=True, slots=True)
class SearchSettings:
    graph_depth: int = 2
    vector_candidates: int = 50
    max_paths: int = 1000
    fusion: FusionMethod = FusionMethod.WEIGHTED
    graph_alpha: float = 0.15
    rrf_k: int = 60
    vector_weight: float = 1.0
    graph_weight: float = 1.0
    seed_hits: int = 3  # top vector hits whose entities seed the traversal
