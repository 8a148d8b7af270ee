"""Values a person holds one of at a time, as the extractor names them (recalld.kernel.slots).

* Value descriptions: "my email is ...", "my phone number is ...", "my favourite food is ...",
  "my birthday is on ..." state the owner's value directly: ``(alice, has_email, a@b.org)``,
  ``(alice, has_favourite_food, sushi)``. They are not entities (no ``has_email`` to an
  "alice's email" node), so two of them never compete as two descriptions would.
* Roles: "my piano teacher is Mrs. Park", "Dana is my new tutor", "Mr. Kim teaches me chemistry"
  name the holder of a role the owner has one of: ``(alice's piano teacher, has_name, Park)``.
  Words that only date the role ("new", "current") are not part of it.
* Contact details anywhere in a speaker's sentence ("please use b@y.org from now on").
* Doses: "20 mg of lisinopril" is the medication lisinopril at a dose of 20 mg.
"""

from __future__ import annotations

import re

from spacy.tokens import Span, Token

from recalld.kernel.slots import ROLE_TIME_WORDS, ROLES

VALUE_NOUNS = frozenset({"email", "e-mail", "mail", "phone", "number", "cell", "mobile", "address", "birthday"})
FAVOURITE = frozenset({"favourite", "favorite", "fave"})
UNITS = frozenset({"mg", "mcg", "µg", "g", "ml", "unit", "units", "iu", "milligram", "milligrams", "microgram",
                   "micrograms", "tablet", "tablets", "pill", "pills", "puff", "puffs", "drop", "drops", "capsule",
                   "capsules", "dose", "doses", "shot", "shots"})  # fmt: skip
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
PHONE = re.compile(r"(?<!\w)\+?\(?\d[\d ().-]{5,}\d(?!\w)")
_PHONE_WORDS = re.compile(r"\b(?:phone|number|cell|mobile|call|text|reach|whatsapp|contact)\b", re.IGNORECASE)
TEACHING = {"teach": "teacher", "tutor": "tutor", "coach": "coach", "train": "trainer", "treat": "doctor",
            "counsel": "counselor", "mentor": "mentor"}  # fmt: skip
LESSONS = frozenset({"lesson", "class", "session"})  # "gives me piano lessons": the teacher of piano


def description(noun: Token | None) -> str | None:
    """ "email", "phone_number", "favourite_food", "favourite" for a value description."""
    if noun is None or noun.pos_ not in ("NOUN", "ADJ", "PROPN"):
        return None
    head = noun.lemma_.lower()
    mods = [c.lower_ for c in noun.lefts if c.dep_ in ("amod", "compound")]
    if head in FAVOURITE:
        return "favourite"
    if any(m in FAVOURITE for m in mods):
        return "_".join(["favourite", *(m for m in mods if m not in FAVOURITE), head]).replace("-", "_")
    if head in VALUE_NOUNS:
        return "_".join([*(m for m in mods if m not in ROLE_TIME_WORDS), head]).replace("-", "_")
    return None


def is_role(noun: Token | None) -> bool:
    return noun is not None and noun.pos_ == "NOUN" and noun.lemma_.lower() in ROLES


def role_words(phrase: str) -> str:
    """The role without the words that only date it: "new piano teacher" -> "piano teacher"."""
    kept = [w for w in phrase.split() if w.casefold() not in ROLE_TIME_WORDS]
    return " ".join(kept) or phrase


def taught(v: Token) -> tuple[str, str] | None:
    """(role, subject area) when ``v`` says its subject holds a role for the speaker: "Mr. Kim
    teaches me chemistry" -> ("teacher", "chemistry"), "Mr. Ito gives me piano lessons" ->
    ("teacher", "piano"), "Ms. Lopez tutors me in French" -> ("tutor", "french")."""
    lemma = v.lemma_.lower()
    me = [c for c in v.children if c.dep_ in ("dative", "dobj") and c.lower_ in ("me", "us")]
    if not me:
        return None
    things = [c for c in v.children if c.dep_ == "dobj" and c.lower_ not in ("me", "us")]
    if lemma == "give":
        lessons = [t for t in things if t.lemma_.lower() in LESSONS]
        if not lessons:
            return None
        area = [c.lower_ for c in lessons[0].lefts if c.dep_ in ("compound", "amod", "nmod")]
        return "teacher", " ".join(area)
    role = TEACHING.get(lemma)
    if role is None:
        return None
    area = [t.lower_ for t in things if t.pos_ in ("NOUN", "PROPN")]
    if not area:
        area = [p.lower_ for c in v.children if c.dep_ == "prep" and c.lower_ in ("in", "for") for p in c.children
                if p.dep_ == "pobj"]  # fmt: skip
    return role, " ".join(area[:1])


def dose(obj: Token) -> tuple[str, Token] | None:
    """("20 mg", the medication token) for "20 mg of lisinopril"."""
    if obj.lower_ not in UNITS:
        return None
    amount = [c for c in obj.lefts if c.dep_ == "nummod" and c.like_num]
    for p in obj.children:
        if p.dep_ == "prep" and p.lower_ == "of":
            for med in p.children:
                if med.dep_ == "pobj":
                    return " ".join([*(a.text for a in amount), obj.lower_]), med
    return None


def emails(sent: Span) -> list[str]:
    return EMAIL.findall(sent.text)


def phones(sent: Span) -> list[str]:
    if not _PHONE_WORDS.search(sent.text):
        return []
    out = []
    for m in PHONE.finditer(sent.text):
        digits = sum(ch.isdigit() for ch in m.group(0))
        if 7 <= digits <= 15:
            out.append(m.group(0).strip())
    return out


_AMOUNT = r"\d+(?:\.\d+)?\s?(?:mg|mcg|µg|ml|units?|iu|milligrams?)\b"
_DRUG = r"[A-Za-z][\w-]{3,}"
DOSES = (
    re.compile(rf"\bmy (?P<drug>{_DRUG})(?: dose| dosage| prescription)? (?:(?:was|has been|is|got|went) )?"
               rf"(?:\w+ )?(?:up |down )?(?:to|at) (?P<amt>{_AMOUNT})", re.IGNORECASE),
    re.compile(rf"\b(?:lowered|raised|increased|decreased|reduced|upped|changed|cut|dropped|bumped|put) my "
               rf"(?P<drug>{_DRUG})(?: dose| dosage)? (?:up |down )?(?:to|at) (?P<amt>{_AMOUNT})", re.IGNORECASE),
    re.compile(rf"\b(?P<drug>{_DRUG})\s+(?P<amt>{_AMOUNT})", re.IGNORECASE),
    re.compile(rf"\b(?P<amt>{_AMOUNT})\s+(?:of\s+)?(?P<drug>{_DRUG})", re.IGNORECASE),
)  # fmt: skip
NOT_DRUGS = frozenset({"take", "takes", "taking", "took", "dose", "dosage", "about", "only", "now", "down", "from",
                       "with", "than", "daily", "each", "every", "extra", "another", "tablet", "tablets", "pill",
                       "pills", "and", "plus", "then", "just", "lowered", "raised", "increased",
                       "decreased", "reduced", "changed", "mg", "ml", "mcg", "units", "unit", "twice", "once",
                       "because", "before", "after", "when", "while", "since", "times",
                       "morning", "mornings", "night", "nights", "evening", "evenings", "this", "that", "which",
                       "bedtime", "breakfast", "lunch", "dinner", "meals", "food", "week", "weeks",
                       "days"})  # fmt: skip
STUDENTS = frozenset({"student", "freshman", "sophomore", "junior", "senior", "pupil", "undergrad", "undergraduate",
                      "postgrad", "fresher", "schoolboy", "schoolgirl", "graduate"})  # fmt: skip
# "my final year", "year 12", "7th grade": a school year, not "six years" at a company
SCHOOL_YEAR = re.compile(
    r"\b(?:final|first|second|third|fourth|last|senior|junior|\d+(?:st|nd|rd|th))[- ]year\b|\byear \d+\b|"
    r"\b\d+(?:st|nd|rd|th) grade\b|\bgrade \d+\b",
    re.IGNORECASE,
)
CHANGE = re.compile(
    r"\b(?:now|new|instead|switched|switch|changed|change|replaced|registered with|started (?:sessions|seeing|"
    r"working|lessons) with|took over|taken over|takes over|moved to)\b",
    re.IGNORECASE,
)
FORMER = frozenset({"old", "former", "previous", "last", "ex"})
RESCHEDULING = frozenset({"move", "reschedule", "postpone", "push", "change", "bring", "delay", "shift", "put"})


def doses(text: str) -> list[tuple[str, str]]:
    """(medication, amount) for each dose the text states; the first pattern that names a
    medication wins ("lowered my Nuvexa to 10 mg": 10 mg, not the old dose)."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for rx in DOSES:
        for m in rx.finditer(text):
            drug = m.group("drug")
            if drug.casefold() in NOT_DRUGS or drug.casefold() in seen:
                continue
            seen.add(drug.casefold())
            out.append((drug, " ".join(m.group("amt").split())))
    return out
