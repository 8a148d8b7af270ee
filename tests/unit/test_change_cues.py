"""A statement that says it changes something replaces what it changes (recalld.core.reconcile:
``changed``, ``restored``, values of one kind), and a first-person question ranks the user's own
facts above facts about the user's people (recalld.core.retrieval)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recalld.core.reconcile import Action, Candidate, change_cue, decide
from recalld.core.relation_slots import slot_of
from recalld.core.settings import ReconcileSettings
from recalld.core.speakers import about_someone_else, asks_about_self
from recalld.kernel.domain import Fact, Memory, QueryAnalysis, Scope, Triple

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SETTINGS = ReconcileSettings()
BOB = Scope(user_id="bob")


def memory(mid: str, text: str, *triples: tuple[str, ...]) -> Memory:
    return Memory(id=mid, text=text, scope=BOB, metadata={}, created_at=T0, updated_at=T0, reference_time=T0,
                  triples=tuple(Triple(*x) for x in triples))  # fmt: skip


def fact(text: str, *triples: tuple[str, ...]) -> Fact:
    return Fact(text=text, triples=tuple(Triple(*x) for x in triples), speaker="bob")


def later(f: Fact, old: Memory, similarity: float | None) -> object:
    return decide(f, [Candidate(old, similarity)], SETTINGS, T0 + timedelta(days=30))


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("I'm on a Mediterranean diet instead.", 2),
        ("I got switched to Mr. Ferreira's homeroom.", 2),
        ("These days the only podcast I follow is Hard Fork.", 2),
        ("I'm learning clarinet now.", 1),
        ("I joined the Islington Chess Club after leaving my old one.", 1),
        ("I've also started following the Glasgow Warriors now.", 0),  # "also": it adds
        ("I'm learning clarinet.", 0),
    ],
)
def test_change_cues(text: str, cue: int) -> None:
    assert change_cue(text) == cue


def test_a_strong_cue_replaces_a_thing_of_the_same_kind() -> None:
    old = memory("m1", "My dietitian has me on a low-carb diet.", ("bob", "has_dietitian_have_on", "low-carb diet"))
    new = fact("I'm on a Mediterranean diet instead.", ("bob", "is_on", "Mediterranean diet"))
    d = later(new, old, 0.3)  # not close: a strong cue needs no closeness
    assert d.action is Action.ADD and d.rule == "changed" and d.retire == ("m1",)


def test_a_weak_cue_replaces_only_close_facts_of_the_same_relation() -> None:
    old = memory("m1", "I've been learning the saxophone.", ("bob", "learn", "saxophone"))
    new = fact("I'm learning clarinet now.", ("bob", "learn", "clarinet"))
    assert later(new, old, 0.7).retire == ("m1",)
    assert later(new, old, 0.3).retire == ()  # far apart: maybe both


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # possessions accumulate: a new puppy does not end the dog
        (("bob", "has_pet", "Rosie"), ("bob", "has_pet", "Max")),
        # medical lists never shrink on a "now": the aspirin stays
        (("bob", "take", "aspirin"), ("bob", "take", "ibuprofen")),
        (("bob", "allergic_to", "latex"), ("bob", "allergic_to", "iodine")),
        # identities accumulate
        (("bob", "is_a", "mother"), ("bob", "is_a", "nurse")),
    ],
)
def test_a_weak_cue_never_ends_possessions_identities_or_medical_lists(
    old: tuple[str, str, str], new: tuple[str, str, str]
) -> None:
    d = later(fact(f"I now {new[1]} {new[2]}.", new), memory("m1", "before", old), 0.9)
    assert d.retire == ()


def test_an_adding_word_keeps_everything() -> None:
    old = memory("m1", "I support Celtic.", ("bob", "support", "Celtic"))
    new = fact("I now also support the Glasgow Warriors.", ("bob", "support", "Glasgow Warriors"))
    assert later(new, old, 0.9).retire == ()


def test_the_holder_of_a_role_changes_on_a_cue() -> None:
    old = memory("m1", "My chemistry tutor is Priya Kaur.", ("bob", "has_chemistry_tutor", "Priya Kaur"))
    new = fact("I've started sessions with Tom Brennan instead.", ("bob", "has_tutor", "Tom Brennan"))
    assert later(new, old, 0.2).retire == ("m1",)


def test_fine_again_ends_one_item_of_a_negated_list() -> None:
    old = memory(
        "m1",
        "I can't eat onions, garlic or peppers.",
        ("bob", "not_eat", "onion"),
        ("bob", "not_eat", "garlic"),
        ("bob", "not_eat", "pepper"),
    )
    new = fact("Garlic seems fine for me again.", ("garlic", "seem", "fine"))
    d = later(new, old, 0.6)
    assert d.rule == "restored" and d.retire == ()
    assert d.trims == (("m1", "I can't eat onions and peppers."),)


def test_values_of_one_kind_hold_one_at_a_time() -> None:
    assert slot_of(Triple("bob", "is", "pescatarian"), SETTINGS) == "kind:diet"
    assert slot_of(Triple("ivy", "decide_go", "vegan"), SETTINGS) == "kind:diet"
    old = memory("m1", "I'm pescatarian.", ("bob", "is", "pescatarian"))
    new = fact("I've gone fully plant-based.", ("bob", "go", "plant-base"))
    d = later(new, old, 0.4)
    assert d.rule == "single_valued:kind:diet" and d.retire == ("m1",)
    # "no longer vegetarian" still ends "a vegetarian"
    old = memory("m2", "I'm a vegetarian.", ("bob", "is_a", "vegetarian"))
    assert later(fact("I'm no longer vegetarian.", ("bob", "not_is", "vegetarian")), old, 0.8).retire == ("m2",)


def test_contact_values_find_their_slot_whatever_the_wording() -> None:
    email = Triple("bob", "has_work_address_change_to", "dana@lumen.io")
    assert slot_of(email, SETTINGS) == "email:work"
    assert slot_of(Triple("bob", "has_email", "bob@x.org"), SETTINGS) == "email:"
    work = memory("m1", "My work email is jo@northwind.co.", ("bob", "has_work_email", "jo@northwind.co"))
    personal = fact("My personal email is jo@fastmail.com.", ("bob", "has_personal_email", "jo@fastmail.com"))
    assert later(personal, work, 0.8).retire == ()  # two emails
    moved = fact("My work address changed to jo@lumen.io.", ("bob", "has_work_address_change_to", "jo@lumen.io"))
    assert later(moved, work, 0.5).retire == ("m1",)
    used = fact("Use jo@proton.me from now on.", ("bob", "use", "jo@proton.me"))
    assert slot_of(used.triples[0], SETTINGS) == "email:"
    any_email = memory("m2", "My email is jo@northwind.co.", ("bob", "has_email", "jo@northwind.co"))
    assert later(moved, any_email, 0.5).retire == ("m2",)
    # a phone number the recognizer took for a date is still a phone number
    assert slot_of(Triple("bob", "has_phone_number", "07700 900461", "person", "date"), SETTINGS) == "has_phone"


def test_a_breakup_ends_the_relation_to_that_person() -> None:
    old = memory("m1", "My boyfriend Kieran and I moved in together.", ("bob", "has_boyfriend", "Kieran"))
    new = fact("Kieran and I broke up.", ("bob", "break_up_with", "Kieran"))
    d = later(new, old, 0.3)
    assert d.rule == "cessation" and d.retire == ("m1",)


ME = QueryAnalysis(entities=("bob",), terms=("live",))


def test_first_person_questions_rank_the_users_own_facts_first() -> None:
    sister = memory("m1", "My sister lives in Valencia.", ("bob", "has_sister", "bob's sister"),
                    ("bob's sister", "live_in", "Valencia"))  # fmt: skip
    mine = memory("m2", "I moved to Barcelona.", ("bob", "move_to", "Barcelona"))
    assert asks_about_self(ME, "bob")
    assert about_someone_else(sister, "bob", ME) and not about_someone_else(mine, "bob", ME)
    # the question names the sister: her facts answer it
    hers = QueryAnalysis(entities=("bob", "bob's sister"), terms=("sister", "live"))
    assert asks_about_self(hers, "bob") and not about_someone_else(sister, "bob", hers)
    # someone else by name: no weighting at all
    assert not asks_about_self(QueryAnalysis(entities=("Tom",), terms=("live",)), "bob")
    # what the user has ("What pets do we have?") is the user's
    pets = QueryAnalysis(entities=("bob",), terms=("pet",))
    rosie = memory("m3", "We have a beagle named Rosie.", ("bob", "has_pet", "Rosie"), ("Rosie", "is_a", "beagle"))
    assert not about_someone_else(rosie, "bob", pets)
    # something done to the user is about the user ("my psychiatrist switched me to ...")
    doctor = ("bob", "has_psychiatrist", "bob's psychiatrist")
    me = ("bob's psychiatrist", "switch", "bob")
    switched = memory("m4", "My psychiatrist switched me to vortioxetine.", doctor, me)
    assert not about_someone_else(switched, "bob", ME)


def test_a_cue_counts_in_the_sentence_it_is_said_in() -> None:
    chat = "Since we last spoke, I took my kids to a park yesterday. They had fun. What's new with you?"
    assert change_cue(chat) == 0  # "since" is a time, and a question says nothing
    two = "I went to a pottery class yesterday. I'm learning clarinet instead."
    assert change_cue(two, "pottery class") == 0 and change_cue(two, "clarinet") == 2
    # a weak cue in a story of several sentences is narrative, not a change
    story = "It got me out of my 9-5. Now, I'm aiming to turn my passion into a business. I'm determined."
    assert change_cue(story, "business") == 0 and change_cue("Now I'm aiming for the Chicago Marathon.") == 1
    assert change_cue("I joined a new activist group last Tuesday.") == 0  # "new" introduces, it does not replace
    assert change_cue("I got switched to Mr. Ferreira's homeroom.", "Mr. Ferreira's homeroom") == 2


def test_a_death_ends_being_had_and_the_ones_states() -> None:
    rosie = memory("m1", "We have a beagle named Rosie.", ("bob", "has_pet", "Rosie"), ("Rosie", "is_a", "beagle"))
    dad = memory("m2", "My dad lives in Leeds.", ("bob", "has_dad", "bob's dad"), ("bob's dad", "live_in", "Leeds"))
    walk = memory("m3", "Rosie loved the beach.", ("Rosie", "love", "beach"))  # what she did stays true
    gone = fact("Rosie passed away in March.", ("Rosie", "is", "deceased"))
    d = decide(gone, [Candidate(rosie, 0.5), Candidate(walk, 0.6)], SETTINGS, T0 + timedelta(days=30))
    assert d.rule == "deceased" and d.retire == ("m1",)
    d = later(fact("My dad died last year.", ("bob's dad", "is", "deceased")), dad, 0.4)
    assert d.retire == ("m2",)


def test_one_thing_said_two_ways_is_not_a_change() -> None:
    old = memory("m1", "Still following my passion for dance.", ("bob", "follow", "bob's passion"))
    new = fact("Now I'm following my dancing passion.", ("bob", "follow", "bob's dancing passion"))
    assert later(new, old, 0.8).retire == ()


def test_playing_for_a_named_team_is_an_employer() -> None:
    assert slot_of(Triple("bob", "play_for", "Riverside Rovers", "person", "org"), SETTINGS) == "works_at"
    assert slot_of(Triple("bob", "play_for", "fun", "person", "concept"), SETTINGS) == "play_for"
