"""The words the extraction rules share, and how they read a token.

First person and the other pronouns, pets and kin (the nouns a possessive names a relation by),
``lemma`` (spaCy's lemma with the rule lemmatizer's verb slips repaired), ``snake`` (a predicate
from its parts) and ``children`` (a token's dependents of some relations).
"""

from __future__ import annotations

import re

from spacy.tokens import Token

FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"})

PETS = frozenset(
    {"pet", "cat", "dog", "puppy", "kitten", "hamster", "rabbit", "bunny", "parrot", "bird", "fish",
     "goldfish", "horse", "pony", "turtle", "tortoise", "guinea pig", "gerbil", "ferret", "snake",
     "lizard", "mouse", "rat", "chinchilla", "hedgehog", "canary", "budgie", "iguana", "gecko",
     "dragon", "bearded dragon", "axolotl", "tarantula", "cockatiel", "lovebird", "parakeet", "hen", "chicken",
     "goat", "alpaca", "greyhound", "labrador", "retriever", "poodle", "labradoodle", "cockapoo", "spaniel",
     "terrier", "beagle", "collie", "dachshund", "pug", "corgi", "husky", "bulldog", "chihuahua", "whippet",
     "schnauzer", "shih tzu", "dalmatian", "rottweiler", "pomeranian", "sheepdog", "lurcher", "tabby", "kitty"}
)  # fmt: skip

KIN = frozenset(
    {"mother", "mom", "mum", "father", "dad", "parent", "sister", "brother", "sibling", "son",
     "daughter", "child", "kid", "baby", "wife", "husband", "spouse", "partner", "boyfriend",
     "girlfriend", "fiance", "fiancee", "friend", "cousin", "aunt", "uncle", "niece", "nephew",
     "grandmother", "grandma", "grandfather", "grandpa", "grandparent", "grandad", "granddad", "granny", "nan",
     "nana", "gran", "boss", "colleague",
     "coworker", "roommate", "neighbor", "neighbour", "mentor", "teacher", "doctor", "therapist",
     "toddler", "stepdaughter", "stepson", "stepmother", "stepfather", "stepmom", "stepdad", "stepmum", "twin",
     "grandson", "granddaughter", "grandchild", "grandkid", "mother-in-law", "father-in-law", "sister-in-law",
     "brother-in-law", "half-brother", "half-sister", "godmother", "godfather", "goddaughter", "godson",
     "flatmate", "housemate", "ex", "ex-wife", "ex-husband", "bestie", "best friend"}
)  # fmt: skip

OTHER_PRONOUNS = frozenset(  # never entities, whatever the tagger says
    {"you", "your", "yours", "he", "him", "his", "she", "her", "hers", "it", "its", "they", "them", "their", "theirs"}
)

RELATIVE = frozenset({"who", "whom", "which", "that"})

PRONOUNS = FIRST_PERSON | OTHER_PRONOUNS | RELATIVE | frozenset(
    {"this", "these", "those", "anything", "something", "everything", "nothing", "anyone", "someone", "everyone",
     "nobody", "somebody", "anybody", "everybody", "none", "one", "ones", "yourself", "himself", "herself",
     "itself", "themselves", "yourselves", "what", "whatever", "whoever", "each", "other", "another", "both",
     "all", "some", "any", "many", "much", "few", "several", "mine", "yours", "theirs", "hers", "ours", "ya", "u"}
)  # fmt: skip

PERSONAL = frozenset({"he", "she", "him", "her", "his", "hers"})  # -> the antecedent person

HYPOTHETICAL = frozenset({"if", "unless", "whether"})

NON_ENTITY_POS = frozenset({"PRON", "DET", "PUNCT", "SPACE", "AUX", "CCONJ", "SCONJ", "PART", "ADP", "INTJ"})

# The rule lemmatizer prefers the shorter valid form: "hates" -> "hat", "hoped" -> "hop".
E_VERBS = {"hat": "hate", "hop": "hope", "rid": "ride", "din": "dine", "scar": "scare", "star": "stare",
           "rat": "rate", "cop": "cope", "tap": "tape", "shin": "shine", "pin": "pine", "dot": "dote"}  # fmt: skip


_ERE_VERBS = frozenset({"adhere", "interfere", "persevere", "revere", "cohere"})


def snake(*parts: str) -> str:
    """Join predicate parts into a lowercase snake_case predicate."""
    return re.sub(r"[\W_]+", "_", "_".join(p for p in parts if p).lower()).strip("_")  # any script's letters


def lemma(t: Token) -> str:
    """Lowercase lemma, with the rule lemmatizer's "-e" verb slips repaired."""
    base, text = t.lemma_.lower(), t.lower_
    if t.pos_ in ("VERB", "AUX"):
        fixed = E_VERBS.get(base)
        if fixed and text.startswith(fixed):
            return fixed
        if text == base + "es" and not base.endswith(("s", "x", "z", "o", "ch", "sh")):
            return base + "e"
        # a verb it does not know in "-ering" gets an "e" too many: "bouldering" -> "bouldere" (English
        # verbs in "-ere" are few: adhere, interfere, persevere, revere, cohere)
        if text.endswith("ering") and base.endswith("ere") and base not in _ERE_VERBS and text == base[:-1] + "ing":
            return base[:-1]
    return base


def children(t: Token, *deps: str) -> list[Token]:
    """The dependents of ``t`` by one of these relations."""
    return [c for c in t.children if c.dep_ in deps]
