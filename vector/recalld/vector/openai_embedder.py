"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, vLLM, Ollama,
llama.cpp ``--embedding``), as an alternative to the offline MiniLM embedder.

The dimension comes from configuration: it sizes a new collection, an existing collection of
another dimension stops start-up (MilvusVectorStore.open), and an answer of another dimension is
an error, never stored. Vectors are L2-normalized (cosine search), whatever the server returns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from recalld.kernel.errors import Unavailable
from recalld.kernel.ports import Vectors


class OpenAIEmbedder:
    def __init__(self, client: openai.AsyncOpenAI, *, model: str, dim: int, batch_size: int = 64) -> None:
        if not model:
            raise ValueError("RECALLD_EMBEDDING_MODEL is required for the openai embedder")
        if dim <= 0:
            raise ValueError("RECALLD_EMBEDDING_DIM must be the endpoint's vector dimension (e.g. 1536)")
        self._client = client
        self._model = model
        self._dim = dim
        self._batch = batch_size

    @property
    def dim(self) -> int:
        return self._dim

    async def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(texts), self._batch):
            batch = list(texts[start : start + self._batch])
            try:
                response = await self._client.embeddings.create(input=batch, model=self._model)
            except openai.OpenAIError as exc:
                raise Unavailable(f"the embeddings endpoint failed ({type(exc).__name__})") from exc
            rows = sorted(response.data, key=lambda d: d.index)
            if len(rows) != len(batch):
                raise Unavailable(f"the embeddings endpoint returned {len(rows)} vectors for {len(batch)} texts")
            vectors = np.asarray([r.embedding for r in rows], dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != self._dim:
                got = vectors.shape[1] if vectors.ndim == 2 else "malformed"
                raise Unavailable(
                    f"the embeddings endpoint returned {got}-dimensional vectors; RECALLD_EMBEDDING_DIM is {self._dim}"
                )
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[start : start + len(batch)] = vectors / np.where(norms > 0, norms, 1.0)
        return out
