"""Attributes in common English forms that no triple holds: what a medicine is taken for, what
someone studies or reads, who of the family a sentence names as the speaker's, and how people say
that they like or cannot stand something without the verbs "like" and "hate".

Each form is general English (a medicine is "for" a condition; "reading law" is studying it in
British usage; "my mum", "our first baby" are family; "a big fan of", "is my happy place", "does
nothing for me"), applied by recalld.extraction.attributes to first-person statements only."""

from __future__ import annotations

import re
from collections.abc import Iterator

from spacy.tokens import Span

from recalld.extraction.attribute_words import CONDITIONS, FAMILY, PEOPLE
from recalld.extraction.statements import LANGUAGES

_END = (
    r"(?=$|[.,;!?:—–]|\s+(?:at|from|since|every|twice|once|daily|and|but|so|because|with|in|on|is|are|was|were|"
    r"has|have|makes|made)\b)"
)
# "omeprazole for reflux", "the Humira for my Crohn's"
_FOR_CONDITION = re.compile(rf"\bfor (?:my |the |his |her )?(?P<x>[a-z][\w'-]*(?: [a-z][\w'-]*){{0,2}}?){_END}", re.I)
_NOT_CONDITION = frozenset({"a", "an", "the", "now", "years", "months", "weeks", "days", "life", "work", "a while",
                            "it", "that", "this", "me", "sleep", "pain relief", "good", "ever", "free",
                            # a body part says where, not what ("for my bladder")
                            "bladder", "heart", "stomach", "skin", "back", "knee", "knees", "joints", "eyes",
                            "liver", "kidneys", "lungs", "bones", "teeth", "gut", "blood", "head",
                            "chest"})  # fmt: skip
# "for the next two weeks", "for three months", "for a year": how long, not what for
_DURATION = re.compile(
    r"^(?:next|last|past|first|few|couple|several|another|\d+|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"twelve|many)\b|\b(?:days?|weeks?|months?|years?|hours?|now|ages)$",
    re.I,
)
# "Living with Crohn's is a lot", "I'm gluten-free because of coeliac"
_LIVING_WITH = re.compile(
    rf"\b(?i:living with|because of|due to)\s+(?:(?i:my)\s+)?(?P<x>[A-Za-z][\w'-]*(?: [a-z][\w'-]*)?){_END}"
)
# what a condition's name looks like when no list holds it: a proper name ("Crohn's", "Lupus"),
# or a medical suffix ("colitis", "fibromyalgia", "neuropathy", "coeliac")
_MEDICAL = re.compile(r"(?:itis|osis|emia|aemia|algia|pathy|iac|oma|plegia|trophy|ism)$", re.I)


def _condition_like(x: str) -> bool:
    head = x.split()[-1].casefold()
    if head in FAMILY or head in PEOPLE or x.casefold() in _NOT_CONDITION:
        return False
    return x[:1].isupper() or bool(CONDITIONS.fullmatch(x)) or bool(_MEDICAL.search(head))


# "studying nursing", "I'm reading law" (British: studying it at university), "a minor in criminology";
# not "I'm reading a novel", not "Reading Chinese characters is hard"
# "I'm learning Korean": a language being learnt is studied
_LEARNING = re.compile(
    r"\b(?:i'?m |i am )(?:learning|taking (?:lessons|classes) in)\s+(?P<x>" + "|".join(sorted(LANGUAGES)) + r")\b",
    re.I,
)
_STUDYING = re.compile(
    r"(?:\b(?:i'?m |i am )?(?:studying|majoring in|minoring in|(?:a|my) (?:minor|major) in)|"
    r"\b(?:i'?m|i am) reading)\s+"
    rf"(?!(?:a|an|the|my|this|that|some|about|up|through)\b)(?P<x>[a-z][\w-]*(?: [a-z][\w-]*){{0,2}}?){_END}",
    re.I,
)
_NOT_STUDIED = frozenset({"a", "the", "my", "up", "for", "about", "books", "book", "novels", "news", "this", "that",
                          "it", "late", "hard", "abroad", "again", "now", "lots", "a lot"})  # fmt: skip
_DEGREE = re.compile(
    r"\b(?:doing|taking|studying for|finishing|starting|working on|in the middle of)\s+(?:a|an|my)\s+"
    r"(?:(?:part-time|full-time|online|evening|distance)\s+)?(?P<x>MBA|PhD|DPhil|MPhil|MSc|MA|BSc|BA|LLM|MPH|MEd|"
    r"BEng|MEng|master'?s|bachelor'?s|doctorate)\b",
    re.I,
)
_KIN = "|".join(sorted((re.escape(k) for k in FAMILY), key=len, reverse=True))
# "my mum", "our two boys", "my partner's two boys", "our first baby"
_MY_KIN = re.compile(
    rf"\b(?:my|our)\s+(?:\w+'s\s+)?(?:(?:first|second|third|two|three|four|little|baby|youngest|oldest|eldest|"
    rf"new|twin)\s+)*(?P<k>{_KIN}|boys|girls|baby|babies|kids|children|sons|daughters)\b",
    re.I,
)
_EXPECTING = re.compile(r"\bexpecting (?:our|a|my) (?:first |second |third )?(?P<k>baby|child|twins)\b", re.I)
_LIKED = re.compile(
    rf"\b(?:(?:a )?(?:big|huge|massive|great) fan of|love a good|i'?m (?:really |so |totally )?(?:into|hooked on))\s+"
    rf"(?:the\s+)?(?P<y>[\w'-]+(?: [\w'-]+){{0,2}}?){_END}|"
    r"^(?P<x>[A-Z][\w'-]*(?: [a-z][\w'-]*){0,2}) (?:is|are) (?:my|our) (?:happy place|thing|jam|passion|"
    r"favou?rite thing|guilty pleasure|obsession)\b|"
    # "I'm a cat person", "a morning person": what one is drawn to
    r"\b(?:i'?m|i am) (?:a|an|such a|more of a|totally a|definitely a) (?P<w>[a-z]+) person\b",
    re.I,
)
_DISLIKED = re.compile(
    r"^(?P<x>[A-Z][\w'-]*(?: [a-z][\w'-]*){0,2}) (?:does|do) (?:nothing|absolutely nothing) for me\b|"
    rf"\bi(?:'ve| have)? never (?:liked|enjoyed|been into|been a fan of)\s+(?P<y>[\w'-]+(?: [\w'-]+){{0,2}}?){_END}|"
    rf"\b(?:not|never) (?:a|much of a|really a) fan of\s+(?P<z>[\w'-]+(?: [\w'-]+){{0,2}}?){_END}|"
    # "dogs scare me a bit", "Crowds freak me out": what one fears
    r"(?:^|[,;]\s*(?:and\s+|but\s+)?|\b(?:and|but)\s+)(?P<v>[a-z][\w'-]*(?: [a-z][\w'-]*)?) "
    r"(?:scares?|terrif(?:y|ies)|frighten(?:s)?|freak(?:s)?) me\b",
    re.I,
)


def conditions(text: str, medicine_named: bool) -> Iterator[tuple[str, str]]:
    """What a medicine is taken for (only when the sentence names one) and what someone lives with."""
    if medicine_named:
        for m in _FOR_CONDITION.finditer(text):
            x = re.sub(r"^(?:the|a|an)\s+", "", m.group("x"), flags=re.I)
            if x.casefold() not in _NOT_CONDITION and not _DURATION.search(x):
                yield "conditions", x
    for m in _LIVING_WITH.finditer(text):
        if _condition_like(m.group("x")):
            yield "conditions", m.group("x")


def studies(text: str) -> Iterator[tuple[str, str]]:
    for m in _LEARNING.finditer(text):
        yield "studies", m.group("x")
    for m in _STUDYING.finditer(text):
        if m.group("x").casefold() not in _NOT_STUDIED:
            yield "studies", m.group("x")
    for m in _DEGREE.finditer(text):
        if not re.match(r"\s+in\s", text[m.end() :]):  # "a PhD in marine biology": the field, found before
            yield "studies", m.group("x")


def family(text: str) -> Iterator[tuple[str, str]]:
    for m in _MY_KIN.finditer(text):
        yield "family", m.group("k").lower()
    for m in _EXPECTING.finditer(text):
        yield "family", m.group("k").lower()


def preferences(text: str) -> Iterator[tuple[str, str]]:
    for m in _LIKED.finditer(text.strip()):
        yield "likes", m.group("x") or m.group("y") or m.group("w")
    for m in _DISLIKED.finditer(text.strip()):
        if (m.group("v") or "").casefold() not in ("it", "that", "this", "he", "she", "they", "which", "what"):
            yield "dislikes", m.group("x") or m.group("y") or m.group("z") or m.group("v")


_PLACED = frozenset({"work", "live", "teach", "study", "base", "train", "practise", "practice", "nurse"})


def place_of_work_or_home(sent: Span, placed: bool) -> Iterator[tuple[str, str]]:
    """The town said in passing about where the speaker works, studies or lives ("a software
    developer at a bank in Frankfurt", "I teach Year 2 at a primary school in Leicester"):
    ``placed``: the sentence already gave a job, an employer or a school."""
    if not (placed or sent.root.lemma_.lower() in _PLACED):
        return
    for ent in sent.ents:
        before = sent.doc[ent.start - 1] if ent.start > 0 else None
        if ent.label_ == "GPE" and before is not None and before.lower_ == "in":
            yield "location", ent.text
            return
