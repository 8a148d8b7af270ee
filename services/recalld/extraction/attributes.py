"""Structured attributes from one extracted fact (the offline, rule-based distiller).

Input: the sentence as spaCy parsed it, the triples the extractor made of it and the speaker
(the scope's user, or the message's named speaker). Output: attributes of the speaker only, from
first-person statements; third parties ("my sister is vegan") get none. Which names exist, and
whether each holds one value or accumulates, is the table in recalld.core.profile (README:
"Profiles"). Negated and ceased statements give no attribute: "I'm no longer vegan" retires the
memory that said it (cessation rule), which removes the attribute from the profile.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from spacy.tokens import Span, Token

from recalld.extraction import statements
from recalld.kernel.domain import Attribute, Triple, norm

_INSTRUCTION_NAMES = frozenset({"response_format", "response_language", "response_tone", "avoid", "instructions"})
_TAKING = frozenset({"take", "is_on", "prescribed", "prescribe", "start_take", "use", "inject"})
_SCHEDULE_WORDS = re.compile(r"\s+(?:daily|nightly|weekly|twice|once|every)\b.*$", re.IGNORECASE)

_DIETS = {
    "vegetarian",
    "vegan",
    "pescatarian",
    "pescetarian",
    "keto",
    "paleo",
    "gluten-free",
    "gluten free",
    "lactose intolerant",
    "lactose-intolerant",
    "halal",
    "kosher",
}
_CONDITIONS = re.compile(
    r"\b(diabetes|asthma|adhd|autism|dyslexia|epilepsy|migraines?|hypertension|high blood pressure|"
    r"depression|anxiety|insomnia|arthritis|eczema|celiac disease|coeliac disease|cancer|covid|"
    r"(?:[a-z]+itis)|(?:[a-z]+ (?:disease|disorder|syndrome)))\b",
    re.IGNORECASE,
)
_DIAGNOSED = re.compile(r"\b(?:diagnosed with|suffer(?:s|ing)? from|living with)\s+([a-z][\w\- ]{1,40})", re.IGNORECASE)
_MEDICATION = re.compile(r"\b(?:\d+\s?(?:mg|ml|mcg)|pills?|tablets?|medication|medicine|prescri\w+|dose)\b", re.I)
# "I take <drug>": a dosage word in the sentence, or a drug-like name (common INN stems).
_TAKEN_DRUG = re.compile(
    r"\b(?:take|takes|taking|took|on|prescribed)\s+(?:\d+\s?(?:mg|ml|mcg)\s+(?:of\s+)?)?([A-Za-z][\w\-]+)", re.I
)
_DRUG_STEM = re.compile(
    r"(?:pril|sartan|statin|olol|formin|cillin|mycin|cycline|prazole|oxetine|aline|tidine|zepam|zolam|azole|"
    r"profen|sone|olone|ulin|thyroxine|dipine|gliptin|mab|vir)$",
    re.I,
)
_OCCUPATIONS = {
    "nurse",
    "doctor",
    "teacher",
    "engineer",
    "software engineer",
    "developer",
    "programmer",
    "designer",
    "lawyer",
    "accountant",
    "architect",
    "pharmacist",
    "dentist",
    "surgeon",
    "physician",
    "therapist",
    "counselor",
    "counsellor",
    "scientist",
    "researcher",
    "professor",
    "lecturer",
    "student",
    "writer",
    "journalist",
    "chef",
    "cook",
    "waiter",
    "waitress",
    "cashier",
    "manager",
    "consultant",
    "analyst",
    "electrician",
    "plumber",
    "carpenter",
    "mechanic",
    "driver",
    "pilot",
    "firefighter",
    "police officer",
    "paramedic",
    "artist",
    "musician",
    "photographer",
    "librarian",
    "social worker",
    "veterinarian",
    "vet",
    "farmer",
    "entrepreneur",
}
_FAMILY = {
    "mother",
    "father",
    "mom",
    "dad",
    "sister",
    "brother",
    "son",
    "daughter",
    "wife",
    "husband",
    "partner",
    "kid",
    "child",
    "grandmother",
    "grandfather",
    "grandma",
    "grandpa",
    "aunt",
    "uncle",
    "cousin",
    "niece",
    "nephew",
    "fiance",
    "fiancee",
}
_LIKE = {"love", "like", "enjoy", "adore", "prefer"}
_DISLIKE = {"hate", "dislike", "detest", "loathe"}
_EXERCISE = {
    "run",
    "jog",
    "swim",
    "cycle",
    "bike",
    "lift",
    "train",
    "walk",
    "hike",
    "row",
    "climb",
    "box",
    "dance",
    "stretch",
    "skate",
    "ski",
}
_EXERCISE_OBJECTS = re.compile(r"\b(gym|yoga|pilates|workout|work out|crossfit|tennis|football|soccer|basketball)\b")
_STUDY = {"study", "revise", "practice", "practise", "read", "review"}
_FREQUENCY = re.compile(
    r"\b(every|each)\s+(?:other\s+)?(morning|evening|night|day|week|weekend|month|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday)\b|\b(daily|weekly|nightly)\b|\b(once|twice|\w+ times) (?:a|per) "
    r"(day|week|month)\b|\bon (mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays|weekends)\b",
    re.IGNORECASE,
)
_EXAM = re.compile(
    r"\b(?:my|the|an?|our)\s+((?:[\w\-]+\s+){0,3}?(?:exam|test|quiz|finals|midterms?|interview))\s+(?:is|will be|"
    r"takes place)\s+(.+?)[.!]?$",
    re.IGNORECASE,
)
_WEAK = re.compile(
    r"\b(?:i'm|i am|i've been|i was)\s+(?:really\s+|quite\s+|so\s+)?(?:bad|weak|terrible|awful|struggling)\s+"
    r"(?:at|in|with)\s+([\w\- ]{2,40}?)[.!,]?$|\bi (?:struggle|struggled|have trouble|have difficulty) with\s+"
    r"([\w\- ]{2,40}?)[.!,]?$",
    re.IGNORECASE,
)
_DROP_ADVERBS = {"recently", "just", "now", "usually", "always", "also", "still", "really", "often", "normally"}
_INCEPTION = {"start", "begin", "take"}  # "I started running", "I took up swimming"


def distil(sent: Span, triples: Sequence[Triple], speaker: str, *, negated: bool) -> tuple[Attribute, ...]:
    """The speaker's attributes stated by this sentence. A negated sentence states only what the
    user asks the assistant not to do ("don't use emojis") or does not understand."""
    if not speaker:
        return ()
    me = norm(speaker)
    text = sent.text.strip()
    out: list[Attribute] = []

    def add(name: str, value: str) -> None:
        value = " ".join(value.strip(" .,!?;:").split())
        if value and Attribute(name, value) not in out:
            out.append(Attribute(name, value))

    own = _first_person(sent) or _imperative(sent)
    for name, value in statements.instructions(sent) if own and not _about_others(sent) else ():
        add(name, value)
    if negated:
        for value in statements.difficulties(text) if _first_person(sent) else ():
            add("difficulties", value)
        return tuple(a for a in out if a.name in ("avoid", "difficulties"))
    if any(a.name in _INSTRUCTION_NAMES for a in out):
        return tuple(out)

    types = {norm(t.subject): t.object for t in triples if t.predicate == "is_a"}
    for t in triples:
        if norm(t.subject) != me:
            continue
        p, o = t.predicate, t.object
        obj = o.casefold()
        if p == "allergic_to":
            add("allergies", o)
        elif p in ("live_in", "move_to", "relocate_to", "reside_in", "lives_in"):
            add("location", o)
        elif p in ("work_at", "work_for", "works_at"):
            add("employer", o)
        elif p in ("work_as", "works_as") or (p == "is_a" and obj in _OCCUPATIONS):
            add("job_title", o)
        elif p in ("is", "is_a") and obj in _DIETS:
            add("diet", o)
        elif p in ("study_at", "attend", "studies_at"):
            add("school", o)
        elif p in ("study", "major_in"):
            add("studies", o)
        elif p == "has_age":
            add("age", o)
        elif p == "has_pet":
            kind = types.get(norm(o))
            add("pets", f"{o} ({kind})" if kind and norm(kind) != norm(o) else o)
        elif p.startswith("has_") and p[4:] in _FAMILY:
            who = _own_description(o, speaker)
            add("family", p[4:] if who in ("", p[4:]) else f"{p[4:]}: {who}")
        elif p == "married_to":
            add("family", f"spouse: {o}")
        elif p in _LIKE:
            add("likes", o)
        elif p in _DISLIKE:
            add("dislikes", o)
    if _first_person(sent):
        drug = _TAKEN_DRUG.search(text)
        if drug is not None and (_MEDICATION.search(text) or _DRUG_STEM.search(drug.group(1))):
            add("medications", drug.group(1))
        for t in triples:
            name = _SCHEDULE_WORDS.sub("", t.object)
            if norm(t.subject) == me and t.predicate in _TAKING and statements.is_medicine(name, text):
                add("medications", name)
        for value in statements.medications(text):
            add("medications", value)
        for value in statements.goals(text):
            add("goals", value)
        for value in statements.symptoms(text):
            add("symptoms", value)
        for value in statements.injuries(text):
            add("injuries", value)
        for value in statements.mastered(text):
            add("mastered", value)
        for value in statements.exams(text):
            add("upcoming_exam", value)
        for value in statements.difficulties(text):
            add("difficulties", value)
        conditions = (
            [m.group(1).lower() for m in _CONDITIONS.finditer(text)]
            if re.search(r"\b(have|has|had|got|diagnosed|suffer)", text, re.I)
            else []
        )
        for c in conditions or [m.group(1).lower() for m in _DIAGNOSED.finditer(text)]:
            add("conditions", c)
        if (exam := _EXAM.search(text)) is not None:
            add("upcoming_exam", f"{exam.group(1)} {exam.group(2)}")
        if (weak := _WEAK.search(text)) is not None:
            add("difficulties", weak.group(1) or weak.group(2))
        routine = _routine(sent)
        if routine is not None and not any(a.name == "medications" for a in out):
            add(*routine)
    return tuple(out)


def _own_description(name: str, speaker: str) -> str:
    """ "alice's two kids" said by alice -> "two kids"; other names unchanged."""
    for prefix in (f"{speaker}'s ", f"{speaker}\u2019s "):
        if name.casefold().startswith(prefix.casefold()):
            return name[len(prefix) :]
    return name


def _first_person(sent: Span) -> bool:
    return any(t.lower_ in ("i", "my", "me") for t in sent)


def _imperative(sent: Span) -> bool:
    """Addressed to the assistant: a verb first with no subject ("Reply in Markdown"), or "please"."""
    root = sent.root
    return sent[0].lower_ in ("please", "pls", "always", "never", "don't", "do", "from") or (
        root.pos_ in ("VERB", "AUX") and not any(c.dep_ in ("nsubj", "nsubjpass", "expl") for c in root.children)
    )


def _about_others(sent: Span) -> bool:
    """A statement about someone else ("my sister hates emojis"): its subject is a third party."""
    root = sent.root
    subj = [c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")]
    return (
        bool(subj)
        and subj[0].lower_ not in ("i", "you", "we")
        and not any(
            c.lower_ in ("answers", "replies", "responses", "explanations", "answer", "reply", "response")
            for c in subj[0].subtree
        )
    )


def _routine(sent: Span) -> tuple[str, str] | None:
    """("exercise_routine" | "study_routine" | "routines", "run 5 km every morning") for a
    first-person habit with a frequency."""
    if _FREQUENCY.search(sent.text) is None:
        return None
    verb = _habit_verb(sent)
    if verb is None:
        return None
    words = [verb.lemma_.lower()]
    for t in verb.subtree:
        if t.i <= verb.i or t.is_punct or t.lower_ in _DROP_ADVERBS:
            continue
        words.append(t.text)
    phrase = " ".join(words)
    lemma = verb.lemma_.lower()
    if lemma in _EXERCISE or _EXERCISE_OBJECTS.search(phrase):
        return "exercise_routine", phrase
    if lemma in _STUDY:
        return "study_routine", phrase
    return "routines", phrase


def _habit_verb(sent: Span) -> Token | None:
    """The verb of the habit: "I run ..." -> run; "I started running ..." -> running."""
    for t in sent:
        if t.dep_ != "ROOT" or t.pos_ not in ("VERB", "AUX"):
            continue
        if not any(c.dep_ in ("nsubj", "nsubjpass") and c.lower_ == "i" for c in t.children):
            return None
        if t.lemma_.lower() in _INCEPTION:
            inner = [c for c in t.children if c.dep_ in ("xcomp", "dobj", "ccomp") and c.pos_ == "VERB"]
            return inner[0] if inner else t
        if t.pos_ == "AUX":
            return None
        return t
    return None
