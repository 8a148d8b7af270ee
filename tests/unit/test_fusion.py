import pytest

from recalld.core.fusion import reciprocal_rank_fusion, weighted_score_fusion


def test_item_found_by_both_lists_outranks_single_list_items() -> None:
    fused = reciprocal_rank_fusion({"vector": ["a", "b", "c"], "graph": ["c", "d"]})
    assert fused[0].id == "c"
    assert next(f for f in fused if f.id == "c").sources == ("vector", "graph")
    assert next(f for f in fused if f.id == "d").sources == ("graph",)


def test_scores_are_normalized_and_rank_one_everywhere_is_one() -> None:
    fused = reciprocal_rank_fusion({"vector": ["a", "b"], "graph": ["a"]}, k=60)
    assert fused[0].id == "a" and fused[0].score == pytest.approx(1.0)
    assert fused[1].score == pytest.approx((1 / 62) / (2 / 61))
    assert all(0 < f.score <= 1 for f in fused)


def test_weights_shift_the_ranking() -> None:
    lists = {"vector": ["v", "g"], "graph": ["g2", "v"]}
    assert reciprocal_rank_fusion(lists, weights={"vector": 1.0, "graph": 0.0})[0].id == "v"
    heavy_graph = reciprocal_rank_fusion({"vector": ["v"], "graph": ["g"]}, weights={"vector": 1.0, "graph": 2.0})
    assert [f.id for f in heavy_graph] == ["g", "v"]


def test_ties_are_deterministic_and_duplicates_count_once() -> None:
    fused = reciprocal_rank_fusion({"x": ["b", "b", "a"], "y": ["a", "b"]})
    assert [f.id for f in fused] == ["a", "b"]  # the repeated b does not push a down; equal scores: by id
    assert fused[0].score == pytest.approx(fused[1].score)
    by_rank = reciprocal_rank_fusion({"x": ["c", "d"], "y": ["e", "f"], "z": ["d", "c"]}, weights={"y": 0.0})
    assert [f.id for f in by_rank][:2] == ["c", "d"]
    again = reciprocal_rank_fusion({"x": ["q"], "y": ["p"]})
    assert [f.id for f in again] == ["p", "q"]  # same score and rank: by id


def test_empty_and_invalid_input() -> None:
    assert reciprocal_rank_fusion({}) == []
    assert reciprocal_rank_fusion({"vector": []}) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"a": ["x"]}, k=-1)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"a": ["x"]}, weights={"a": -1.0})


def test_weighted_fusion_adds_normalized_graph_evidence_to_cosine() -> None:
    fused = weighted_score_fusion({"a": 0.8, "b": 0.7, "c": 0.3}, {"b": 4.0, "d": 2.0}, alpha=0.5)
    score = {f.id: f.score for f in fused}
    assert score["a"] == pytest.approx(0.8 / 1.5)
    assert score["b"] == pytest.approx((0.7 + 0.5) / 1.5)  # best graph score normalizes to 1
    assert score["d"] == pytest.approx((0.3 + 0.25) / 1.5)  # graph-only: floor = weakest cosine
    assert [f.id for f in fused] == ["b", "a", "d", "c"]
    assert next(f for f in fused if f.id == "b").sources == ("vector", "graph")
    assert next(f for f in fused if f.id == "d").sources == ("graph",)


def test_weighted_fusion_keeps_a_strong_vector_hit_ahead_of_weak_double_hits() -> None:
    fused = weighted_score_fusion({"strong": 0.9, "weak": 0.4}, {"weak": 1.0, "other": 1.0}, alpha=0.15)
    assert fused[0].id == "strong"


def test_weighted_fusion_edge_cases() -> None:
    assert weighted_score_fusion({}, {}) == []
    only_graph = weighted_score_fusion({}, {"x": 2.0, "y": 1.0}, alpha=1.0)
    assert [(f.id, f.score) for f in only_graph] == [("x", 0.5), ("y", 0.25)]
    clamped = weighted_score_fusion({"neg": -0.2, "big": 1.3}, {}, alpha=0.0)
    assert [(f.id, f.score) for f in clamped] == [("big", 1.0), ("neg", 0.0)]
    with pytest.raises(ValueError):
        weighted_score_fusion({"a": 1.0}, {}, alpha=-1)


def test_boosted_fusion_adds_each_retrievers_normalized_score() -> None:
    from recalld.core.fusion import boosted_score_fusion

    vector = {"a": 0.8, "b": 0.6, "c": 0.5}
    graph = {"b": 2.0, "g": 4.0}
    lexical = {"c": 10.0, "x": 5.0}
    fused = {
        f.id: f
        for f in boosted_score_fusion(vector, {"graph": graph, "lexical": lexical}, {"graph": 0.2, "lexical": 0.3})
    }
    total = 1.5
    assert fused["a"].score == pytest.approx(0.8 / total)
    assert fused["b"].score == pytest.approx((0.6 + 0.2 * 0.5) / total)
    assert fused["c"].score == pytest.approx((0.5 + 0.3 * 1.0) / total)
    # found by one other retriever only: the weakest cosine, plus its boost
    assert fused["g"].score == pytest.approx((0.5 + 0.2) / total)
    assert fused["x"].score == pytest.approx((0.5 + 0.3 * 0.5) / total)
    assert fused["c"].sources == ("vector", "lexical")
    assert fused["x"].sources == ("lexical",)
    assert [
        f.id for f in boosted_score_fusion(vector, {"graph": graph, "lexical": lexical}, {"graph": 0.2, "lexical": 0.3})
    ] == ["a", "c", "b", "g", "x"]  # equal scores: by id


def test_boosted_fusion_with_a_zero_alpha_ignores_that_retriever() -> None:
    from recalld.core.fusion import boosted_score_fusion

    vector = {"a": 0.9, "b": 0.1}
    fused = boosted_score_fusion(vector, {"graph": {}, "lexical": {"b": 1.0}}, {"graph": 0.15, "lexical": 0.0})
    assert [f.id for f in fused] == ["a", "b"]
    assert fused[1].score == pytest.approx(0.1 / 1.15)


def test_two_list_score_fusion_is_the_boosted_one() -> None:
    from recalld.core.fusion import boosted_score_fusion

    vector, graph = {"a": 0.7, "b": 0.4}, {"b": 3.0, "z": 1.0}
    old = weighted_score_fusion(vector, graph, alpha=0.15)
    new = boosted_score_fusion(vector, {"graph": graph}, {"graph": 0.15})
    assert old == new


def test_each_mode_fuses_by_its_named_recipe() -> None:
    from dataclasses import replace

    from recalld.core.fusion import Method, boosted_score_fusion, fuse
    from recalld.core.retrieval import recipes
    from recalld.core.settings import FusionMethod, SearchSettings
    from recalld.kernel.domain import SearchMode

    shipped = recipes(SearchSettings())
    assert {m: (r.name, r.method) for m, r in shipped.items()} == {
        SearchMode.VECTOR: ("vector", Method.COSINE),
        SearchMode.GRAPH: ("graph", Method.GRAPH),
        SearchMode.HYBRID: ("hybrid-score", Method.SCORE),
    }
    hybrid = shipped[SearchMode.HYBRID]
    assert hybrid.weights == {"graph": 0.15, "lexical": 0.1, "time": 0.2, "order": 0.3, "speaker": 0.3}

    vector, graph, said = {"a": 0.7, "b": 0.5, "c": 0.5}, {"b": 2.0, "g": 2.0}, {"c": 1.0}
    recency = {"a": 1, "b": 3, "c": 2, "g": 4}
    lists = {"vector": vector, "graph": graph, "speaker": said}
    # score fusion: exactly boosted_score_fusion with the recipe's alphas
    assert fuse(hybrid, lists, recency) == boosted_score_fusion(
        vector, {"graph": graph, "speaker": said}, {"graph": 0.15, "speaker": 0.3}
    )
    assert [f.id for f in fuse(shipped[SearchMode.VECTOR], lists)] == ["a", "b", "c"]  # cosine, ties by id
    by_graph = fuse(shipped[SearchMode.GRAPH], lists, recency)
    assert [(f.id, f.score) for f in by_graph] == [("g", 1.0), ("b", 1.0)]  # a tie: the most recent first

    rrf = recipes(replace(SearchSettings(), fusion=FusionMethod.RRF))[SearchMode.HYBRID]
    assert rrf.method is Method.RANK and "speaker" not in rrf.weights  # a list of equals has no order
    fused = fuse(rrf, lists, recency)
    assert {f.id for f in fused} == {"a", "b", "c", "g"}
    assert all("speaker" not in f.sources for f in fused)
    assert fused[0].id == "b"  # second in the vector list, first in the graph's (more recent than g)
