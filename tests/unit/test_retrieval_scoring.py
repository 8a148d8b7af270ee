"""Pure parts of the hybrid retriever: walk scoring and the vector query text."""

from datetime import UTC, datetime

from recalld.core.search_plan import vector_query_text
from recalld.core.speakers import said_by
from recalld.core.walk_scoring import score_walks
from recalld.kernel.domain import Edge, Memory, Path, Scope


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
    rendered = [w.render() for _, w in cands["m1"].explanation()]
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


def _said(*speakers: str) -> dict[str, Memory]:
    at = datetime(2023, 5, 1, tzinfo=UTC)
    return {f"m{i}": Memory(f"m{i}", "text", Scope("conv"), {}, at, at, at, speaker=s) for i, s in enumerate(speakers)}


def test_said_by_lifts_what_the_named_person_said_only_where_that_tells_candidates_apart() -> None:
    two = _said("Caroline", "Melanie", "caroline", "")
    assert said_by(two, ["CAROLINE"]) == {"m0": 1.0, "m2": 1.0}  # names compare normalized; unknown never lifts
    assert said_by(two, ["Melanie", "Luna"]) == {"m1": 1.0}
    assert said_by(two, ["Luna"]) is None  # the query names no speaker
    assert said_by(two, ["Caroline", "Melanie"]) is None  # every speaker named: all alike
    assert said_by(_said("alice", "alice", ""), ["alice"]) is None  # one speaker: a user and an assistant
    assert said_by({}, ["alice"]) is None
