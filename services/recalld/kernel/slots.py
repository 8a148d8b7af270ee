"""Relation classes: the ways people state one thing, and how many values it holds at a time.

A fact's *slot* is its subject plus the class of its relation. A class is **single** when one
value holds at a time (an employer, a home, an email address: a new value retires the old one)
and **many** otherwise (allergies, likes: values accumulate until one is retracted). The rules of
recalld.core.reconcile compare slots, not raw predicates: "I've been hired by KPMG" (``hired_by``)
and "I work at Deloitte" (``work_at``) are both the ``works_at`` slot of the speaker.

This module is data, meant to be read and extended by a domain expert: :data:`CLASSES` below.
Predicates are written as the extractor writes them (recalld.extraction.words.lemma: the verb's lemma
and its preposition, ``hire_by`` for the passive "hired by"), without the polarity prefixes
``not_``, ``stop_``/``quit_`` and ``start_``/``begin_``, which every class accepts.

A predicate that no class lists may still belong to one: with the fallback on
(``RECALLD_TRUTH_SLOT_FALLBACK``), its phrase ("recruit by") is embedded with the model already
loaded and compared with each single class's ``examples``; above ``FALLBACK_SIMILARITY`` (chosen
on the development predicates, then frozen) it joins the closest class. Only single classes are
offered: a wrong guess there retires a fact, so the bar is high; a miss only adds.

Roles held by one person ("my piano teacher is Mrs. Park", "Mr. Ito gives me piano lessons now")
are the ``has_name`` slot of the role's description ("alice's piano teacher"), which the
extractor names (:data:`ROLES`). Favourites are one slot per category (``has_favourite_food``);
"ramen is my favourite" (no category) competes with the favourites of the subject that the new
fact is close to (a vector neighbour above ``judge_similarity``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RelationClass:
    name: str  # the slot's name: the canonical predicate, and the rule "single_valued:<name>"
    single: bool  # one value at a time
    predicates: frozenset[str] = frozenset()  # forms that always state it
    named: frozenset[str] = frozenset()  # forms that state it only with a proper name as object
    examples: tuple[str, ...] = ()  # phrases the fallback compares unknown predicates with
    keyed: bool = False  # one slot per object's first word (the dose of each named medication)


def _c(
    name: str, single: bool, predicates: str = "", named: str = "", examples: str = "", *, keyed: bool = False
) -> RelationClass:
    return RelationClass(
        name, single, frozenset(predicates.split()), frozenset(named.split()),
        tuple(e.strip() for e in examples.split(",") if e.strip()), keyed,
    )  # fmt: skip


# fmt: off
CLASSES: tuple[RelationClass, ...] = (
    # where one lives
    _c("lives_in", True,
       "live_in lives_in move_to relocate_to reside_in settle_in base_in based_in is_based_in move_back_to "
       "relocated_to moved_to live_at live_outside live_near move_into moved_into",
       examples="live in, moved to, relocated to, based in, reside in, settled in, living in"),
    # where one works, and as what
    _c("works_at", True,
       "work_at work_for works_at works_for employ_by employed_by employ_at hire_by hired_by hired_at job_at "
       "work_in_at intern_at",
       named="join start_at start_with is_with sign_with transfer_to play_for",
       examples="work at, work for, employed by, hired by, job at, joined the company, started working at"),
    _c("works_as", True,
       "work_as works_as employ_as employed_as hire_as hired_as promote_to promoted_to start_as",
       examples="work as, employed as, promoted to, hired as, job title"),
    # school and grade
    _c("studies_at", True,
       "study_at studies_at attend enrol_in enroll_in enrolled_in enrol_at enroll_at",
       examples="study at, attend school, enrolled at, go to school at, student at"),
    _c("in_grade", True, "in_grade is_in_grade", examples="in grade, school year"),
    # the person
    _c("has_age", True, "has_age", examples="years old, age is"),
    _c("has_birthday", True, "has_birthday born_on is_born_on", examples="birthday is, born on"),
    _c("has_name", True, "has_name called named", examples="name is, called"),
    _c("married_to", True, "married_to marry wed is_married_to", examples="married to, husband is, wife is"),
    _c("has_weight", True, "has_weight weigh", examples="weigh, weight is"),
    _c("has_height", True, "has_height", examples="height is, tall"),
    # contact details
    _c("has_email", True, "has_email has_e_mail has_email_address", examples="email is, email address"),
    _c("has_phone", True, "has_phone has_phone_number has_number has_cell has_mobile has_cell_number "
       "has_mobile_number", examples="phone number is, cell is, mobile number"),
    _c("has_address", True, "has_address has_home_address", examples="address is, home address"),
    # medication doses: one dose per named medication
    _c("takes_dose", True, "takes_dose", keyed=True),
)
# fmt: on
# Descriptions whose name one person holds at a time: "my piano teacher is Mrs. Park".
ROLES = frozenset(
    {
        "doctor",
        "gp",
        "physician",
        "dentist",
        "therapist",
        "psychiatrist",
        "psychologist",
        "counselor",
        "counsellor",
        "physiotherapist",
        "physio",
        "pediatrician",
        "paediatrician",
        "cardiologist",
        "dermatologist",
        "oncologist",
        "neurologist",
        "surgeon",
        "nurse",
        "midwife",
        "optometrist",
        "tutor",
        "teacher",
        "coach",
        "trainer",
        "instructor",
        "mentor",
        "advisor",
        "adviser",
        "supervisor",
        "manager",
        "boss",
        "lawyer",
        "accountant",
        "landlord",
        "landlady",
        "babysitter",
        "nanny",
        "vet",
        "hairdresser",
        "barber",
        "pharmacist",
        "principal",
        "headteacher",
        "professor",
        "lecturer",
        "caseworker",
        "carer",
        "caregiver",
    }
)  # fmt: skip
# Words of a role's description that do not change the role: "my new doctor" is "my doctor".
ROLE_TIME_WORDS = frozenset({"new", "current", "present", "regular", "usual", "main", "primary"})
# Verbs that end a habit with a bare object: "I gave up caffeine", "I quit smoking".
# And what ends a relation to a person: "Kieran and I broke up" ends "my boyfriend Kieran".
ENDING_VERBS = frozenset({"quit", "give_up", "stop", "drop", "cut_out", "kick", "ditch", "drop_out_of",
                          "break_up_with", "split_up_with", "split_from", "divorce", "separate_from"})  # fmt: skip
# Verbs that hold a habit: what "I gave up caffeine" looks for beside the object itself.
HABIT_VERBS = frozenset(
    {
        "drink",
        "eat",
        "smoke",
        "take",
        "use",
        "have",
        "consume",
        "vape",
        "chew",
        "love",
        "like",
        "enjoy",
        "buy",
        "order",
        "need",
    }
)
# What a ceased object covers: giving up caffeine ends the coffees, giving up alcohol the wine.
KINDS: Mapping[str, frozenset[str]] = {
    "caffeine": frozenset({"coffee", "espresso", "latte", "cappuccino", "tea", "energy drink", "cola", "coke",
                           "red bull", "soda", "americano", "mocha"}),
    "alcohol": frozenset({"wine", "beer", "whisky", "whiskey", "vodka", "gin", "rum", "cocktail", "drink",
                          "booze", "cider", "champagne", "tequila", "liquor", "spirit"}),
    "drinking": frozenset({"wine", "beer", "whisky", "whiskey", "vodka", "gin", "rum", "cocktail", "booze",
                           "alcohol"}),
    "meat": frozenset({"beef", "pork", "chicken", "lamb", "steak", "bacon", "ham", "sausage", "burger",
                       "turkey", "veal"}),
    "dairy": frozenset({"milk", "cheese", "yogurt", "yoghurt", "butter", "cream", "ice cream"}),
    "sugar": frozenset({"sweet", "candy", "chocolate", "soda", "dessert", "cake", "cookie", "sweets"}),
    "smoking": frozenset({"cigarette", "cigar", "tobacco", "vape", "vaping", "pipe", "joint"}),
    "tobacco": frozenset({"cigarette", "cigar", "vape", "pipe"}),
    "social media": frozenset({"instagram", "tiktok", "facebook", "twitter", "snapchat", "reddit"}),
    "gluten": frozenset({"bread", "pasta", "wheat", "beer"}),
    "junk food": frozenset({"chips", "fries", "burger", "pizza", "candy", "soda", "fast food"}),
}  # fmt: skip
# Values of which one holds at a time, whatever verb states them: "I'm pescatarian", later "I've
# gone fully plant-based". Each is the slot ``kind:<name>`` of its subject.
EXCLUSIVE: Mapping[str, frozenset[str]] = {
    "diet": frozenset({"vegetarian", "vegan", "pescatarian", "pescetarian", "plant-based", "plant-base",
                       "plant based", "omnivore", "flexitarian", "carnivore", "fruitarian"}),
    "relationship": frozenset({"single", "married", "divorced", "engaged", "widowed", "separated"}),
}  # fmt: skip
EXCLUSIVE_VERBS = frozenset({"is", "is_a", "be", "go", "become", "turn", "stay", "remain", "eat", "is_on", "follow",
                             "get"})  # fmt: skip

# Words that mark a statement as a change of what the speaker held before, so that it replaces the
# current fact of the same slot, or of the same kind of thing ("a low-carb diet", then "a
# Mediterranean diet instead"; "Mrs. Grant's homeroom", then "switched to Mr. Ferreira's homeroom").
# A strong cue replaces in any slot; a weak cue (a "now" may only add) replaces only close facts of
# relations that are not possessions, identities or the lists a clinician must never see shrink
# unasked (medications, allergies, conditions).
REPLACING_STRONG = ("instead", "switched", "switch to", "switching to", "changed to", "change to", "replaced",
                    "in place of", "from now on", "the only", "any more", "anymore", "no longer")  # fmt: skip
REPLACING_WEAK = ("now", "these days", "nowadays", "my old", "our old", "moved", "currently", "this season",
                  "this year", "this term", "this semester")  # fmt: skip
ADDING = ("also", "too", "as well", "another", "second", "in addition", "besides", "plus", "both", "extra",
          "more", "other")  # fmt: skip
# Relations a weak cue never replaces: possessions and identities accumulate ("we got a new puppy
# now"), and so do the lists of medicine ("I'm now taking ibuprofen" keeps the aspirin).
KEPT_ON_WEAK = frozenset({"is", "is_a", "be", "have", "take", "takes_dose", "allergic_to", "is_allergic_to",
                          "intolerant_to", "is_intolerant_to", "diagnosed_with", "prescribe", "prescribed",
                          "suffer_from", "is_on", "use", "know", "speak", "love", "like", "enjoy"})  # fmt: skip
# Heads too general to say two things are of one kind ("a good thing" and "a bad thing").
GENERIC_HEADS = frozenset({"thing", "one", "time", "day", "week", "month", "year", "stuff", "way", "lot", "bit",
                           "people", "person", "place", "kind", "sort", "part", "side", "morning", "night",
                           "evening", "weekend"})  # fmt: skip
# "Rosie passed away": what the extractor states of the one who died, (Rosie, is, deceased). It ends
# being had by someone ("we have a beagle named Rosie") and the one's single-valued states ("my
# dad lives in Leeds"); what the one did stays true.
DECEASED = "deceased"
# "Garlic seems fine for me again": an end of a negation ("I can't eat garlic").
RESTORED = frozenset({"fine", "ok", "okay", "alright", "safe", "good", "back"})
FALLBACK_SIMILARITY = 0.82  # chosen on the development predicates (bench/results/slot-fallback-2026-12-06.md), frozen

BY_NAME: Mapping[str, RelationClass] = {c.name: c for c in CLASSES}
_PREDICATES: Mapping[str, str] = {p: c.name for c in CLASSES for p in c.predicates}
_NAMED: Mapping[str, str] = {p: c.name for c in CLASSES for p in c.named}
_FAVOURITE = re.compile(r"^has_(?:favou?rite|fave)(?:_(?P<category>\w+))?$")


def single_valued() -> frozenset[str]:
    return frozenset(c.name for c in CLASSES if c.single)


def equivalents() -> dict[str, str]:
    """Predicate -> class name, for the predicates that always state their class."""
    return {p: c for p, c in _PREDICATES.items() if p != c}


def named_class(predicate: str) -> str | None:
    """The class ``predicate`` states when its object is a proper name ("joined Accenture")."""
    return _NAMED.get(predicate)


def favourite(predicate: str) -> str | None:
    """``favourite:<category>`` for ``has_favourite_food``, ``favourite:`` without a category."""
    m = _FAVOURITE.match(predicate)
    return None if m is None else f"favourite:{m.group('category') or ''}"


def covers(ceased: str, held: str) -> bool:
    """Whether ending ``ceased`` ends ``held`` ("caffeine" covers "three coffees")."""
    if ceased == held:
        return True
    kinds = KINDS.get(ceased)
    if kinds is None:
        return False
    words = held.split()
    head = words[-1] if words else held
    singular = head[:-1] if head.endswith("s") and not head.endswith("ss") else head
    return held in kinds or head in kinds or singular in kinds or " ".join(words[-2:]) in kinds


def exclusive(predicate: str, value: str) -> str | None:
    """``kind:<name>`` when ``value`` is one of the values of :data:`EXCLUSIVE` stated by a verb of
    being or becoming ("I'm pescatarian", "I've gone vegan")."""
    if predicate not in EXCLUSIVE_VERBS and predicate.rsplit("_", 1)[-1] not in EXCLUSIVE_VERBS:
        return None  # "I'm vegan", "Ivy has decided to go vegan" (decide_go)
    for kind, values in EXCLUSIVE.items():
        if value in values:
            return f"kind:{kind}"
    return None


def phrase(predicate: str) -> str:
    """The words of a predicate, as the fallback embeds them: ``recruit_by`` -> "recruit by"."""
    return predicate.replace("_", " ").strip()


def named_predicates() -> frozenset[str]:
    return frozenset(_NAMED)


# Predicates that place a thing in time: "my exam is on April 12" (``is_on``), rescheduled or not.
WHEN = frozenset({"is_on", "is_at", "is_in", "is_for", "scheduled_for", "is_scheduled_for", "move_to", "push_to",
                  "reschedule_for", "reschedule_to", "postpone_to", "postpone_until", "change_to", "is_due_on",
                  "due_on", "start_on", "begin_on", "book_for", "booked_for", "is_booked_for"})  # fmt: skip


def role(predicate: str) -> str | None:
    """ "swim_coach" for ``has_swim_coach``: an owner's role of one holder (:data:`ROLES`)."""
    if not predicate.startswith("has_"):
        return None
    words = predicate[4:]
    return words if words.split("_")[-1] in ROLES else None


# The fallback's answers for every verb of the extractor's lemmatizer, computed ahead of time
# (generated by ``python -m bench.slot_vocabulary``; recalld.core.classify reads it).
VOCABULARY = Path(__file__).with_name("slot_vocabulary.json")
