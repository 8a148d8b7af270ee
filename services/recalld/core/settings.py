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


class JudgeKind(enum.StrEnum):
    RULES = "rules"  # reconciliation by the rules alone (default)
    LLM = "llm"  # the rules, then the chat model for what they leave undecided


@dataclass(frozen=True, slots=True)
class Limits:
    """Request limits (RECALLD_LIMITS_*); a request beyond one is refused with RESOURCE_EXHAUSTED."""

    max_messages: int = field(default=100, metadata={"doc": "messages per Add"})
    max_message_chars: int = field(default=16_000, metadata={"doc": "characters per message"})
    max_metadata_bytes: int = field(default=16_384, metadata={"doc": "JSON-encoded metadata, in bytes"})
    max_query_chars: int = field(default=2_000, metadata={"doc": "characters per Search query"})
    max_text_chars: int = field(default=16_000, metadata={"doc": "characters of the new text of an Update"})
    max_request_bytes: int = field(
        default=4 * 1024 * 1024, metadata={"doc": "gRPC receive limit: bytes per request message"}
    )
    max_memories_per_user: int = field(
        default=0,
        metadata={
            "doc": "current memories one user may hold; an Add beyond it is refused (0: no limit; per-tenant "
            "overrides: `RECALLD_TENANT_MAX_MEMORIES_PER_USER`)"
        },
    )


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """How Search finds and fuses candidates (RECALLD_SEARCH_*)."""

    graph_depth: int = field(default=2, metadata={"doc": "hops walked from the entities the query names"})
    vector_candidates: int = field(
        default=50, metadata={"doc": "vector hits fetched per Search (at least the requested limit)"}
    )
    max_paths: int = field(
        default=1000,
        metadata={
            "doc": "graph walks per Search at most (a walk from the user's own node reaches every first-person fact)"
        },
    )
    fusion: FusionMethod = field(
        default=FusionMethod.WEIGHTED,
        metadata={
            "doc": "how hybrid search fuses its lists: `weighted` (score fusion: the cosine plus each other list's "
            "normalized score times its alpha, divided by one plus the alphas) or `rrf` (weighted reciprocal "
            "rank fusion)"
        },
    )
    graph_alpha: float = field(default=0.15, metadata={"doc": "score fusion: weight of the normalized graph score"})
    rrf_k: int = field(
        default=60, metadata={"doc": "rank fusion: the constant k (an item at rank r of a list adds weight / (k + r))"}
    )
    vector_weight: float = field(default=1.0, metadata={"doc": "rank fusion: weight of the vector list"})
    graph_weight: float = field(default=1.0, metadata={"doc": "rank fusion: weight of the graph list"})
    seed_hits: int = field(
        default=3, metadata={"doc": "top vector hits whose entities seed the graph traversal (walked one hop)"}
    )
    graph_ranking: GraphRanking = field(
        default=GraphRanking.PPR,  # better than walks in each LoCoMo dev conversation
        metadata={
            "doc": "`ppr`: graph candidates by personalized PageRank over the walks (x matched terms); `walks`: "
            "by their best walk"
        },
    )
    ppr_damping: float = field(
        default=0.5,
        metadata={"doc": "personalized PageRank: the chance to move on rather than restart at a seed"},
    )
    lexical: bool = field(
        default=True, metadata={"doc": "hybrid search adds full-text matches (`false`: no full-text retriever)"}
    )
    lexical_alpha: float = field(
        default=0.1, metadata={"doc": "score fusion: weight of the normalized full-text score (cross-validated)"}
    )
    lexical_weight: float = field(default=1.0, metadata={"doc": "rank fusion: weight of the full-text list"})
    lexical_candidates: int = field(
        default=50, metadata={"doc": "full-text matches fetched per Search (at least the requested limit)"}
    )
    lexical_linked: bool = field(
        default=False,
        metadata={
            "doc": "names that link to graph entities stay in the full-text query (`false`: they are left out, "
            "as the graph walks from them already, unless nothing else would remain)"
        },
    )
    time_alpha: float = field(
        default=0.2,
        metadata={"doc": "score fusion: boost of memories of the time the query names (cross-validated); 0: off"},
    )
    time_weight: float = field(
        default=1.0, metadata={"doc": "rank fusion: weight of the time list and of the ordering list"}
    )
    time_order_alpha: float = field(
        default=0.3,
        metadata={
            "doc": "score fusion: first / last / before / after in the query order its best hits earliest or "
            "latest first, with this weight; 0: off"
        },
    )
    current_first_k: int = field(
        default=3,
        metadata={
            "doc": 'among this many best hits, a newer one that reports a change ("now", "switched", '
            '"moved", ...) ranks above the older ones (recalld.core.currency); not for questions placed in '
            "time; 0: off"
        },
    )
    speaker_alpha: float = field(
        default=0.3,
        metadata={
            "doc": "score fusion: boost of what the person the query names said, among candidates said by "
            "several speakers (cross-validated); 0: off"
        },
    )


# Relations that hold one value at a time, and predicates as the extractor writes them -> the
# class they are compared as: the relation classes of recalld.kernel.slots (one table, as data).
DEFAULT_SINGLE_VALUED = slots.single_valued()
DEFAULT_EQUIVALENTS: dict[str, str] = {**slots.equivalents(), "is": "is_a"}


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """How an Add reconciles new facts with the scope (RECALLD_TRUTH_*; see recalld.core.reconcile)."""

    judge: JudgeKind = field(
        default=JudgeKind.RULES,
        metadata={
            "doc": "`rules`: reconciliation by the rules alone; `llm`: the chat model decides what the rules leave open"
        },
    )
    enabled: bool = field(
        default=True,
        metadata={"doc": "reconciliation on every Add (`false`: every fact is added; exact repeats are still NOOPs)"},
    )
    noop_similarity: float = field(
        default=0.90,
        metadata={"doc": "cosine at or above which a fact that says nothing new is a paraphrase (NOOP)"},
    )
    neighbours: int = field(default=5, metadata={"doc": "vector neighbours compared per new fact"})
    single_valued: frozenset[str] = field(
        default=DEFAULT_SINGLE_VALUED,
        metadata={"doc": "predicates that hold one value at a time, comma-separated (replaces the default list)"},
    )
    equivalents: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_EQUIVALENTS),
        metadata={
            "doc": "predicate equivalences `from=to`, comma-separated: a predicate as the extractor writes it -> "
            "the relation it is compared as (replaces the default table)"
        },
    )
    # LLM-assisted reconciliation (with RECALLD_TRUTH_JUDGE=llm): which undecided facts are asked
    judge_similarity: float = field(
        default=0.5,
        metadata={
            "doc": "cosine at or above which a current memory counts as close: with `RECALLD_TRUTH_JUDGE=llm`, a "
            "fact the rules leave as a plain ADD next to a close memory goes to the judge; the rules use it too "
            '(a weak change cue such as "now" replaces only close facts)'
        },
    )
    judge_candidates: int = field(
        default=3, metadata={"doc": "the closest current memories shown to the judge per fact"}
    )
    # predicates the relation table does not list: compared with its classes' examples by the
    # embedder (recalld.core.classify); a class at or above slot_similarity (cosine) is taken
    slot_fallback: bool = field(
        default=True,
        metadata={
            "doc": "predicates the relation table does not list join the closest single-valued class by "
            "embedding similarity"
        },
    )
    slot_similarity: float = field(
        default=slots.FALLBACK_SIMILARITY,
        metadata={"doc": "cosine at or above which the fallback places a predicate in a class"},
    )


@dataclass(frozen=True, slots=True)
class DecaySettings:
    """How a memory's weight in Search fades (recalld.core.profile.decay_weight)."""

    enabled: bool = field(default=True, metadata={"doc": "decay weight in Search ranking"})
    half_life_days: float = field(
        default=365.0, metadata={"doc": "half-life of memories whose attributes and predicates name none"}
    )
    # added to the defaults of recalld.core.profile.ATTRIBUTES
    half_lives: Mapping[str, str] = field(
        default_factory=dict,
        metadata={
            "doc": "`name=days` per attribute or predicate (`inf`: never fades), comma-separated; added to the "
            "built-in half-lives"
        },
    )
    floor: float = field(
        default=0.8,
        metadata={"doc": "weight of a fully faded memory of importance 0 (importance 1 never fades)"},
    )

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

    workers: int = field(
        default=2, metadata={"doc": "in-order queues for asynchronous Adds (users are hashed onto them)"}
    )
    max_backlog: int = field(
        default=10_000,
        metadata={
            "doc": "unfinished asynchronous Adds; beyond them an asynchronous Add is refused with RESOURCE_EXHAUSTED"
        },
    )
    max_attempts: int = field(
        default=5, metadata={"doc": "an operation failing with an unexpected error is retried this often, then FAILED"}
    )
    lease_s: float = field(
        default=300.0, metadata={"doc": "a RUNNING operation whose worker stopped is taken over after this long"}
    )
