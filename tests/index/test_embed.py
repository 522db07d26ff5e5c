"""Tests for index.embed with the real all-MiniLM-L6-v2 (offline; loaded once per session)."""

from __future__ import annotations

import numpy as np
import pytest

from index.config import DEFAULT_MODEL
from hypothesis import given, settings
from hypothesis import strategies as st

from index.embed import (ATTENTION_BUDGET, CHARS_PER_PIECE, MAX_PIECES, Embedder, batches_by_length,
                         model_path)

pytestmark = pytest.mark.slow

TEXTS = [
    "London weather is rainy and windy in autumn.",
    "It often rains in London.",
    "The railway agency will invest $13.9 billion in new tracks.",
    "“Cash is king,” said the banker – and he meant it…",
    "a",
]


def test_embed_texts_shape_dtype_and_norms(real_embedder):
    vectors = real_embedder.embed_texts(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert real_embedder.dim == 384
    assert real_embedder.name == DEFAULT_MODEL


def test_single_text_is_still_two_dimensional(real_embedder):
    vectors = real_embedder.embed_texts(["hello"])
    assert vectors.shape == (1, 384) and vectors.dtype == np.float32


def test_empty_list(real_embedder):
    vectors = real_embedder.embed_texts([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_batching_does_not_change_vectors(real_embedder):
    together = real_embedder.embed_texts(TEXTS)
    alone = np.vstack([real_embedder.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_a_string_is_rejected(real_embedder):
    with pytest.raises(TypeError):
        real_embedder.embed_texts("London weather")


@pytest.mark.parametrize("threads", [0, -1])
def test_threads_must_be_positive(threads):
    with pytest.raises(ValueError, match=str(threads)):
        Embedder(threads=threads)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="0"):
        Embedder(batch_size=0)


def test_unknown_model_is_refused_without_downloading():
    with pytest.raises(ValueError, match="nonexistent-model"):
        model_path("nonexistent-model")
    with pytest.raises(ValueError, match="nonexistent-model"):
        Embedder("nonexistent-model").embed_texts(["x"])


def test_bundled_model_is_a_local_folder():
    assert model_path(DEFAULT_MODEL).is_dir()


def test_close_meanings_score_higher_than_unrelated(real_embedder):
    a, b, c, d = real_embedder.embed_texts([
        "It is raining heavily in London today.",
        "Londoners are getting wet because of the downpour.",
        "The central bank raised interest rates to fight inflation.",
        "Borrowing costs went up as the bank tightened monetary policy.",
    ])
    assert a @ b > a @ c + 0.2
    assert a @ b > a @ d + 0.2
    assert c @ d > c @ a + 0.2
    assert c @ d > b @ d + 0.2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=1500), max_size=120), st.integers(1, 80))
def test_batches_by_length_hold_every_text_once_within_the_budget(texts, most):
    batches = batches_by_length(texts, most)
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    for b in batches:
        pieces = min(MAX_PIECES, max(len(texts[i]) for i in b) // CHARS_PER_PIECE + 2)
        assert len(b) <= most
        assert len(b) == 1 or len(b) * pieces ** 2 <= ATTENTION_BUDGET


def test_a_mix_of_long_and_short_texts_gives_the_vectors_of_each_alone(real_embedder):
    texts = ["word " * 300, "Short one.", "A middle-sized sentence about the weather in London."] * 7
    together = real_embedder.embed_texts(texts)
    alone = np.vstack([real_embedder.embed_texts([t]) for t in texts[:3]] * 7)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_a_released_model_loads_again_and_gives_the_same_vectors():
    embedder = Embedder()
    texts = ["Astana is the capital.", "Trade grew in 2019."]
    before = embedder.embed_texts(texts)
    embedder.release()
    assert embedder._model is None
    np.testing.assert_allclose(embedder.embed_texts(texts), before, atol=1e-6)
