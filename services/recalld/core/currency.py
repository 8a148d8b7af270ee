"""What holds now, first: a newer statement of a change ranks above the older statements it
answers the same question with.

Reconciliation retires a fact when it can tell that a new one replaces it: the same slot, or a
cue such as "instead" on a close fact (recalld.core.reconcile). People report changes in more ways
than rules can tie to the old fact: "She's bumped me up to 100mg" does not name the sertraline of
"my GP started me on sertraline 50mg"; "It's Japanese now" does not name the Spanish it replaces.
Both facts then stay current, and a question about the present ("What dose am I taking?")
finds the older one first, because it names what the question names.

At read time the question has already said which memories are about the same thing: the best
``k`` hits for it. Among those, a memory that reports a change (:data:`CHANGE`, the language of
change of state, below) and was said after some of the hits ranked above it moves up to just
above the first of them, taking its score (so the scores stay in rank order). Nothing is retired,
nothing leaves the best ``k`` and nothing enters it: recall at ``k`` and beyond is unchanged, only
which of the ``k`` comes first. A change said of someone else ("my sister just moved to Seattle",
"my teammate got promoted") is theirs: it does not pass the speaker's own facts when the question
is about the speaker, unless that person took over a role of the speaker's (:data:`HANDOVER`).
Questions that place themselves in time (``as_of``, a time range, "first", "before the move")
keep their order: what held then is theirs to ask.

The cues are general English, grouped by the kind of change they report, not a list of the
sentences of any data set (bench/results/current-first-*.md has how they were chosen and
checked)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from recalld.kernel.domain import SearchHit

# Each group is one way English reports that something is no longer as it was.
_CUES: dict[str, tuple[str, ...]] = {
    # a contrast with before, on the clause
    "contrast": ("now", "anymore", "any more", "no longer", "any longer", "no more", "instead", "these days",
                 "nowadays", "from now on", "currently", "lately"),
    # a start, an end or a switch of a habit, a course, a treatment, a job
    "aspect": ("started", "starting", "began", "begun", "stopped", "quit", "gave up", "given up", "dropped",
               "switched", "switching", "changed", "change of", "ended", "finished", "cut out", "cut down",
               "cut back", "took up", "taken up", "picked up"),
    # someone else in a role, or the speaker in another one
    "role": ("took over", "taken over", "taking over", "replaced", "replacing", "retired", "resigned", "left",
             "leaving", "hired", "fired", "laid off", "promoted", "transferred", "joined", "new", "signed with",
             "signed for", "signed a contract", "accepted the offer", "accepted an offer", "accepted the job",
             "accepted a job", "accepted a position", "first day at", "first week at", "first weeks at"),
    # a place
    "place": ("moved", "moving", "relocated", "relocating", "closed on", "moved into", "unpacked", "settled in",
              "settling in"),
    # a thing one has
    "possession": ("sold", "got rid of", "swapped", "traded in", "upgraded", "downgraded", "replaced"),
    # a date or a plan
    "schedule": ("rescheduled", "postponed", "pushed back", "pushed to", "pushed it", "brought forward",
                 "moved up", "moved to", "cancelled", "canceled", "called off", "delayed"),
    # an amount, a dose, a grade
    "amount": ("increased", "decreased", "raised", "lowered", "reduced", "bumped", "upped", "doubled",
               "halved", "went up", "went down"),
    # a life event that ends a state
    "event": ("passed away", "died", "divorced", "divorce", "broke up", "split up", "separated", "married",
              "graduated", "recovered", "outgrown", "outgrew", "cured", "healed", "cleared", "finalised",
              "finalized", "passed"),
    # a correction of what was said
    "correction": ("actually", "turns out", "turned out", "update", "updated", "correction", "i meant"),
}  # fmt: skip
# a phrasal verb of change with its object inside: "pushed the wedding back", "gave it up",
# "moved my appointment up", "cut sugar out"
_SEPARATED = (
    r"(?:push(?:ed)?|put|move[ds]?|bring|brought|bump(?:ed)?|give|gave|cut|switch(?:ed)?|swap(?:ped)?|change[ds]?)"
    r"\s+(?:[\w'-]+\s+){1,3}?(?:back|forward|up|off|out|over)"
    # a state said with when it began: "one migraine a month since January", "vegan since May"
    r"|since\s+(?:last\s+\w+|the\s+(?:summer|winter|spring|autumn|fall|start|beginning|surgery|operation)|january|february|march|april|may|june|july|august|september|october|"
    r"november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|\d{4}|then)"
)
CHANGE = re.compile(
    r"(?<![\w'])(?:"
    + "|".join([_SEPARATED, *sorted({re.escape(c) for g in _CUES.values() for c in g}, key=len, reverse=True)])
    + r")(?![\w'])",
    re.IGNORECASE,
)


# ... unless it says that it adds to what was ("also joined a quartet", "hired a new intern as
# well", "my cousin dropped out too"): an addition leaves the older fact as it was.
ADDING = re.compile(
    r"(?<![\w'])(?:also|as well|in addition|besides|another)(?![\w'])|(?<![\w'])too\s*[.!?,;]|too$", re.I
)


# someone else now holds a role of the speaker's: "Dr. Rasmussen has taken over supervising my
# thesis", "a new GP", "we hired a nanny". Said of someone else, other changes are theirs ("my
# sister just moved to Seattle", "my teammate got promoted"); these are the speaker's too.
HANDOVER = re.compile(r"(?<![\w'])(?:(?:took|taken|taking|takes) over|replac(?:ed|es|ing)|new|hired)(?![\w'])", re.I)


def reports_change(text: str) -> bool:
    """Whether ``text`` says, in words of :data:`CHANGE`, that something is no longer as it was
    (and not, in words of :data:`ADDING`, that it adds to it)."""
    return CHANGE.search(text) is not None and ADDING.search(text) is None


def newest_change_first(
    ranked: Sequence[SearchHit], k: int, may_pass: Callable[[SearchHit, SearchHit], bool] | None = None
) -> list[SearchHit]:
    """``ranked`` (best first) with each of its first ``k`` hits that reports a change moved to
    just above the first hit above it that was said earlier; the moved hit takes that hit's score
    (and the relevance that gives that score with its own decay weight).
    Changes are placed oldest first, so that of two changes the newer ends up above.
    ``may_pass(change, older)``: whether the change answers what ``older`` answers; a change stops
    below the first older hit it may not pass (a change about someone else, or one that does not
    name whom the question names, does not replace the speaker's fact about them)."""
    out = list(ranked)
    top = min(k, len(out))
    if top < 2:
        return out
    # oldest first; of changes said at the same time the better ranked first (each goes just above
    # the first older hit, so one placed before stays above it)
    changes = [h for _, h in sorted(
        ((i, h) for i, h in enumerate(out[:top]) if reports_change(h.memory.text)),
        key=lambda p: (p[1].memory.reference_time, p[0]),
    )]  # fmt: skip
    for hit in changes:
        at = next(i for i, h in enumerate(out) if h.memory.id == hit.memory.id)
        older = None
        for i in range(at - 1, -1, -1):  # upwards: the highest older hit it may pass, none it may not
            if out[i].memory.reference_time < hit.memory.reference_time:
                if may_pass is not None and not may_pass(hit, out[i]):
                    break
                older = i
        if older is None:
            continue
        out.pop(at)
        score = out[older].score
        out.insert(older, replace(hit, score=score, relevance=score / hit.weight if hit.weight else score))
    return out
