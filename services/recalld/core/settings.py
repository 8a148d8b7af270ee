"""Settings the core consumes: request limits and search behaviour (values only, no I/O)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from recalld.kernel import slots


class FusionMethod(enum.StrEnum):
    WEIGHTED = "weighted"  # cosine + alpha * normalized graph score
    RRF = "rrf"  # reciprocal rank fusion


class GraphRanking(enum.StrEnum):
    WALKS = "walks"  # each memory scored by its best walk from a seed
    PPR = "ppr"  # personalized PageRank over the walked subgraph (recalld.core.spreading)


@dataclass(frozen=True, slots=True)
class Limits:
    max_messages: int = 100  # per Add
    max_message_chars: int = 16_000  # per message content
    max_metadata_bytes: int = 16_384  # JSON-encoded
    max_query_chars: int = 2_000
    max_text_chars: int = 16_000  # Update text
    max_request_bytes: int = 4 * 1024 * 1024  # gRPC receive limit
    max_memories_per_user: int = 0  # current memories one user may hold (0: no limit); Add refuses beyond


@dataclass(frozen=True, slots=True)
class SearchSettings:
    graph_depth: int = 2
    vector_candidates: int = 50
    max_paths: int = 1000
    fusion: FusionMethod = FusionMethod.WEIGHTED
    graph_alpha: float = 0.15  # score fusion: weight of the normalized graph score (see README: fusion weights)
    rrf_k: int = 60
    vector_weight: float = 1.0
    graph_weight: float = 1.0
    seed_hits: int = 3  # top vector hits whose entities seed the traversal
    graph_ranking: GraphRanking = GraphRanking.PPR  # better than walks in each LoCoMo dev conversation
    ppr_damping: float = 0.5  # spreading: the chance to move on rather than restart at a seed
    lexical: bool = True  # hybrid mode adds full-text matches (recalld.core.lexical)
    lexical_alpha: float = 0.1  # score fusion: weight of the normalized full-text score (cross-validated)
    lexical_weight: float = 1.0  # rank fusion: weight of the full-text list
    lexical_candidates: int = 50
    lexical_linked: bool = False  # names linked to graph entities stay in the full-text query
    time_alpha: float = 0.2  # score fusion: boost of memories of the time the query names (cross-validated); 0: off
    time_weight: float = 1.0  # rank fusion: weight of that list
    # score fusion: "first" / "last" / "now" in the query: its best hits earliest / latest first; 0: off
    time_order_alpha: float = 0.3
    # score fusion: boost of what a person the query names said, where the candidates were said by
    # several speakers ("What is Caroline's identity?" in a conversation of two; cross-validated); 0: off
    speaker_alpha: float = 0.3


# Relations that hold one value at a time, and predicates as the extractor writes them -> the
# class they are compared as: the relation classes of recalld.kernel.slots (one table, as data).
DEFAULT_SINGLE_VALUED = slots.single_valued()
DEFAULT_EQUIVALENTS: dict[str, str] = {**slots.equivalents(), "is": "is_a"}


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """How an Add reconciles new facts with the scope (see recalld.core.reconcile)."""

    enabled: bool = True  # False: every fact is added (exact repeats are still NOOPs)
    noop_similarity: float = 0.90  # cosine at or above which a fact that says nothing new is a NOOP
    neighbours: int = 5  # vector neighbours compared per fact
    single_valued: frozenset[str] = DEFAULT_SINGLE_VALUED
    equivalents: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EQUIVALENTS))
    # LLM-assisted reconciliation (with RECALLD_TRUTH_JUDGE=llm): which undecided facts are asked
    judge_similarity: float = 0.5  # a candidate this close (cosine) makes a plain ADD worth asking about
    judge_candidates: int = 3  # the closest ones shown per fact
    # predicates the relation table does not list: compared with its classes' examples by the
    # embedder (recalld.core.classify); a class at or above slot_similarity (cosine) is taken
    slot_fallback: bool = True
    slot_similarity: float = slots.FALLBACK_SIMILARITY


@dataclass(frozen=True, slots=True)
class DecaySettings:
    """How a memory's weight in Search fades (recalld.core.profile.decay_weight)."""

    enabled: bool = True
    half_life_days: float = 365.0  # for memories whose attributes and predicates name no half-life
    # attribute name or predicate -> half-life in days ("inf": never fades); added to the defaults
    # of recalld.core.profile.ATTRIBUTES
    half_lives: Mapping[str, str] = field(default_factory=dict)
    floor: float = 0.8  # weight of a fully faded memory of importance 0 (importance 1 never fades)

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"decay floor must be between 0 and 1, not {self.floor}")
        if not self.half_life_days > 0:
            raise ValueError(f"decay half_life_days must be positive, not {self.half_life_days}")
        for name, raw in self.half_lives.items():
            try:
                ok = float(raw) > 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"decay half-life of {name!r} must be a positive number of days or inf, not {raw!r}")


@dataclass(frozen=True, slots=True)
class AsyncSettings:
    """Asynchronous Add (recalld.core.operations)."""

    workers: int = 2  # scopes are spread over this many in-order queues
    max_backlog: int = 10_000  # unfinished operations; beyond it ASYNC Add is RESOURCE_EXHAUSTED
    max_attempts: int = 5  # an operation failing with an unexpected error is retried this often
    lease_s: float = 300.0  # a RUNNING operation whose worker stopped is taken over after this
