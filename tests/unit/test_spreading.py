"""Personalized PageRank over the walked subgraph."""

from __future__ import annotations

import pytest

from recalld.core.spreading import bipartite_edges, memory_scores, personalized_pagerank
from recalld.kernel.domain import Edge, Path


def test_mass_sums_to_one_and_stays_near_the_seeds() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "d")]
    rank = personalized_pagerank(edges, {"a": 1.0})
    assert sum(rank.values()) == pytest.approx(1.0)
    assert rank["a"] > rank["b"] > rank["c"] > rank["d"] > 0


def test_two_paths_to_a_node_beat_one() -> None:
    # x is reached from the seed by two routes, y by one of the same length
    edges = [("s", "p"), ("s", "q"), ("p", "x"), ("q", "x"), ("s", "r"), ("r", "y")]
    rank = personalized_pagerank(edges, {"s": 1.0})
    assert rank["x"] > rank["y"]


def test_a_hub_dilutes_what_it_passes_on() -> None:
    # the seed reaches m1 through a hub with 50 other edges, m2 through a node with none
    edges = [("seed", "hub"), ("hub", "m1"), *[("hub", f"other{i}") for i in range(50)], ("seed", "n"), ("n", "m2")]
    rank = personalized_pagerank(edges, {"seed": 1.0})
    assert rank["m2"] > 10 * rank["m1"]


def test_seed_weights_split_the_restart_and_isolated_seeds_keep_their_mass() -> None:
    rank = personalized_pagerank([("a", "b")], {"a": 3.0, "lonely": 1.0})
    assert sum(rank.values()) == pytest.approx(1.0)
    assert rank["lonely"] == pytest.approx(0.25, abs=1e-6)
    assert personalized_pagerank([("a", "b")], {}) == {"a": 0.0, "b": 0.0}
    with pytest.raises(ValueError):
        personalized_pagerank([("a", "b")], {"a": 1.0}, damping=1.0)


def test_multi_hop_memory_ranks_by_structure() -> None:
    # "which medication conflicts with her allergy?": alice -allergic_to-> penicillin (m1),
    # amoxicillin -is_a-> penicillin (m2), alice -takes-> amoxicillin (m3), alice -likes-> jazz (m4)
    walks = [
        Path("alice", (Edge("alice", "allergic_to", "penicillin", "m1"),)),
        Path(
            "alice", (Edge("alice", "allergic_to", "penicillin", "m1"), Edge("amoxicillin", "is_a", "penicillin", "m2"))
        ),
        Path("alice", (Edge("alice", "takes", "amoxicillin", "m3"),)),
        Path("alice", (Edge("alice", "likes", "jazz", "m4"),)),
    ]
    edges = bipartite_edges(walks, {"m9": ["Penicillin"]})
    assert ("m:m9", "e:penicillin") in edges and len(edges) == len(set(edges))
    scores = memory_scores(personalized_pagerank(edges, {"e:alice": 1.0, "e:penicillin": 1.0}))
    # m2 links the two things the question names' neighbourhoods share; jazz only the user
    assert scores["m2"] > scores["m4"]
    assert scores["m1"] > scores["m4"]
    assert set(scores) == {"m1", "m2", "m3", "m4", "m9"}
