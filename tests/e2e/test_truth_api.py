"""Memory that stays true over real gRPC, through the typed client, on each backend combination
(embedded; FalkorDB + Milvus server): events with rules, validity, as_of, retired hits, List
and History, aliases in Subgraph, validity in Paths, and Verify's graph drift."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from recalld.client import Recalld
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e

JAN = datetime(2024, 1, 10, 12, tzinfo=UTC)
MAY = datetime(2024, 5, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def memory(server: ServerProcess) -> Iterator[Recalld]:
    with Recalld(server.address) as client:
        yield client


def _user() -> str:
    return f"truth-{uuid.uuid4().hex[:10]}"


def test_berlin_then_paris(memory: Recalld) -> None:
    user = _user()
    (berlin,) = memory.add("I live in Berlin.", user_id=user, reference_time=JAN).added
    moved = memory.add("Actually I moved to Paris last month.", user_id=user, reference_time=MAY)
    assert sorted((e.event, e.rule) for e in moved.events) == [
        ("add", "single_valued:lives_in"),
        ("invalidate", "single_valued:lives_in"),
    ]
    paris = moved.added[0]
    retired = next(e for e in moved.events if e.event == "invalidate")
    assert retired.memory.id == berlin.id and retired.related_ids == (paris.id,)
    assert retired.memory.valid_to == paris.valid_from == datetime(2024, 4, 1, tzinfo=UTC)
    assert retired.memory.superseded_by == paris.id and not retired.memory.current

    now = memory.search("where do I live?", user_id=user)
    assert [h.memory.id for h in now] == [paris.id] and not now[0].retired
    then = memory.search("where do I live?", user_id=user, as_of=datetime(2024, 2, 1, tzinfo=UTC))
    assert [h.memory.id for h in then] == [berlin.id] and then[0].retired
    every = {h.memory.id: h.retired for h in memory.search("where do I live?", user_id=user, include_retired=True)}
    assert every == {paris.id: False, berlin.id: True}

    assert {m.id for m in memory.list(user_id=user).memories} == {berlin.id, paris.id}
    assert [m.id for m in memory.list(user_id=user, include_retired=False).memories] == [paris.id]
    got = memory.get(berlin.id, user_id=user)
    assert (got.valid_from, got.valid_to, got.retired_by_rule) == (
        JAN,
        retired.memory.valid_to,
        "single_valued:lives_in",
    )
    history = memory.history(berlin.id, user_id=user)
    assert [(h.event, h.rule) for h in history] == [("add", "new_fact"), ("invalidate", "single_valued:lives_in")]
    assert history[1].episode_id == moved.episode_id and history[1].actor == "system"
    assert [(t.predicate, t.object) for t in history[0].new_triples] == [("live_in", "Berlin")]

    # the graph follows what held at the time asked about
    assert {e.object for e in memory.subgraph(user, user_id=user, depth=1).edges} == {"Paris"}
    past = memory.subgraph(user, user_id=user, depth=1, as_of=datetime(2024, 2, 1, tzinfo=UTC))
    assert {e.object for e in past.edges} == {"Berlin"}
    assert memory.paths(user, "Berlin", user_id=user) == []
    old_path = memory.paths(user, "Berlin", user_id=user, include_retired=True)
    assert old_path and old_path[0].edges[0].valid_to == retired.memory.valid_to


def test_repeats_reinforce_and_agents_are_the_actors(memory: Recalld) -> None:
    user = _user()
    (first,) = memory.add("I am allergic to penicillin.", user_id=user, agent_id="nurse").added
    again = memory.add("I am allergic to penicillin.", user_id=user, agent_id="nurse")
    assert [(e.event, e.rule, e.memory.id) for e in again.events] == [("noop", "same_text", first.id)]
    assert again.events[0].memory.confirmations == 2
    history = memory.history(first.id, user_id=user)
    assert [(h.event, h.actor) for h in history] == [("add", "nurse"), ("noop", "nurse")]
    memory.delete(first.id, user_id=user, agent_id="nurse")
    assert memory.history(first.id, user_id=user)[-1].actor == "nurse"


def test_aliases_and_no_drift_after_delete(memory: Recalld) -> None:
    user = _user()
    (luna,) = memory.add("My cat Luna caught a cold.", user_id=user).added
    (sofa,) = memory.add("My cat sleeps on the sofa.", user_id=user).added
    assert ("Luna", "sleep_on", "sofa") in [(t.subject, t.predicate, t.object) for t in sofa.triples]
    entity = next(e for e in memory.subgraph("Luna", user_id=user, depth=1).entities if e.name == "Luna")
    assert entity.aliases == (f"{user}'s cat",)
    memory.delete(luna.id, user_id=user)
    memory.delete(sofa.id, user_id=user)
    report = memory.verify()
    assert (report.orphan_relations, report.orphan_entities) == (0, 0)
    assert report.consistent
