"""The people of a Search (recalld.core.retrieval): what a speaker the query names said
(:func:`said_by`, a fusion boost), and the asker's own facts above their people's
(:func:`asks_about_self`, :func:`about_someone_else`, weighted by ``OTHERS_WEIGHT``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from recalld.kernel.domain import Memory, QueryAnalysis, norm


def said_by(memories: Mapping[str, Memory], named: Sequence[str]) -> dict[str, float] | None:
    """The candidates said by a person the query names, when that tells them apart: the
    candidates were said by at least two known speakers and the query names some of them, not
    all. ``None`` otherwise (one speaker, as when a user talks to an assistant, or every speaker
    named: the boost would lift every candidate alike). In a conversation between two people a
    question about one of them is answered by what that one said ("What is Caroline's identity?":
    "The transgender stories were so inspiring!", her words; on LoCoMo dev 97 % of the evidence
    turns of questions naming one speaker are that speaker's), while the other's turns address
    her by name and crowd the name-matching retrievers."""
    speakers = {norm(m.speaker) for m in memories.values() if m.speaker}
    wanted = speakers & {norm(n) for n in named}
    if len(speakers) < 2 or not wanted or wanted == speakers:
        return None
    return {mid: 1.0 for mid, m in memories.items() if m.speaker and norm(m.speaker) in wanted}


# "What's my job?": a memory about the user's brother ("My brother just got a job as a
# paramedic") answers a question about the user only when nothing about the user does. Its
# relevance is halved: the question's words match it as well as the user's own fact, so without
# the weight it ranks by how many words it shares, and with it the user's own facts come first.
OTHERS_WEIGHT = 0.5


def asks_about_self(analysis: QueryAnalysis, speaker: str) -> bool:
    """Whether the query refers only to the speaker and what is theirs ("Where do I live?", "What's
    my job?", "Where does my sister live?"; not "Where does Tom live?"). Who of the speaker's
    people it asks about is in its words: :func:`about_someone_else` reads them."""
    me = norm(speaker)
    return bool(me) and bool(analysis.entities) and all(_mine(norm(e), me) for e in analysis.entities)


def _mine(entity: str, me: str) -> bool:
    return entity == me or entity.startswith((me + "'s ", me + "\u2019s "))


def about_someone_else(memory: Memory, me: str, analysis: QueryAnalysis) -> bool:
    """Whether ``memory`` states facts of someone else, and of ``me`` only that they have them
    ("My sister lives in Valencia": the speaker has a sister, the sister lives in Valencia), unless
    the query names them ("my sister") or asks for what is had ("What pets do we have?" and "We
    have a beagle named Rosie")."""
    others = mine = False
    wanted = set(analysis.terms)
    named = {norm(e) for e in analysis.entities}
    for t in memory.triples:
        subject = norm(t.subject)
        if (subject in named and subject != me) or norm(t.object) == me:
            return False  # the person the query names, or something done to the speaker ("switched me to")
        if subject != me:
            others = True
            continue
        if not t.predicate.startswith("has_") or wanted & set(t.predicate[4:].split("_")):
            return False
        mine = True
    return others and mine
