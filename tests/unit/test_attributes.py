"""The offline attribute distiller (recalld.extraction.attributes) through the real spaCy model:
a truth table over the documented attribute set."""

from __future__ import annotations

import pytest

from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage

TABLE: list[tuple[str, set[tuple[str, str]]]] = [
    ("I recently started running 5 km every morning.", {("exercise_routine", "run 5 km every morning")}),
    ("I go to the gym three times a week.", {("exercise_routine", "go to the gym three times a week")}),
    ("I study for two hours every night.", {("study_routine", "study for two hours every night")}),
    ("I meditate every evening.", {("routines", "meditate every evening")}),
    ("I'm allergic to penicillin.", {("allergies", "penicillin")}),
    ("I have diabetes.", {("conditions", "diabetes")}),
    ("I was diagnosed with asthma last year.", {("conditions", "asthma")}),
    ("I take 50 mg of sertraline daily.", {("medications", "sertraline")}),
    ("I take metformin every day.", {("medications", "metformin")}),
    ("I am vegetarian.", {("diet", "vegetarian")}),
    ("I'm a vegan now.", {("diet", "vegan")}),
    ("I love jazz.", {("likes", "jazz")}),
    ("I hate broccoli.", {("dislikes", "broccoli")}),
    ("I study chemistry at MIT.", {("studies", "chemistry"), ("school", "MIT")}),
    ("My exam is on 3 December.", {("upcoming_exam", "exam on 3 December")}),
    ("I'm bad at math.", {("difficulties", "math")}),
    ("I struggle with fractions.", {("difficulties", "fractions")}),
    ("I work at Google as a nurse.", {("employer", "Google"), ("job_title", "nurse")}),
    ("I'm a teacher.", {("job_title", "teacher")}),
    ("My sister Anna lives in Rome.", {("family", "sister: Anna")}),
    ("I have a cat named Luna.", {("pets", "Luna (cat)")}),
    ("I live in Berlin.", {("location", "Berlin")}),
    ("I moved to Paris last month.", {("location", "Paris")}),
    ("I'm 34 years old.", {("age", "34")}),
    # difficulties said the other way round, a year at a named school, reactions, intolerances
    ("Organic chemistry is a real struggle for me.", {("difficulties", "Organic chemistry")}),
    ("Long division never makes sense to me.", {("difficulties", "Long division")}),
    ("I'm in my final year at the University of Bristol.", {("school", "University of Bristol")}),
    ("Latex gives me hives.", {("allergies", "Latex")}),
    ("I'm gluten intolerant.", {("conditions", "gluten intolerance")}),
    ("I've got two daughters, so the house is loud.", {("family", "daughter: two daughters")}),
    ("I'm a sommelier.", {("job_title", "sommelier")}),  # a trade known by its ending, said as one's job
    # forms without the usual verbs (recalld.extraction.said_attributes)
    (
        "I'm on lisinopril for high blood pressure.",
        {("medications", "lisinopril"), ("conditions", "high blood pressure")},
    ),
    ("I take amlodipine for three months.", {("medications", "amlodipine")}),  # how long, not what for
    ("Living with Lupus is tiring.", {("conditions", "Lupus")}),
    ("I'm living with my boyfriend.", set()),  # a person, not a condition
    ("I'm reading history at Durham.", {("studies", "history")}),
    ("I'm doing an online MSc while I work.", {("studies", "MSc")}),
    ("We're expecting our first baby in June.", {("family", "baby")}),
    ("Sailing is my happy place.", {("likes", "Sailing")}),
    ("Opera does nothing for me.", {("dislikes", "Opera")}),
    ("I've never liked crosswords.", {("dislikes", "crosswords")}),
    ("I absolutely adore hiking.", {("likes", "hiking")}),  # the lemma "hike", said as "hiking"
    ("Studying pharmacy in Leeds.", {("studies", "pharmacy"), ("location", "Leeds")}),  # no subject: the speaker's
    ("Keep it short.", {("response_format", "short")}),  # a request, not a statement of the speaker's
    ("The LSAT is on March 3.", {("upcoming_exam", "LSAT on March 3")}),  # a dated exam, nobody else's
    ("The GRE is hard for everyone.", set()),
    # instructions said without a verb, or with one the small tagger reads as a noun: kept, and read
    ("Bullet points only, no emojis.", {("response_format", "Bullet points"), ("avoid", "emojis")}),
    ("No headings, ever.", {("avoid", "headings")}),
    ("Casual tone please.", {("response_tone", "Casual")}),
    ("Respond in Dutch, please.", {("response_language", "Dutch")}),
    ("Quick note: no class today.", set()),  # verbless, but asks nothing of the answers
    ("Be patient with me, I don't learn fast.", {("response_tone", "patient")}),  # asked before its "don't"
    ("Don't suggest any workouts with jumping.", {("avoid", "workouts with jumping")}),
    # a request shaped as a question about how to answer is an instruction; a question for one answer is not
    ("Could you be a little friendlier with me?", {("response_tone", "friendlier")}),
    ("Can you keep the replies brief from now on?", {("response_format", "brief")}),
    ("Would you stop adding disclaimers?", {("avoid", "disclaimers")}),
    ("Could you explain how mortgages work?", set()),
    ("Can you be at the station by noon?", set()),
    # what a fan likes is not a trade; an age to come is not one's age; a meal is not a pet; a kin's pills are theirs
    ("I'm a lifelong Arsenal supporter.", {("likes", "Arsenal")}),
    ("I'd like to buy a house by the time I turn 35.", {("goals", "buy a house by the time I turn 35")}),
    ("We sometimes have duck on Sundays.", set()),
    ("My dad takes warfarin.", set()),
    # likes and fears said as idioms, a language being learnt, a liked thing as said (plural kept)
    ("I'm a dog person, and cats freak me out.", {("likes", "dog"), ("dislikes", "cats")}),
    ("I'm learning Japanese for work.", {("studies", "Japanese")}),
    ("I'm learning to knit.", set()),
    ("I hate crowded trains.", {("dislikes", "crowded trains")}),
    # a job said without "I'm" after a time adverb; working as X for the Y
    ("Currently a paramedic in Bristol.", {("job_title", "paramedic"), ("location", "Bristol")}),
    (
        "Been working as a librarian for the British Council.",
        {("job_title", "librarian"), ("employer", "British Council")},
    ),
    # skills already mastered, said as people say them
    ("I can finally solder without burning myself.", set()),  # "can finally" alone is no skill
    ("I can juggle five balls.", {("mastered", "juggle five balls")}),
    ("I've cracked quadratic equations.", {("mastered", "quadratic equations")}),
    ("I've got my scales down now.", {("mastered", "scales")}),
    ("I'm a dentist at a clinic in Porto.", {("job_title", "dentist"), ("location", "Porto")}),
    ("I had lunch in Paris.", set()),  # a place, not where the speaker lives or works
    ("I swim on Monday and Friday mornings.", {("exercise_routine", "swim on Monday and Friday mornings")}),
    ("I'm not gluten intolerant.", set()),
    ("We can really accept who we are and be content.", set()),  # "content" only ends like "agent"
    ("I missed it but it was a powerful reminder that we are not alone.", set()),
    ("Stress gives me a rash.", set()),  # a trigger, not an allergen
    # negated, ceased, or not about the speaker: nothing
    ("I'm no longer vegan.", set()),
    ("I don't like jazz.", set()),
    ("I'm not allergic to latex.", set()),
    ("My brother is vegan.", set()),  # about the brother: no attribute of the speaker
    ("I take the bus to work.", set()),
    ("The weather was nice.", set()),
]


@pytest.fixture(scope="module")
def extractor() -> SpacyExtractor:
    return SpacyExtractor()


@pytest.mark.parametrize(("sentence", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_attributes(extractor: SpacyExtractor, sentence: str, expected: set[tuple[str, str]]) -> None:
    facts = extractor.extract_sync([ChatMessage("user", sentence)], default_speaker="alice")
    assert {(a.name, a.value) for f in facts for a in f.attributes} == expected


def test_a_named_speaker_gets_the_attributes(extractor: SpacyExtractor) -> None:
    facts = extractor.extract_sync([ChatMessage("user", "I am vegan.", name="Bob")], default_speaker="alice")
    assert [(a.name, a.value) for f in facts for a in f.attributes] == [("diet", "vegan")]
