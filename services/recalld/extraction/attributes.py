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
from collections.abc import Iterable, Iterator, Sequence

from spacy.tokens import Span, Token

from recalld.extraction import said_attributes, statements
from recalld.extraction.attribute_words import (
    ACRONYM,
    CONDITIONS,
    DIAGNOSED,
    DIET_WORDS,
    DISLIKE,
    DISLIKE_PHRASES,
    DROP_ADVERBS,
    DRUG_STEM,
    EDIBLE,
    EXERCISE,
    EXERCISE_OBJECTS,
    FAMILY,
    FAN_INTENSIFIERS,
    FANS,
    FREQUENCY,
    INCEPTION,
    LIKE,
    LIKE_PHRASES,
    MEDICATION,
    NOT_OCCUPATION,
    OCCUPATION_SUFFIX,
    OCCUPATIONS,
    PEOPLE,
    SCHEDULE_WORDS,
    SCHOOL_NAME,
    STUDY,
    STUDY_ROUTINE,
    STUDY_WORDS,
    TAKEN_DRUG,
    TAKING,
)
from recalld.extraction.words import children
from recalld.kernel import slots
from recalld.kernel.domain import Attribute, Triple, norm

_EXAM_HEAD = re.compile(statements.EXAM_WORDS, re.IGNORECASE)
_INSTRUCTION_NAMES = frozenset({"response_format", "response_language", "response_tone", "avoid", "instructions"})

_EXAM = re.compile(
    r"\b(?:my|the|an?|our)\s+((?:[\w\-]+\s+){0,3}?(?:" + statements.EXAM_WORDS + r"))\s+(?:is|are|will be|"
    r"takes place|starts?|begins?)\s+(.+?)[.!]?$",
    re.IGNORECASE,
)
_WEAK = re.compile(
    r"\b(?:i'm|i am|i've been|i was)\s+(?:really\s+|quite\s+|so\s+)?(?:bad|weak|terrible|awful|struggling)\s+"
    r"(?:at|in|with)\s+([\w\- ]{2,40}?)[.!,]?$|\bi (?:struggle|struggled|have trouble|have difficulty) with\s+"
    r"([\w\- ]{2,40}?)[.!,]?$",
    re.IGNORECASE,
)


class _Found:
    """The attributes found so far, in the order found, each once; a value loses the spaces and
    punctuation around it."""

    def __init__(self) -> None:
        self.attributes: list[Attribute] = []

    def add(self, name: str, value: str) -> None:
        value = " ".join(value.strip(" .,!?;:").split())
        if value and Attribute(name, value) not in self.attributes:
            self.attributes.append(Attribute(name, value))

    def extend(self, found: Iterable[tuple[str, str]]) -> None:
        for name, value in found:
            self.add(name, value)

    def has(self, *names: str) -> bool:
        return any(a.name in names for a in self.attributes)


def distil(sent: Span, triples: Sequence[Triple], speaker: str, *, negated: bool) -> tuple[Attribute, ...]:
    """The speaker's attributes stated by this sentence. A negated sentence states only what the
    user asks the assistant not to do ("don't use emojis") or does not understand."""
    if not speaker:
        return ()
    text = sent.text.strip()
    found = _Found()
    fragment = statements.said_to_assistant(sent)
    if (_first_person(sent) or _imperative(sent) or fragment) and not _about_others(sent):
        found.extend(statements.instructions(sent, _imperative(sent) or fragment, addressed=fragment))
    if negated:  # what an instruction asks for is said before its "don't" ("Be direct, I don't need ...")
        found.extend(_denied(sent, text))
        kept = ("difficulties", "dislikes", *_INSTRUCTION_NAMES)
        return tuple(a for a in found.attributes if a.name in kept)
    if found.has(*_INSTRUCTION_NAMES) or _past_state(sent):
        return tuple(found.attributes)  # "I lived in Madrid for three years", "I used to have eczema": no longer so
    mine = _says_of_me(sent)
    found.extend(_from_triples(sent, triples, speaker, mine))
    found.extend(_reactions(text))
    if mine:
        found.extend(_said_of_me(sent, text))
    if mine or _first_person(sent):  # the forms name the speaker themselves: "Opera does nothing for me"
        known = {(a.name, _singular(a.value).casefold()) for a in found.attributes}
        found.extend(p for p in said_attributes.preferences(text) if (p[0], _singular(p[1]).casefold()) not in known)
    if mine:
        found.extend(said_attributes.studies(text))
        if not found.has("location"):
            placed = found.has("job_title", "employer", "school", "studies")
            found.extend(said_attributes.place_of_work_or_home(sent, placed))
        kin = [k for k in said_attributes.family(text) if not any(a.name == "family" and a.value.startswith(k[1])
                                                                   for a in found.attributes)]  # fmt: skip
        found.extend(kin)
    if mine and not _hypothetical(sent):
        found.extend(_medications(text, triples, norm(speaker)))
        found.extend((name, value) for name, said in _SAID for value in said(text))
        found.extend(said_attributes.conditions(text, found.has("medications")))
        found.extend(_conditions(text))
        found.extend(_exam_and_weakness(text))
        routine = _routine(sent)
        if routine is not None and not found.has("medications"):
            found.add(*routine)
    return tuple(found.attributes)


def _denied(sent: Span, text: str) -> Iterator[tuple[str, str]]:
    """What a negated sentence still says of the speaker: what they do not understand, and what
    they cannot stand ("I can't stand olives", "horror movies are not my thing")."""
    for value in statements.difficulties(text) if _first_person(sent) else ():
        yield "difficulties", value
    for name, value in _said_of_me(sent, text) if _says_of_me(sent) else ():
        if name == "dislikes":
            yield name, value
    if _first_person(sent):
        yield from (a for a in said_attributes.preferences(text) if a[0] == "dislikes")  # "I've never liked X"


_LATER_AGE = re.compile(r"\b(?:before|when|by the time|until|till|once|after|if)\s+i\s+(?:turn|reach|hit)\b", re.I)


def _from_triples(sent: Span, triples: Sequence[Triple], speaker: str, mine: bool) -> Iterator[tuple[str, str]]:
    """The attributes the speaker's own triples hold: allergies, location, employer, job title, diet,
    school, studies, age, pets, family, likes and dislikes."""
    me = norm(speaker)
    text = sent.text.strip()
    types = {norm(t.subject): t.object for t in triples if t.predicate == "is_a"}
    named = {norm(t.subject): t.object for t in triples if t.predicate == "has_name"}
    for t in triples:
        if norm(t.subject) != me:
            continue
        p, o = t.predicate, t.object
        obj = o.casefold()
        kind = _slot(p, t)
        if p == "allergic_to":
            yield "allergies", o
        elif kind == "lives_in" and t.object_type != "date":
            yield "location", o
        elif kind == "works_at" and t.object_type != "date":
            yield "employer", o
        elif p == "is_a" and obj.split()[-1:] and obj.split()[-1] in FANS:  # "a huge Liverpool supporter"
            liked = " ".join(w for w in o.split()[:-1] if w.casefold() not in FAN_INTENSIFIERS)
            said = re.search(re.escape(liked), text, re.IGNORECASE) if liked else None
            if liked:
                yield "likes", said.group(0) if said else liked  # as written: "Arsenal"
        elif kind == "works_as" or (p == "is_a" and _job_title(obj, text)):
            yield "job_title", o
        elif p in ("is", "is_a", "eat", "follow", "is_on", "do") and _diet(obj) is not None:
            yield "diet", _diet(obj) or o
        elif kind == "studies_at":
            yield "school", o
        elif p in ("study", "major_in", "study_for", "do_in", "is_in", "take") and _studied(sent, o):
            yield "studies", o
        elif p == "has_age":
            if not _LATER_AGE.search(text):  # "before I turn 40": an age to come, not the speaker's
                yield "age", o
        elif p == "has_pet":
            species = types.get(norm(o))
            kind_of = (species or o).casefold().split()[-1]
            if kind_of in EDIBLE and not re.search(
                rf"\b(?:a|an|my|our|pet|\d+|two|three|four)\s+{kind_of}", text, re.I
            ):
                continue  # "I'll have fish now and then": a meal
            yield "pets", f"{o} ({species})" if species and norm(species) != norm(o) else o
        elif p.startswith("has_") and p[4:] in FAMILY and (mine or norm(o) in named or "'s " not in o):
            who = named.get(norm(o)) or _own_description(o, speaker)
            yield "family", p[4:] if who in ("", p[4:]) else f"{p[4:]}: {who}"
        elif p == "married_to":
            yield "family", f"spouse: {o}"
        elif p in LIKE or p in LIKE_PHRASES:
            yield "likes", _surface(o, text)
        elif p in DISLIKE or p in DISLIKE_PHRASES:
            yield "dislikes", _surface(o, text)


def _reactions(text: str) -> Iterator[tuple[str, str]]:
    """ "Penicillin gives me a rash": an allergy of the speaker's, whoever the subject."""
    for m in _REACTION.finditer(text):
        if m.group("x").casefold() not in ("it", "this", "that", "which", "something", "stress", "sun", "heat"):
            yield "allergies", m.group("x")


def _medications(text: str, triples: Sequence[Triple], me: str) -> Iterator[tuple[str, str]]:
    """What the speaker takes: "I take <drug>" with a dosage word or a drug's stem, and the objects of
    their taking triples that are medicines (``me``: the speaker, normalised)."""
    drug = TAKEN_DRUG.search(text)
    drug_name = drug.group(1) if drug is not None and drug.group(1).casefold() not in statements.NOT_MEDICINE else ""
    if drug_name and (MEDICATION.search(text) or DRUG_STEM.search(drug_name)):
        yield "medications", drug_name
    for t in triples:
        name = SCHEDULE_WORDS.sub("", t.object)
        if norm(t.subject) == me and t.predicate in TAKING and statements.is_medicine(name, text):
            yield "medications", name


def _conditions(text: str) -> Iterator[tuple[str, str]]:
    """Conditions the speaker has, was diagnosed with or lives with, named, as an acronym ("I have
    ADHD") or as "my ... disorder"."""
    conditions = (
        [m.group(1).lower() for m in CONDITIONS.finditer(text)]
        if re.search(r"\b(have|has|had|got|diagnosed|suffer)", text, re.I)
        else []
    )
    for c in conditions or [m.group(1).lower() for m in DIAGNOSED.finditer(text)]:
        yield "conditions", c
    for m in ACRONYM.finditer(text):
        yield "conditions", m.group(1)
    for m in re.finditer(r"\bmy ((?:[a-z']+ )?(?:disease|disorder|syndrome|diabetes|asthma|epilepsy|arthritis|adhd|"
                         r"allergy|condition))\b", text, re.I):  # fmt: skip
        if m.group(1).casefold() not in ("condition", "allergy"):
            yield "conditions", m.group(1)


def _exam_and_weakness(text: str) -> Iterator[tuple[str, str]]:
    """ "My chemistry exam is on Friday", "I'm really bad at algebra"."""
    if (exam := _EXAM.search(text)) is not None:
        yield "upcoming_exam", f"{exam.group(1)} {exam.group(2)}"
    if (weak := _WEAK.search(text)) is not None:
        yield "difficulties", weak.group(1) or weak.group(2)


# attribute <- the rule of recalld.extraction.statements that finds its values in the text
_SAID = (
    ("medications", statements.medications),
    ("goals", statements.goals),
    ("symptoms", statements.symptoms),
    ("injuries", statements.injuries),
    ("mastered", statements.mastered),
    ("upcoming_exam", statements.exams),
    ("difficulties", statements.difficulties),
)
_SLOTS = slots.equivalents()


def _titled(t: Token) -> bool:
    return any(c.dep_ == "compound" and c.lower_.rstrip(".") in ("dr", "doctor", "prof", "professor", "nurse", "coach")
               for c in t.children)  # fmt: skip


def _slot(predicate: str, t: Triple) -> str:
    """The relation class of a triple of the speaker's (recalld.kernel.slots)."""
    kind = _SLOTS.get(predicate, predicate)
    named = slots.named_class(predicate)
    if named is not None and t.object[:1].isupper() and t.object_type not in ("person", "date"):
        return named
    return kind


_SAID_AS_JOB = (
    r"\b(?:i'?m|i am|i was|i've been|i have been|i work as|i'm working as|worked as)\s+(?:a|an)\s+(?:[\w-]+\s+){0,3}?"
)


def _job_title(noun: str, text: str) -> bool:
    """A listed occupation is a job title as it stands; a noun that only ends like a trade
    ("sommelier", but also "reminder", "content") is one when the speaker says they are one ("I'm a
    sommelier", "I work as an archivist"). Without that, "it was a powerful reminder" and "we can
    be content" gave the speaker two job titles, and the second retired the memory of the first
    (LoCoMo conv-26)."""
    head = noun.split()[-1] if noun else noun
    if noun in OCCUPATIONS or head in OCCUPATIONS:
        return True
    return _is_occupation(noun) and re.search(_SAID_AS_JOB + re.escape(head) + r"\b", text, re.IGNORECASE) is not None


def _is_occupation(noun: str) -> bool:
    head = noun.split()[-1] if noun else noun
    return (
        noun in OCCUPATIONS
        or head in OCCUPATIONS
        or (head not in NOT_OCCUPATION and bool(OCCUPATION_SUFFIX.search(head)) and head not in FAMILY)
    )


def _diet(value: str) -> str | None:
    m = DIET_WORDS.search(value)
    return m.group(1) if m else None


def _studied(sent: Span, value: str) -> bool:
    return bool(STUDY_WORDS.search(sent.text)) and not SCHOOL_NAME.search(value)


def _hypothetical(sent: Span) -> bool:
    return any(t.lower_ in ("if", "unless", "whether") for t in sent)


def _says_of_me(sent: Span) -> bool:
    """The sentence's main clause is about the speaker ("I ...", "My husband and I ...", "we ..."),
    not about a relative or a friend ("my son broke his arm")."""
    root = sent.root
    subj = [c for c in root.children if c.dep_ in ("nsubj", "nsubjpass", "expl")]
    if not subj:
        # in chat a statement without a subject is the speaker's ("Big fan of sci-fi", "Studying nursing
        # at Georgia State"), unless it is shaped as a request (a bare verb first: "Keep it short")
        # ("Love a good podcast": nobody is told to love, so a verb of liking is not a request)
        request = root.tag_ == "VB" and root.lemma_.lower() not in LIKE | DISLIKE
        return _first_person(sent) or (not request and not sent.text.rstrip().endswith("?"))
    heads = [t for s in subj for t in (s, *s.conjuncts)]
    clauses = [c for c in root.conjuncts if c.pos_ in ("VERB", "AUX")]
    if any(t.lower_ in ("i", "we") for t in heads) or any(
        s.lower_ in ("i", "we") for c in clauses for s in c.children if s.dep_ in ("nsubj", "nsubjpass")
    ):
        return True  # "I ...", "My husband and I ...", "The bar exam is on Monday and I'm terrified"
    head = heads[0]
    dated = any(e.label_ in ("DATE", "TIME") for e in sent.ents)
    if _EXAM_HEAD.fullmatch(head.lower_) and not children(head, "poss") and dated:
        return True  # "The MCAT is on June 14th": a dated exam nobody else is said to sit is the speaker's
    if head.tag_ == "VBG":
        return True  # "Living with Lupus is tiring", "Running is my thing": the speaker's own doing
    if head.lemma_.lower() in PEOPLE or (head.pos_ == "PROPN" and not _titled(head)):
        return False  # "my son broke his arm", "Anna takes ...": somebody else's
    # "my exam", "my knees", "Dr. Haddad changed my dose", "X is my biggest weakness", "I've got three
    # kids, so life is chaos" (the main clause is the afterthought): about the speaker
    return any(t.lower_ in ("i", "my", "me", "our", "us") for t in sent)


_I = r"(?i:i'?m|i am)"  # the first person, in any case, inside patterns that need capitals for names
_NAME = r"[A-Z][\w'&.-]*(?:\s+(?:of\s+)?[A-Z&][\w'&.-]*)*"
_STUDENT = re.compile(
    rf"\b{_I}\s+(?i:a|an)\s+(?:[\w-]+\s+){{0,3}}?(?i:student|sophomore|freshman|junior|senior|pupil|undergrad|"
    rf"undergraduate|postgrad|graduate student|phd student|fresher)\s+(?i:at|in|of)\s+(?:the\s+)?(?P<school>{_NAME})"
)
# "I'm in year 11 at Hillcrest", "I'm in my second year at the University of Leeds"
_IN_YEAR = re.compile(
    rf"\b{_I}\s+in\s+(?i:my\s+)?(?:\w+\s+)?(?i:year|grade|form|class)\s+(?:\w+\s+)?(?i:at)\s+(?i:the\s+)?"
    rf"(?P<school>{_NAME})"
)
_GO_TO_SCHOOL = re.compile(
    r"\b(?i:i)\s+(?i:go to|attend|study at)\s+(?P<school>(?:[A-Z][\w'&.-]*\s+)*(?:School|High|College|University|"
    r"Academy|Institute)(?:\s+(?:of\s+)?[A-Z][\w'&.-]*)*)"
)
_DEGREE = re.compile(
    r"\b(?:doing|taking|studying for|working on|enrolled in|do|take)\s+(?:a|an|my)\s+(?:[\w-]+\s+)?"
    r"(?:(?P<a>(?!evening|night|online|short|weekend|summer|intensive|crash|free|new|part-time|full-time)"
    r"[\w ]+?)\s+"
    r"(?:degree|course|diploma|masters?|class)|(?:degree|course|diploma|masters?|phd|doctorate|class)\s+in\s+"
    r"(?P<b>[\w ]+?))(?=$|[.,;!?]|\s+(?:at|in|this|next|because|and)\b)|\b(?:phd|doctorate|masters?|degree|major)"
    r"\s+in\s+(?P<c>[\w ]+?)(?=$|[.,;!?]|\s+(?:at|this|next|because|and)\b)|\b(?:i'?m|i am)\s+(?:a|an)\s+"
    r"(?:[\w-]+-year\s+|first-year\s+|second-year\s+|final-year\s+)?(?P<d>[a-z]+(?: [a-z]+)?)\s+(?:student|major)\b",
    re.IGNORECASE,
)
_OCCUPATION_AT = re.compile(
    r"\b(?i:i'?m|i am|i work as|i worked as|i've been|i have been|(?:i've |i have |i'?m |i am )?(?:been )?working as)"
    r"\s+(?i:a|an|the)\s+(?P<job>(?:[\w-]+\s+){0,2}?[\w-]+)\s+"
    rf"(?i:at|for|with)\s+(?:(?i:a|an|the)\s+[\w ]+?\s+(?i:called|named)\s+|(?i:the)\s+)?(?P<org>{_NAME})"
)
_AT_ORG = re.compile(
    rf"\b(?i:i've|i have) been (?i:at|with) (?P<org>{_NAME})(?:.*?\b(?i:as)\s+(?i:a|an)\s+(?P<job>[\w -]+?))?"
    r"(?=$|[.,;!?])"
)
_AGE = re.compile(
    r"\b(?:i'?m|i am|i just turned|i turned|i'll be|i will be)\s+(?:a\s+)?(?P<n>\d{1,3})(?:-year-old|\b)"
    r"|\b(?P<m>\d{1,3}) to be exact\b|\bi'?m (?P<k>\d{1,3}) (?:years old|yo)\b",
    re.IGNORECASE,
)
_FAMILY_STATE = re.compile(
    r"\b(?:i'?m|i am)\s+(?:happily\s+|recently\s+|newly\s+)?(?P<s>married|divorced|widowed|separated|engaged|single|"
    r"a single (?:mum|mom|dad|parent|mother|father)|a (?:grand)?(?:mother|father|mum|mom|dad|parent|grandma|grandpa|"
    r"grandparent)\b)",
    re.IGNORECASE,
)
_WITH_KIDS = re.compile(r"\bwith (?:\w+ )?(?P<k>kids|children|sons|daughters|grandchildren|grandkids)\b", re.I)


_DIET_SAID = re.compile(
    r"\b(?:i(?:'m| am) on|i follow|i eat|i do|i keep|i try to eat|i'm|i am|i went|i've gone)\s+(?:a\s+|an\s+)?"
    r"(?:strict\s+|mostly\s+)?" + DIET_WORDS.pattern[2:-2],
    re.IGNORECASE,
)


_ALLERGY_NOUN = re.compile(r"\b(?:a|an|my|severe|bad|mild)\s+([a-z]+) allerg(?:y|ies)\b", re.IGNORECASE)
# "Penicillin gives me a rash", "shellfish gives me hives": what sets off a reaction is an allergy
_REACTION = re.compile(
    r"\b(?P<x>[\w-]{3,30}) (?:gives|gave) me (?:a |an )?(?:bad |nasty |awful )?(?:rash|rashes|hives|"
    r"(?:allergic )?reaction)\b",
    re.IGNORECASE,
)
# "I'm lactose intolerant", "I'm gluten-intolerant"
_INTOLERANT = re.compile(rf"\b{_I}\s+(?:(?!not\b)\w+\s+)?(?P<x>[a-z]+)[- ]intolerant\b", re.IGNORECASE)
_DISLIKED = re.compile(
    r"\b(?:i can'?t stand|i cannot stand|i can'?t bear|i can'?t stomach)\s+(?P<y>[^.!?;,]+)|"
    r"\b(?P<x>[\w ]{2,40}?) (?:is|are) (?:not my thing|disgusting to me|gross to me|not for me|the worst)\b",
    re.IGNORECASE,
)


def _surface(value: str, text: str) -> str:
    """The object as the sentence says it when its lemma is not a word of it ("gardening", not "garden")."""
    if " " in value:  # "long meeting" for "long meetings": as said
        said = re.search(rf"\b{re.escape(value)}(?:s|es)?\b", text, re.IGNORECASE)
        return said.group(0) if said else value
    if re.search(rf"\b{re.escape(value)}\b", text, re.IGNORECASE):
        return value
    # a lemma that drops its "e" before a suffix: "bake" -> "baking"
    stem = value[:-1] if value.endswith("e") and len(value) > 3 else value
    said = re.search(rf"\b{re.escape(stem)}\w*", text, re.IGNORECASE)
    return said.group(0) if said else value


def _singular(value: str) -> str:
    """ "olives" -> "olive": the thing, as the relations name it."""
    words = value.split()
    if words and words[-1].endswith("s") and not words[-1].endswith(("ss", "us", "is")) and len(words[-1]) > 3:
        words[-1] = words[-1][:-1]
    return " ".join(words)


def _clean_phrase(value: str) -> str:
    return re.sub(r"^(?:the|a|an|some|any)\s+", "", value.strip(), flags=re.IGNORECASE)


def _said_of_me(sent: Span, text: str) -> list[tuple[str, str]]:
    """Attributes in the ways people state them that no triple holds."""
    out: list[tuple[str, str]] = []
    for rx in (_STUDENT, _IN_YEAR, _GO_TO_SCHOOL):
        for m in rx.finditer(text):
            out.append(("school", m.group("school")))
    for m in _DEGREE.finditer(text):
        value = next((g for g in m.groups() if g), "")
        if value and value.casefold() not in ("a", "the", "new", "my"):
            out.append(("studies", value))
    for m in _OCCUPATION_AT.finditer(text):
        job = m.group("job")
        if _is_occupation(job.casefold()) or job.casefold().split()[-1] in OCCUPATIONS:
            out.append(("job_title", job))
            out.append(("employer", m.group("org")))
    for m in _AT_ORG.finditer(text):
        out.append(("employer", m.group("org")))
        if m.group("job"):
            out.append(("job_title", m.group("job")))
    for m in _AGE.finditer(text):
        out.append(("age", m.group("n") or m.group("m") or m.group("k")))
    for m in _FAMILY_STATE.finditer(text):
        out.append(("family", re.sub(r"^a\s+", "", m.group("s"))))
    for m in _ALLERGY_NOUN.finditer(text):
        out.append(("allergies", m.group(1)))
    for m in _INTOLERANT.finditer(text):
        out.append(("conditions", f"{m.group('x').lower()} intolerance"))
    for m in _DISLIKED.finditer(text):
        out.append(("dislikes", _singular(_clean_phrase(m.group("x") or m.group("y") or ""))))
    for m in _WITH_KIDS.finditer(text):
        if re.search(r"\b(?:married|divorced|single|i have|i've got)\b", text, re.I):
            out.append(("family", m.group("k")))
    diet = _DIET_SAID.search(text)
    if diet is not None:
        out.append(("diet", diet.group(1)))
    return out


def _own_description(name: str, speaker: str) -> str:
    """ "alice's two kids" said by alice -> "two kids"; other names unchanged."""
    for prefix in (f"{speaker}'s ", f"{speaker}\u2019s "):
        if name.casefold().startswith(prefix.casefold()):
            return name[len(prefix) :]
    return name


def _first_person(sent: Span) -> bool:
    return any(t.lower_ in ("i", "my", "me") for t in sent)


_USED_TO = re.compile(r"\bused to\b|\bas a (?:kid|child|teenager)\b|\bin my (?:teens|twenties|thirties|youth)\b", re.I)


def _past_state(sent: Span) -> bool:
    """A state that held before and is not said to hold now: "I was a barista before I went back to
    uni", "I lived in Madrid in my twenties", "I used to have eczema". Events that start a state
    ("I moved to Paris", "I was diagnosed with asthma", "I got a dog") are not past states."""
    root = sent.root
    if _USED_TO.search(sent.text):
        return True
    state = root.lemma_.lower() in ("be", "live", "work", "have", "study", "own", "keep")
    passive = any(c.dep_ == "auxpass" for c in root.children)
    now = re.search(r"\b(?:now|still|currently|these days|today)\b", sent.text, re.IGNORECASE)
    return state and root.tag_ == "VBD" and not passive and not now


_ADDRESSING = frozenset({*statements.ANSWER_VERBS, "use", "keep", "be"})


def _imperative(sent: Span) -> bool:
    """Addressed to the assistant: a verb first with no subject ("Reply in Markdown"), or "please"."""
    root = sent.root
    if sent[0].lower_ in ("please", "pls", "always", "never", "don't", "do", "from"):
        return True
    if sent[0].lower_ in _ADDRESSING and not any(t.lower_ in ("i", "we") for t in sent[:3]):
        return True  # "Reply in British English": the small tagger reads the opening verb as a noun
    if root.pos_ in ("VERB", "AUX") and not any(c.dep_ in ("nsubj", "nsubjpass", "expl") for c in root.children):
        return True
    # "Actually, switch back to English please": the first verb, subjectless, with a "please"
    first = next((t for t in sent if t.pos_ == "VERB"), None)
    return (
        first is not None
        and any(t.lower_ in ("please", "pls") for t in sent)
        and not any(c.dep_ in ("nsubj", "nsubjpass", "expl") for c in first.children)
    )


def _about_others(sent: Span) -> bool:
    """A statement about someone else ("my sister hates emojis"): its subject is a third party."""
    root = sent.root
    subj = [c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")]
    return (
        bool(subj)
        and subj[0].lower_ not in ("i", "you", "we", "it", "this", "that", "these", "those", "there")  # nobody else
        and not any(
            c.lower_ in ("answers", "replies", "responses", "explanations", "answer", "reply", "response", "tone")
            for c in subj[0].subtree
        )
    )


def _routine(sent: Span) -> tuple[str, str] | None:
    """("exercise_routine" | "study_routine" | "routines", "run 5 km every morning") for a
    first-person habit with a frequency."""
    if FREQUENCY.search(sent.text) is None:
        return None
    verb = _habit_verb(sent)
    if verb is None:
        return None
    words = [verb.lemma_.lower()]
    for t in verb.subtree:
        if t.i <= verb.i or t.is_punct or t.lower_ in DROP_ADVERBS:
            continue
        words.append(t.text)
    phrase = " ".join(words)
    lemma = verb.lemma_.lower()
    if lemma in EXERCISE or EXERCISE_OBJECTS.search(phrase):
        return "exercise_routine", phrase
    if lemma in STUDY or STUDY_ROUTINE.search(sent.text):
        return "study_routine", phrase
    return "routines", phrase


def _habit_verb(sent: Span) -> Token | None:
    """The verb of the habit: "I run ..." -> run; "I started running ..." -> running."""
    for t in sent:
        if t.dep_ != "ROOT" or t.pos_ not in ("VERB", "AUX"):
            continue
        if not any(c.dep_ in ("nsubj", "nsubjpass") and c.lower_ == "i" for c in t.children):
            return None
        if t.lemma_.lower() in INCEPTION:
            inner = [c for c in t.children if c.dep_ in ("xcomp", "dobj", "ccomp") and c.pos_ == "VERB"]
            return inner[0] if inner else t
        if t.pos_ == "AUX":
            return None
        return t
    return None
