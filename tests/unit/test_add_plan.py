"""plan_add from values alone: no store, no model. What an Add will write for each decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recalld.core.add_plan import AddPlan, canonical, content_hash, pending_facts, plan_add, valid_from
from recalld.core.reconcile import Action, Decision
from recalld.kernel.domain import Episode, EventKind, Fact, Memory, Scope, Triple

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
SCOPE = Scope("alice", "medic")
EPISODE = Episode(id="ep-1", scope=SCOPE, messages=(), metadata={"source": "intake"}, reference_time=NOW,
                  created_at=NOW)  # fmt: skip


def fact(text: str, *triples: tuple[str, str, str]) -> Fact:
    return Fact(text=text, speaker="alice", triples=tuple(Triple(*t) for t in triples))


def current(memory_id: str, text: str, version: int = 3) -> Memory:
    return Memory(id=memory_id, text=text, scope=SCOPE, metadata={}, created_at=NOW - timedelta(days=30),
                  updated_at=NOW - timedelta(days=30), reference_time=NOW - timedelta(days=30),
                  content_hash=content_hash(text), version=version)  # fmt: skip


def plan(facts: list[Fact], decisions: list[Decision], known: dict[str, str] | None = None,
         cur: dict[str, Memory] | None = None) -> AddPlan:  # fmt: skip
    hashes = [content_hash(f.text) for f in facts]
    pending = pending_facts(facts, hashes, known or {})
    return plan_add(EPISODE, hashes, known or {}, pending, decisions, [NOW] * len(pending), cur or {}, importance=0.8)


def test_a_new_fact_becomes_one_memory_with_its_history_and_event() -> None:
    p = plan([fact("I'm allergic to penicillin.", ("alice", "allergic_to", "penicillin"))],
             [Decision(Action.ADD, "new_fact")])  # fmt: skip
    (m,) = p.fresh
    assert (m.text, m.scope, m.episode_id, m.importance, dict(m.metadata)) == (
        "I'm allergic to penicillin.", SCOPE, "ep-1", 0.8, {"source": "intake"})  # fmt: skip
    assert p.fresh_rows == [0]
    assert [(h.memory_id, h.event, h.rule, h.actor) for h in p.history] == [(m.id, EventKind.ADD, "new_fact", "medic")]
    assert [(e.event, e.rule) for e in p.events] == [(EventKind.ADD, "new_fact")]
    assert p.retire == [] and p.reinforce == [] and p.rewrites == []


def test_a_change_retires_the_old_memory_at_its_version_and_names_what_superseded_it() -> None:
    berlin = current("m-berlin", "I live in Berlin.", version=3)
    p = plan([fact("I moved to Paris.", ("alice", "live_in", "Paris"))],
             [Decision(Action.ADD, "new_fact", retire=("m-berlin",), retire_rule="single_valued:lives_in")],
             cur={"m-berlin": berlin})  # fmt: skip
    (paris,) = p.fresh
    (r,) = p.retire
    assert (r.memory_id, r.expected_version, r.superseded_by, r.rule) == (
        "m-berlin", 3, paris.id, "single_valued:lives_in")  # fmt: skip
    (retired,) = p.retired
    assert retired.version == 4 and retired.valid_to == NOW and retired.superseded_by == paris.id
    assert [e.event for e in p.events] == [EventKind.ADD, EventKind.INVALIDATE]
    assert [h.event for h in p.history] == [EventKind.ADD, EventKind.INVALIDATE]


def test_repeats_reinforce_and_a_correction_is_one_rewrite() -> None:
    cat = current("m-cat", "My cat is Luna.")
    said_again = "My cat is Luna."
    p = plan(
        [fact(said_again), fact("I meant my cat is Lina."), fact("I like tea.")],
        [Decision(Action.UPDATE, "correction", target="m-cat", corrected_text="My cat is Lina."),
         Decision(Action.NOOP, "paraphrase", target="m-tea")],
        known={content_hash(said_again): "m-cat"},
        cur={"m-cat": cat},
    )  # fmt: skip
    assert p.fresh == []
    assert p.reinforce == ["m-cat", "m-tea"]
    assert p.noop_rules == {"m-cat": "same_text", "m-tea": "paraphrase"}
    assert [(r.old.id, r.text, r.rule) for r in p.rewrites] == [("m-cat", "My cat is Lina.", "correction")]
    assert [(h.memory_id, h.event) for h in p.history] == [("m-cat", EventKind.NOOP), ("m-tea", EventKind.NOOP)]


def test_the_same_text_twice_in_one_add_is_one_fact() -> None:
    facts = [fact("I run."), fact("I  run."), fact("I swim.")]
    hashes = [content_hash(f.text) for f in facts]
    assert [f.text for f, _ in pending_facts(facts, hashes, {})] == ["I run.", "I swim."]


def test_known_aliases_become_the_entity_they_name() -> None:
    (f,) = canonical([fact("My cat sneezes.", ("my cat", "sneeze", "often"))], {"my cat": "Luna"})
    assert [(t.subject, t.object) for t in f.triples] == [("Luna", "often")]


def test_a_fact_starts_when_it_says_it_started() -> None:
    assert valid_from(fact("I moved to Paris last month."), NOW) < NOW
    assert valid_from(fact("My exam is next week."), NOW) == NOW
