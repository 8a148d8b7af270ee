"""Pure parts of the hybrid retriever: walk scoring and the vector query text."""

from recalld.core.retrieval import score_walks, vector_query_text
from recalld.kernel.domain import Edge, Path


def walk(start: str, *edges: tuple[str, str, str, str]) -> Path:
    return Path(start=start, edges=tuple(Edge(*e) for e in edges))


def test_walks_matching_query_terms_score_higher_and_explain_the_memory() -> None:
    has_pet = ("alice", "has_pet", "Luna", "m1")
    walks = [
        walk("alice", has_pet),
        walk("alice", ("alice", "study", "linear algebra", "m2")),
        walk("alice", has_pet, ("Luna", "catch", "cold", "m1")),
        walk("alice", has_pet, ("Luna", "is_a", "Siamese", "m3")),
    ]
    cands = score_walks(walks, {"alice": 1.0}, ["pet", "health"])
    assert cands["m1"].score == 2.0  # one hop, "pet" matched
    assert cands["m2"].score == 1.0
    assert cands["m3"].score == 1.0  # two hops halve, the match doubles
    rendered = [w.render() for _, w in cands["m1"].walks]
    assert rendered == ["alice -has_pet-> Luna", "alice -has_pet-> Luna -catch-> cold"]


def test_walks_from_unweighted_seeds_are_ignored_and_weak_walks_do_not_explain() -> None:
    walks = [walk("bob", ("bob", "likes", "tea", "m1")), walk("tea", ("bob", "likes", "tea", "m1"))]
    cands = score_walks(walks, {"tea": 0.1, "nobody": 1.0}, [])
    assert set(cands) == {"m1"} and cands["m1"].score == 0.1


def test_vector_query_text_drops_linked_proper_names() -> None:
    assert vector_query_text("What did Caroline research?", ["caroline"]) == "What did research?"
    assert vector_query_text("What are Maria's dogs' names?", ["maria"]) == "What are dogs' names?"
    # lowercase mentions are concepts, not names; unlinked names stay
    assert vector_query_text("what does my dog eat?", ["dog"]) == "what does my dog eat?"
    assert vector_query_text("Where did Jon go?", ["caroline"]) == "Where did Jon go?"
    # nothing meaningful would remain: keep the query
    assert vector_query_text("Caroline?", ["caroline"]) == "Caroline?"
    # regex metacharacters in entity names are literals
    assert vector_query_text("Is C++ (Dev) hard for Ana?", ["c++ (dev)", "ana"]) == "Is hard for?"
