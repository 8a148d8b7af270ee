"""Micro-batching of embed calls (recalld.vector.batching): concurrent calls share one model call,
and each caller gets exactly its own vectors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from recalld.kernel.ports import Vectors
from recalld.vector.batching import BatchingEmbedder
from recalld.vector.embedders import MiniLMOnnxEmbedder


class Slow:
    """Vectors that encode their text (its length and first letter), after a pause in which
    other calls can queue."""

    dim = 2

    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        await asyncio.sleep(0.01)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


async def test_concurrent_calls_share_a_model_call_and_get_their_own_rows() -> None:
    inner = Slow()
    batcher = BatchingEmbedder(inner, max_texts=64)
    texts = [["a"], ["bb", "ccc"], ["dddd"], ["e"]]
    first = asyncio.ensure_future(batcher.embed(texts[0]))
    await asyncio.sleep(0.001)  # the model is busy with the first call when the others arrive
    results = [await first, *await asyncio.gather(*(batcher.embed(t) for t in texts[1:]))]
    for asked, got in zip(texts, results, strict=True):
        assert got.tolist() == [[len(t), ord(t[0])] for t in asked]
    assert inner.calls[0] == ["a"]  # the first call does not wait for company
    assert inner.calls[1] == ["bb", "ccc", "dddd", "e"]  # the rest queued behind it: one call
    assert batcher.calls == 2 and batcher.requests == 4


async def test_batches_never_exceed_max_texts() -> None:
    inner = Slow()
    batcher = BatchingEmbedder(inner, max_texts=3)
    await asyncio.gather(*(batcher.embed([c, c + c]) for c in "abcdef"))
    assert all(len(c) <= 3 for c in inner.calls)
    assert sorted(t for c in inner.calls for t in c) == sorted(t for c in "abcdef" for t in (c, c + c))


async def test_a_failed_model_call_fails_its_batch_and_the_next_ones_still_work() -> None:
    inner = Slow(fail_on="bad")
    batcher = BatchingEmbedder(inner)
    first = asyncio.ensure_future(batcher.embed(["x"]))
    await asyncio.sleep(0)
    results = await asyncio.gather(batcher.embed(["bad"]), batcher.embed(["ok"]), return_exceptions=True)
    assert (await first).tolist() == [[1, ord("x")]]
    assert all(isinstance(r, RuntimeError) for r in results)
    assert (await batcher.embed(["fine"])).tolist() == [[4, ord("f")]]


async def test_a_cancelled_caller_does_not_stall_the_others() -> None:
    inner = Slow()
    batcher = BatchingEmbedder(inner)
    first = asyncio.ensure_future(batcher.embed(["x"]))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(batcher.embed(["gone"]))
    kept = asyncio.ensure_future(batcher.embed(["kept"]))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await kept).tolist() == [[4, ord("k")]]
    await first
    assert ["gone"] not in inner.calls


def test_max_texts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BatchingEmbedder(Slow(), max_texts=0)


async def test_batched_minilm_vectors_match_single_calls(embedder: MiniLMOnnxEmbedder) -> None:
    batcher = BatchingEmbedder(embedder)
    queries = ["What did Caroline research?", "When did Melanie paint a sunrise?", "allergies", "How is my cat?"]
    together = await asyncio.gather(*(batcher.embed([q]) for q in queries))
    assert batcher.calls < len(queries)
    for q, v in zip(queries, together, strict=True):
        alone = await embedder.embed([q])
        assert float(np.dot(v[0], alone[0])) > 0.999
