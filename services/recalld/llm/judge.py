"""LLM-assisted reconciliation: the cases the rules could not settle, decided by a model.

All cases of one Add go in one call. Existing memories are shown by short local indices
(``[0]``, ``[1]``, ... across the call), never by their ids, and each case lists the indices
of its own candidates; an answer naming an index that was not shown for that fact, or an action
that needs a memory without one, is rejected and that fact keeps the rules' decision (ADD).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from recalld.kernel.ports import JudgeCase, JudgeVerdict
from recalld.llm.structured import LLMFailure, StructuredClient

log = logging.getLogger(__name__)


class LLMVerdict(BaseModel):
    fact: int = Field(description="the fact's number")
    action: Literal["ADD", "UPDATE", "INVALIDATE", "NOOP"]
    memory: int | None = Field(default=None, description="the memory's number, for UPDATE, INVALIDATE and NOOP")
    text: str = Field(default="", max_length=300, description="for UPDATE: the corrected memory as one sentence")


class LLMVerdicts(BaseModel):
    decisions: list[LLMVerdict] = Field(max_length=32)  # bounded: see extraction's FACTS_PER_MESSAGE


SYSTEM = (
    "You keep a memory store true. For each new fact decide what to do with the existing memories "
    "listed under it: NOOP when the fact says nothing new (it repeats a memory), UPDATE when it "
    "corrects a memory (give the corrected memory as text), INVALIDATE when it makes a memory no "
    "longer true (a change: a new job, a move, a stopped habit), ADD when it is simply new. Name "
    "memories only by the numbers shown for that fact."
)
EXAMPLE_Q = (
    "Fact 0: I moved to Paris last month.\n  [0] I live in Berlin.\n  [1] I like Italian food.\n"
    "Fact 1: My sister is called Anna.\n  [2] My sister Anna is a nurse."
)
EXAMPLE_A = (
    '{"decisions":[{"fact":0,"action":"INVALIDATE","memory":0,"text":""},'
    '{"fact":1,"action":"NOOP","memory":2,"text":""}]}'
)


class LLMJudge:
    def __init__(self, llm: StructuredClient) -> None:
        self._llm = llm
        self.stats: Counter[str] = Counter()  # calls, verdicts, rejected answers, failures

    async def judge(self, cases: Sequence[JudgeCase]) -> list[JudgeVerdict | None]:
        if not cases:
            return []
        shown: list[dict[int, int]] = []  # per case: global index -> the case's candidate index
        lines: list[str] = []
        n = 0
        for i, case in enumerate(cases):
            lines.append(f"Fact {i}: {' '.join(case.fact.split())}")
            local: dict[int, int] = {}
            for j, text in enumerate(case.candidates):
                lines.append(f"  [{n}] {' '.join(text.split())}")
                local[n] = j
                n += 1
            shown.append(local)
        self.stats["calls"] += 1
        try:
            answer = await self._llm.ask(
                SYSTEM, "\n".join(lines), LLMVerdicts, examples=[(EXAMPLE_Q, EXAMPLE_A)], name="reconciliation"
            )
        except LLMFailure as exc:
            self.stats["failures"] += 1
            log.info("LLM reconciliation failed for %d facts; the rules decide (%s)", len(cases), exc)
            return [None] * len(cases)
        return self.verdicts(answer, shown)

    def verdicts(self, answer: LLMVerdicts, shown: Sequence[dict[int, int]]) -> list[JudgeVerdict | None]:
        out: list[JudgeVerdict | None] = [None] * len(shown)
        for v in answer.decisions:
            if not 0 <= v.fact < len(shown) or out[v.fact] is not None:
                self.stats["rejected"] += 1
                continue
            action = v.action.lower()
            if action == "add":
                out[v.fact] = JudgeVerdict("add")
            elif v.memory is None or v.memory not in shown[v.fact]:
                self.stats["rejected"] += 1  # an unknown index, or one shown for another fact
            elif action == "update" and not v.text.strip():
                self.stats["rejected"] += 1
            else:
                out[v.fact] = JudgeVerdict(action, shown[v.fact][v.memory], " ".join(v.text.split()))
            if out[v.fact] is not None:
                self.stats["verdicts"] += 1
        return out
