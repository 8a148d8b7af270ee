"""Living memory end to end through the real pipeline (spaCy, MiniLM, embedded stores): decay in
ranking, use and importance, expiry and pruning, attributes and profiles (as_of), asynchronous
Adds in order, and levels with grants between agents."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from recalld.kernel.domain import (
    ANY_VALIDITY,
    Attribute,
    ChatMessage,
    EventKind,
    Level,
    OperationStatus,
    Scope,
    Validity,
)
from recalld.kernel.errors import InvalidArgument, NotFound, ResourceExhausted
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
LEVELS = (Level.USER, Level.AGENT, Level.SHARED)


async def say(app: App, scope: Scope, text: str, at: datetime, **kw: object) -> str:
    _, events = await app.memories.add(AddCommand(scope, [ChatMessage("user", text)], reference_time=at, **kw))  # type: ignore[arg-type]
    (added,) = [e for e in events if e.event in (EventKind.ADD, EventKind.NOOP, EventKind.UPDATE)]
    return added.memory.id


async def test_an_old_gym_session_ranks_below_this_months_and_is_still_returned(app: App, alice: Scope) -> None:
    old = await say(app, alice, "I did squats at the gym.", NOW - 730 * DAY)
    new = await say(app, alice, "I did deadlifts at the gym.", NOW - 10 * DAY)
    hits = await app.retriever.search(SearchQuery(alice, "what did I do at the gym?"))
    order = [h.memory.id for h in hits]
    assert order[:2] == [new, old]  # both returned, the recent one first
    by_id = {h.memory.id: h for h in hits}
    assert by_id[old].weight == pytest.approx(0.925, abs=1e-3)  # two half-lives of 365 days: 0.9 + 0.1 / 4
    assert by_id[new].weight > 0.99
    assert by_id[old].score == pytest.approx(by_id[old].relevance * by_id[old].weight)
    # Use restarts the decay: acted on today, the old fact weighs like a fresh one.
    assert await app.memories.mark_used(alice, [old]) == 1
    refreshed = {h.memory.id: h for h in await app.retriever.search(SearchQuery(alice, "what did I do at the gym?"))}
    assert refreshed[old].weight > 0.99


async def test_importance_and_permanent_facts_do_not_fade(app: App, alice: Scope) -> None:
    allergy = await say(app, alice, "I am allergic to penicillin.", NOW - 1000 * DAY)
    kept = await say(app, alice, "I keep my passport in the blue drawer.", NOW - 1000 * DAY, importance=1.0)
    trivia = await say(app, alice, "I watched a documentary about whales.", NOW - 1000 * DAY, importance=0.0)
    weights = {
        h.memory.id: h.weight for h in await app.retriever.search(SearchQuery(alice, "what do you know about me?"))
    }
    assert weights[allergy] == 1.0 and weights[kept] == 1.0
    assert weights[trivia] == pytest.approx(0.8 + 0.2 * 2 ** (-1000 / 365), abs=1e-3)
    with pytest.raises(InvalidArgument, match="importance"):
        await app.memories.add(AddCommand(alice, [ChatMessage("user", "x y z")], importance=1.5))


async def test_a_session_memory_expires_and_is_pruned_like_a_delete(app: App) -> None:
    session = Scope("alice", "", "chat-42")
    note = await say(app, session, "I am tired today.", NOW)
    lasting = await say(app, Scope("alice"), "I am allergic to peanuts.", NOW)
    short = await say(app, Scope("alice"), "My parking spot is B4.", NOW, ttl=timedelta(hours=2))
    m = await app.memories.get(session, note)
    assert m.expires_at is not None and m.expires_at - m.created_at == timedelta(days=7)  # session lifetime
    assert await app.memories.prune_expired(NOW + timedelta(hours=3)) == 1  # only the 2-hour one
    with pytest.raises(NotFound):
        await app.memories.get(Scope("alice"), short)
    assert await app.memories.prune_expired(NOW + 8 * DAY) == 1
    with pytest.raises(NotFound):
        await app.memories.get(session, note)
    history = await app.memories.history(session, note)
    assert (history[-1].event, history[-1].rule) == (EventKind.DELETE, "expired")
    assert note not in await app.vector.all_ids() and lasting in await app.vector.all_ids()
    assert [h.memory.id for h in await app.retriever.search(SearchQuery(Scope("alice"), "how do I feel?"))] == [lasting]


async def test_an_attribute_changed_twice_is_read_as_of_each_time(app: App, alice: Scope) -> None:
    jan, mar, may = NOW - 150 * DAY, NOW - 90 * DAY, NOW - 30 * DAY
    await say(app, alice, "I am vegetarian.", jan)
    await say(app, alice, "I am allergic to penicillin.", jan)
    vegan = await say(app, alice, "I'm a vegan now.", mar)
    await say(app, alice, "I am allergic to peanuts.", mar)
    pesc = await say(app, alice, "I am pescatarian.", may)

    def diet(profile: list) -> list[str]:  # type: ignore[type-arg]
        return [v.value for v in profile if v.name == "diet"]

    now = await app.memories.profile([alice])
    assert diet(now) == ["pescatarian"]
    assert sorted(v.value for v in now if v.name == "allergies") == ["peanut", "penicillin"]  # accumulate
    assert [m.id for v in now if v.name == "diet" for m in v.memories] == [pesc]
    assert diet(await app.memories.profile([alice], Validity(as_of=jan + DAY))) == ["vegetarian"]
    assert diet(await app.memories.profile([alice], Validity(as_of=mar + DAY))) == ["vegan"]
    retired = await app.memories.get(alice, vegan)
    assert retired.valid_to == may and retired.retired_by_rule == "single_valued:kind:diet"
    hits = await app.retriever.search(SearchQuery(alice, "what do I eat?", attributes=[Attribute("diet", "")]))
    assert [h.memory.id for h in hits] == [pesc]
    old = await app.retriever.search(SearchQuery(alice, "what do I eat?", attributes=[Attribute("diet", "vegan")]))
    assert old == []  # retired: only an as_of or include_retired search sees it
    every = await app.retriever.search(
        SearchQuery(alice, "what do I eat?", attributes=[Attribute("diet", "vegan")], validity=ANY_VALIDITY)
    )
    assert [h.memory.id for h in every] == [vegan]


async def test_async_adds_for_one_user_apply_in_order(app: App) -> None:
    user = Scope("dana")
    ops = [
        await app.operations.submit(AddCommand(user, [ChatMessage("user", f"I wrote chapter {i} of my novel.")]))
        for i in range(12)
    ]
    seen: dict[str, list[OperationStatus]] = {}
    async for op in app.operations.watch([o.id for o in ops]):
        seen.setdefault(op.id, []).append(op.status)
    assert all(s[-1] is OperationStatus.SUCCEEDED for s in seen.values()), seen
    done = [await app.operations.get(o.id) for o in ops]
    memories = [await app.memories.get(user, r) for op in done for r in [_first_result(op.result)]]
    assert [m.text for m in memories] == [f"I wrote chapter {i} of my novel." for i in range(12)]
    assert [m.created_at for m in memories] == sorted(m.created_at for m in memories)  # applied in order
    assert [m.episode_id for m in memories] == [o.id for o in ops]  # exactly one episode each
    with pytest.raises(NotFound):
        await app.operations.get("00000000-0000-4000-8000-000000000000")
    with pytest.raises(InvalidArgument):
        await app.operations.submit(AddCommand(user, []))


def _first_result(result: str) -> str:
    import json

    return str(json.loads(result)["results"][0][0])


async def test_the_backlog_limit_refuses_at_once(app: App) -> None:
    await app.operations.close()  # no workers: everything stays pending
    limit = app.settings.async_add.max_backlog
    object.__setattr__(app.operations._s, "max_backlog", 3)
    try:
        for i in range(3):
            await app.operations.submit(AddCommand(Scope("erin"), [ChatMessage("user", f"Note {i}.")]))
        with pytest.raises(ResourceExhausted, match="backlog limit is 3"):
            await app.operations.submit(AddCommand(Scope("erin"), [ChatMessage("user", "One too many.")]))
        assert await app.operations.backlog() == 3
    finally:
        object.__setattr__(app.operations._s, "max_backlog", limit)


async def test_a_grant_is_given_used_and_revoked(app: App) -> None:
    medic, coach, diet = Scope("pat", "medic"), Scope("pat", "coach"), Scope("pat", "nutritionist")
    allergy = await say(app, medic, "I am allergic to penicillin.", NOW)
    knee = await say(app, medic, "My left knee was operated on in March.", NOW)
    await say(app, coach, "I run 5 km every morning.", NOW)
    shared = await say(app, Scope("pat"), "I prefer to be called Pat.", NOW)

    async def sees(reader: Scope, query: str = "what should I know about my health and knee?") -> dict[str, Level]:
        return {h.memory.id: h.level for h in await app.retriever.search(SearchQuery(reader, query, levels=LEVELS))}

    before = await sees(coach)
    assert allergy not in before and knee not in before  # no grant: nothing private of the medic
    assert before.get(shared) is Level.USER
    grant = await app.sharing.grant("pat", "medic", "coach")
    assert (await app.sharing.grant("pat", "medic", "coach")).id == grant.id  # idempotent
    during = await sees(coach)
    assert during[allergy] is Level.SHARED and during[knee] is Level.SHARED
    assert allergy not in await sees(diet)  # the grant is to the coach only
    assert allergy not in {
        h.memory.id for h in await app.retriever.search(SearchQuery(coach, "allergic?"))
    }  # no levels
    profile = await app.memories.profile(await app.retriever.views(coach, LEVELS))
    assert "penicillin" in [v.value for v in profile if v.name == "allergies"]
    await app.sharing.revoke("pat", "medic", "coach")
    after = await sees(coach)
    assert allergy not in after and knee not in after
    (kept,) = await app.sharing.list("pat", include_revoked=True)
    assert kept.revoked_at is not None and kept.granted_by == "medic"
    with pytest.raises(NotFound):
        await app.sharing.revoke("pat", "medic", "coach")
    with pytest.raises(InvalidArgument, match="agent_id"):
        await app.retriever.search(SearchQuery(Scope("pat"), "x", levels=[Level.AGENT]))


async def test_watch_reports_each_status_once(app: App) -> None:
    op = await app.operations.submit(AddCommand(Scope("finn"), [ChatMessage("user", "I moved to Lisbon.")]))
    statuses = [o.status async for o in app.operations.watch([op.id])]
    assert statuses[-1] is OperationStatus.SUCCEEDED and len(statuses) == len(set(statuses))
    await asyncio.sleep(0)


async def test_one_memory_gets_a_ttl_and_an_importance_later(app: App, alice: Scope) -> None:
    code = await say(app, alice, "My locker code is 4412.", NOW)
    m = await app.memories.update(alice, code, "", expires_at=NOW + timedelta(hours=1), importance=0.2)
    assert (m.text, m.version, m.expires_at, m.importance) == (
        "My locker code is 4412.",
        2,
        NOW + timedelta(hours=1),
        0.2,
    )
    assert m.triples == (await app.memories.history(alice, code))[0].new_triples
    kept = await app.memories.update(alice, code, "", clear_expiry=True)
    assert kept.expires_at is None and kept.importance == 0.2
    assert await app.memories.prune_expired(NOW + 2 * DAY) == 0
    await app.memories.update(alice, code, "", expires_at=NOW - timedelta(seconds=1))
    with pytest.raises(NotFound):  # expired: gone for readers before the pruner runs
        await app.memories.get(alice, code)
    assert await app.memories.prune_expired() == 1
    with pytest.raises(InvalidArgument):
        await app.memories.update(alice, code, "")
