"""Nothing a user says makes extraction raise: arbitrary text, and sentences built from the very
shapes the fallbacks look for (lists, doses, dates, roles, contact details, hyphens, titles), in
any order and with any punctuation. Every triple has a subject, a predicate and an object."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage

PIECES = (
    "I", "my", "Dr.", "Mrs.", "Kim", "tutor", "coach", "swim", "favourite", "email", "is", "was", "to", "at",
    "with", "and", ",", "as well as", "plus", "or", "20 mg", "of", "lowered", "my Nuvexa", "moved", "exam",
    "April 12", "Tuesday", "no longer", "not", "stopped", "taking", "allergic", "half-brother", "co-founder",
    "b@y.org", "+44 7700 900461", "instead", "now", "new", "their", "her", "his", "gave up", "caffeine",
    "hired by", "joined", "Acme", "'s", "-", "...", "?", "!", ";", "zorafen", "quilibex", "the", "a",
    "Kieran and I", "broke up", "got married", "Mum", "Grandad", "again", "fine",
)  # fmt: skip


def run(extractor: SpacyExtractor, text: str) -> None:
    for fact in extractor.extract_sync([ChatMessage("user", text)], default_speaker="alice"):
        for t in fact.triples:
            assert t.subject.strip() and t.predicate.strip() and t.object.strip(), (text, t)
        for a in fact.attributes:
            assert a.name and a.value.strip(), (text, a)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(PIECES), min_size=1, max_size=18), end=st.sampled_from((".", "!", "", "?")))
def test_sentences_made_of_what_the_rules_look_for(extractor: SpacyExtractor, words: list[str], end: str) -> None:
    run(extractor, " ".join(words) + end)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=200))
def test_arbitrary_text(extractor: SpacyExtractor, text: str) -> None:
    run(extractor, text)


def triples(extractor: SpacyExtractor, text: str) -> set[tuple[str, str, str]]:
    facts = extractor.extract_sync([ChatMessage("user", text)], default_speaker="alice")
    return {(t.subject, t.predicate, t.object) for f in facts for t in f.triples}


def test_what_the_speaker_and_another_did_together(extractor: SpacyExtractor) -> None:
    assert ("alice", "break_up_with", "Kieran") in triples(extractor, "Kieran and I broke up last month.")
    assert ("alice", "married_to", "Rafael") in triples(extractor, "Rafael and I got married on Saturday!")
    assert not any(p == "married_to" for _, p, _ in triples(extractor, "My sister and I went to Paris."))


def test_kin_named_by_their_title_are_the_speakers(extractor: SpacyExtractor) -> None:
    got = triples(extractor, "Mum moved into our spare room last weekend.")
    assert ("alice", "has_mum", "alice's mum") in got
    assert any(s == "alice's mum" and p == "move_into" for s, p, _ in got)
    assert ("Mother Teresa", "is_a", "nun") in triples(extractor, "Mother Teresa was a nun.")


def test_a_breakup_is_not_an_injury_and_a_phone_number_not_a_date(extractor: SpacyExtractor) -> None:
    facts = extractor.extract_sync([ChatMessage("user", "Kieran and I broke up.")], default_speaker="alice")
    assert not [a for f in facts for a in f.attributes if a.name == "injuries"]
    facts = extractor.extract_sync([ChatMessage("user", "My phone number is 07700 900461.")], default_speaker="alice")
    assert all(t.object_type != "date" for f in facts for t in f.triples)
    assert all("time" not in f.hints for f in facts)


def test_states_and_activities_are_objects(extractor: SpacyExtractor) -> None:
    assert ("Priya", "is", "pregnant") in triples(extractor, "Priya is pregnant with twins.")
    assert ("Lena", "is", "vegetarian") in triples(extractor, "Lena is vegetarian like her mother.")
    assert ("alice", "terrified_of", "flying") in triples(extractor, "I'm terrified of flying.")
    assert ("alice", "is", "left-handed") in triples(extractor, "I'm left-handed.")
    assert ("alice", "is", "colour-blind") in triples(extractor, "I'm colour-blind.")
    assert ("alice", "go", "hike") in triples(extractor, "We went hiking in the Alps.")
    # an adjective that needs its object says nothing alone: no (alice, is, allergic)
    assert ("alice", "is", "allergic") not in triples(extractor, "I'm allergic to latex.")


def test_a_name_described_by_what_the_speaker_does_with_it(extractor: SpacyExtractor) -> None:
    assert ("alice", "listen_to", "Radiohead") in triples(extractor, "Radiohead is the band I listen to most.")
    assert ("alice", "follow", "Hard Fork") in triples(extractor, "The only podcast I follow is Hard Fork.")
    # "never miss" is not a negation of following: nothing is said rather than the opposite
    assert not any(p.startswith("not_") for _, p, _ in triples(extractor, "The podcast I never miss is Radiolab."))


def test_who_died(extractor: SpacyExtractor) -> None:
    assert ("Rosie", "is", "deceased") in triples(extractor, "Rosie passed away in March.")
    assert ("alice's grandad", "is", "deceased") in triples(extractor, "My grandad died last year.")
    assert ("alice's dog", "is", "deceased") in triples(extractor, "Our dog was put down in May.")
    assert not any(o == "deceased" for _, _, o in triples(extractor, "My phone died."))


def test_chat_lines_without_their_i(extractor: SpacyExtractor) -> None:
    assert ("alice", "promoted_to", "senior designer") in triples(extractor, "Got promoted to senior designer today!!")
    assert ("alice", "sell", "car") in triples(extractor, "Sold the car last month.")
    assert ("alice", "has_age", "30") in triples(extractor, "Turned 30 today. Ugh.")
    assert ("alice's son", "has_age", "7") in triples(extractor, "My son turned 7 last week.")
    # a request to the assistant is not a statement about the speaker
    assert not triples(extractor, "Switch back to English please.")


def test_a_request_to_switch_language_is_the_response_language(extractor: SpacyExtractor) -> None:
    text = "Actually, switch back to English please, it's easier for work stuff."
    facts = extractor.extract_sync([ChatMessage("user", text)], default_speaker="alice")
    assert ("response_language", "English") in {(a.name, a.value) for f in facts for a in f.attributes}


def test_the_owner_reaches_the_names_of_their_people(extractor: SpacyExtractor) -> None:
    assert ("alice", "has_wife", "Fatima") in triples(extractor, "My wife is called Fatima.")
    kids = triples(extractor, "My kids are Mia, Theo and little Jonah.")
    assert {("alice", "has_kid", n) for n in ("Mia", "Theo", "Jonah")} <= kids
    assert not any(p == "is_a" and o in ("Mia", "Theo") for _, p, o in kids)  # Mia is not a kind of kid


def test_what_a_doctor_puts_the_speaker_on(extractor: SpacyExtractor) -> None:
    assert ("alice", "is_on", "Zorvexa") in triples(extractor, "My neurologist put me on Zorvexa for the seizures.")
    assert ("alice", "prescribed", "Trelodine") in triples(extractor, "Dr. Mbeki prescribed me Trelodine, 20mg daily.")
    assert ("alice", "stop_take", "ramipril") in triples(extractor, "My GP took me off ramipril.")
    facts = extractor.extract_sync([ChatMessage("user", "Dr. Mbeki prescribed me Trelodine.")], default_speaker="alice")
    assert ("medications", "me") not in {(a.name, a.value) for f in facts for a in f.attributes}


def test_lists_under_a_label(extractor: SpacyExtractor) -> None:
    got = triples(extractor, "Allergies: shellfish, kiwi, and bee stings.")
    assert {("alice", "allergic_to", o) for o in ("shellfish", "kiwi", "bee sting")} <= got
    assert {("alice", "take", o) for o in ("metformin", "ramipril")} <= triples(extractor, "Meds - metformin, ramipril")


def test_past_states_are_not_the_profile(extractor: SpacyExtractor) -> None:
    def attrs(text: str) -> set[str]:
        return {
            a.name
            for f in extractor.extract_sync([ChatMessage("user", text)], default_speaker="a")
            for a in f.attributes
        }

    assert "location" not in attrs("I lived in Madrid for three years in my twenties.")
    assert "conditions" not in attrs("I used to have eczema as a kid but it cleared up.")
    assert "location" in attrs("I moved to Paris last year.")
    assert "conditions" in attrs("I was diagnosed with asthma in 2019.")
