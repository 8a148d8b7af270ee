"""The offline MiniLM embedder: shape, normalization, order, and meaning."""

import numpy as np

from recalld.vector.embedders import MiniLMOnnxEmbedder


def test_vectors_are_unit_length_keep_input_order_and_ignore_their_company(embedder: MiniLMOnnxEmbedder) -> None:
    texts = [
        "My cat Luna caught a cold last week and has been sneezing ever since.",
        "Hi",
        "I'm allergic to penicillin.",
        "The quarterly report is due on Friday.",
        "ok",
    ]
    batched = embedder.embed_sync(texts)
    assert batched.shape == (5, 384) and batched.dtype == np.float32
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([embedder.embed_sync([t])[0] for t in texts])
    assert np.array_equal(batched, one_by_one)  # a text's vector does not depend on what it was sent with


def test_similar_meaning_is_closer(embedder: MiniLMOnnxEmbedder) -> None:
    q, pet, allergy, finance = embedder.embed_sync(
        ["how is my pet's health?", "My cat caught a cold.", "I'm allergic to penicillin.", "Stocks fell today."]
    )
    assert q @ pet > 0.3
    assert q @ pet > 2 * max(q @ allergy, q @ finance)


def test_empty_input(embedder: MiniLMOnnxEmbedder) -> None:
    assert embedder.embed_sync([]).shape == (0, 384)
