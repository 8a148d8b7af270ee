"""The words of a query the lexical retriever looks for.

Memories are short first-person facts ("I read Sapiens in May 2023."), so what a full-text index
adds over the embedding is the rare exact word: a name, a title, a place, a number, a year. The
terms are the query's words and numbers, case-folded, without the words that carry no content in
a question or in conversational text (question words, pronouns, auxiliaries, determiners,
prepositions, and conversational fillers). Stemming is the store's job (SQLite FTS5's porter
tokenizer, FalkorDB's and Neo4j's English analyzers): the terms stay as the user wrote them, so a
store's stemmer sees the same form at index and query time.
"""

from __future__ import annotations

import re

MAX_TERMS = 16

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")

# English function words and question words (the intersection most full-text stop lists share),
# plus conversational fillers that appear in most turns of a chat and so rank nothing.
_STOP = """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further had hadn't has hasn't have haven't having he
    he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if
    in into is isn't it it's its itself let's me more most mustn't my myself no nor not of off on
    once only or other ought our ours ourselves out over own same shan't she she'd she'll she's
    should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up
    very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
    which while who who's whom why why's will with won't would wouldn't you you'd you'll you're
    you've your yours yourself yourselves
    also just really yeah yes oh ok okay hey hi hello well like lot lots much many thing things
    something anything everything kind sort maybe please thanks thank get got gets getting go going
    gone went know knew think thought say said tell told ever still even
"""
STOP_WORDS = frozenset(_STOP.split())


def lexical_terms(query: str) -> list[str]:
    """The query's content words and numbers, case-folded, in order, each once, at most
    ``MAX_TERMS``. Single letters are dropped; single digits are kept ("3 kids")."""
    out: dict[str, None] = {}
    for m in _WORD.finditer(query):
        word = m.group(0).casefold().replace("\u2019", "'")
        if word in STOP_WORDS or (len(word) == 1 and not word.isdigit()):
            continue
        if word.endswith("'s"):  # "Melanie's" -> "melanie"
            word = word[:-2]
            if not word or word in STOP_WORDS:
                continue
        out.setdefault(word)
        if len(out) == MAX_TERMS:
            break
    return list(out)
