"""The GraphStore contract, EntityGraph: entity linking, walks (``expand`` and ``expand_walks``),
subgraphs and paths, within the scope. Every backend passes the same tests."""

from __future__ import annotations

from dataclasses import replace

from recalld.kernel.domain import Scope, Triple
from recalld.kernel.ports import GraphStore
from recalld.kernel.walks import Walks
from tests.contract.graph_data import ALICE, BOB, mem, seed, write


async def test_traversal_stays_in_the_scope(graph_store: GraphStore) -> None:
    await seed(graph_store)
    walks = await graph_store.expand(ALICE, ["alice"], 2, 100)
    rendered = {w.render() for w in walks}
    assert "alice -has_pet-> Luna -catch-> cold" in rendered
    assert "alice -has_pet-> Luna -is_a-> Siamese" in rendered
    assert not any("bob" in r or "Rex" in r for r in rendered)
    # bob's "Luna" is a different entity in bob's namespace
    bob_walks = {w.render() for w in await graph_store.expand(BOB, ["Luna"], 2, 100)}
    assert bob_walks == {"Luna -visits-> bob", "Luna -visits-> bob -has_pet-> Rex"}
    assert await graph_store.link_entities(ALICE, ["LUNA", "rex", "nobody"]) == ["luna"]


async def test_subgraph_and_paths(graph_store: GraphStore) -> None:
    cold, siamese, _ = await seed(graph_store)
    sub = await graph_store.subgraph(ALICE, "luna", 1, 100)
    assert sub is not None
    assert {(e.subject, e.predicate, e.object) for e in sub.edges} == {
        ("alice", "has_pet", "Luna"),
        ("Luna", "catch", "cold"),
        ("Luna", "is_a", "Siamese"),
    }
    assert {e.memory_id for e in sub.edges} == {cold.id, siamese.id}
    assert await graph_store.subgraph(ALICE, "Rex", 1, 100) is None
    paths = await graph_store.paths_between(ALICE, "alice", "Siamese", 3, 10)
    assert paths is not None and [p.render() for p in paths] == ["alice -has_pet-> Luna -is_a-> Siamese"]
    assert await graph_store.paths_between(ALICE, "alice", "Rex", 3, 10) is None


async def test_expand_walks_shortest_first_across_seeds(graph_store: GraphStore) -> None:
    chain = mem(ALICE, "chain", ("a", "r1", "b"), ("b", "r2", "c"), ("c", "r3", "d"), ("a", "r4", "x"))
    twin = mem(ALICE, "twin", ("a", "r1", "b"), ("d", "r5", "a"), minutes=1)  # a parallel edge, and a cycle
    await write(graph_store, chain, twin)
    walks = await graph_store.expand(ALICE, ["a", "d"], 3, 1000)
    # every seed's one-edge walks (seed order), then their two-edge walks, then three
    assert [(len(w.edges), w.start) for w in walks] == sorted(
        ((len(w.edges), w.start) for w in walks), key=lambda k: (k[0], ["a", "d"].index(k[1]))
    )
    rendered = [w.render() for w in walks if w.start == "a"]
    assert rendered.count("a -r1-> b") == 2  # one walk per stored relation
    assert "a <-r5- d" in rendered and "a -r1-> b -r2-> c -r3-> d" in rendered
    assert not any(r.count(" a") or r.endswith("-> a") for r in rendered)  # no entity visited twice
    assert (len(rendered), len(set(rendered))) == (10, 7)  # 4 + 3 + 3 walks, parallel edges counted twice
    first = await graph_store.expand(ALICE, ["a", "d"], 3, 3)
    assert len(first) == 3 and all(w.start == "a" and len(w.edges) == 1 for w in first)
    # a hub's longer walks never crowd out another seed's direct relations: a's four one-edge
    # walks, d's two, then the first two-edge walks
    cut = await graph_store.expand(ALICE, ["a", "d"], 3, 8)
    assert [(w.start, len(w.edges)) for w in cut] == [("a", 1)] * 4 + [("d", 1)] * 2 + [("a", 2)] * 2
    assert {w.render() for w in cut if w.start == "d"} == {"d <-r3- c", "d -r5-> a"}
    assert await graph_store.expand(ALICE, ["nobody"], 2, 10) == []
    assert await graph_store.expand(ALICE, ["nobody", "d"], 1, 10) == [w for w in walks if w.start == "d"][:2]


async def test_walks_as_index_tuples_are_the_walks_of_expand(graph_store: GraphStore) -> None:
    """``expand_walks`` (an optional capability: the embedded store has it) gives exactly the walks
    of ``expand``, in its order, each relation once; a store without it converts its paths."""
    chain = mem(ALICE, "chain", ("a", "r1", "b"), ("b", "r2", "c"), ("c", "r3", "d"), ("a", "r4", "x"))
    twin = mem(ALICE, "twin", ("a", "r1", "b"), ("d", "r5", "a"), minutes=1)
    await write(graph_store, chain, twin)
    for seeds, depth, cap in ((["a", "d"], 3, 1000), (["a", "d"], 3, 12), (["d", "nobody"], 2, 5), (["x"], 1, 1)):
        paths = await graph_store.expand(ALICE, seeds, depth, cap)
        walking = getattr(graph_store, "expand_walks", None)
        walks = await walking(ALICE, seeds, depth, cap) if walking is not None else Walks.of(paths)
        assert len(walks) == len(paths) and walks.paths() == paths
        crossed = [e for s in walks.steps for e in s]
        assert list(dict.fromkeys(crossed)) == list(range(len(walks.edges)))  # first crossed first
        if walking is not None:  # each relation once
            assert len({(e.subject, e.predicate, e.object, e.memory_id) for e in walks.edges}) == len(walks.edges)


async def test_subgraph_depth_limit_and_entity_types(graph_store: GraphStore) -> None:
    await write(
        graph_store,
        mem(ALICE, "one", ("alice", "has_pet", "Luna"), ("Luna", "catch", "cold")),
        replace(
            mem(ALICE, "two"),
            triples=(Triple("Luna", "is_a", "Siamese", "animal", "breed"), Triple("cold", "is", "mild", "concept")),
        ),
    )
    await write(graph_store, mem(Scope(user_id="alice", agent_id="vet"), "vet", ("Luna", "sees", "vet")))
    one = await graph_store.subgraph(ALICE, "LUNA", 1, 100)
    assert one is not None and {e.predicate for e in one.edges} == {"has_pet", "catch", "is_a", "sees"}
    two = await graph_store.subgraph(ALICE, "luna", 2, 100)
    assert two is not None and {e.predicate for e in two.edges} == {"has_pet", "catch", "is_a", "sees", "is"}
    # a generic type ("entity", "concept") is refined by a later triple, a specific one is kept
    assert {(n.name, n.type) for n in two.nodes} >= {("Luna", "animal"), ("Siamese", "breed"), ("cold", "concept")}
    vet_only = Scope(user_id="alice", agent_id="tutor")
    assert await graph_store.subgraph(vet_only, "Luna", 2, 100) is None  # no relation visible
    capped = await graph_store.subgraph(ALICE, "Luna", 2, 2)
    assert capped is not None and len(capped.edges) == 2 and len(capped.nodes) == 3


async def test_paths_between_shortest_first(graph_store: GraphStore) -> None:
    await write(
        graph_store,
        mem(ALICE, "p", ("a", "r", "b"), ("b", "r", "c"), ("a", "s", "c"), ("c", "t", "d"), ("x", "u", "y")),
    )
    paths = await graph_store.paths_between(ALICE, "A", "c", 3, 10)
    assert paths is not None and [p.render() for p in paths] == ["a -s-> c", "a -r-> b -r-> c"]
    assert await graph_store.paths_between(ALICE, "a", "c", 1, 10) == [paths[0]]
    assert await graph_store.paths_between(ALICE, "a", "c", 3, 1) == [paths[0]]
    assert await graph_store.paths_between(ALICE, "a", "y", 4, 10) == []
    same = await graph_store.paths_between(ALICE, "a", "A", 3, 10)
    assert same is not None and [p.render() for p in same] == ["a"]
    assert await graph_store.paths_between(BOB, "a", "c", 3, 10) is None
