"""Hybrid retrieval over a small corpus with the offline fake embedder."""

from __future__ import annotations

import numpy as np
import pytest

from index.config import IndexConfig
from index.ingest import load_documents
from index.store import build_index
from qa.retrieve import RRF_K, retrieve


@pytest.fixture
def small_index(corpus_dir, tmp_path, fake_embedder):
    docs = load_documents([corpus_dir])
    return build_index(docs, tmp_path / "idx", config=IndexConfig(chunk_size=200, chunk_overlap=40),
                       embedder=fake_embedder, progress=False)


@pytest.mark.parametrize("question", ["windy weather in London", "rail agency investments",
                                      "interest on a credit card", "zzz qqq"])
def test_fused_ranking(small_index, fake_embedder, question):
    q = fake_embedder.embed_texts([question])[0]
    hits = retrieve(question, q, small_index, top_k=4)
    assert 0 < len(hits) <= 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)
    all_vectors = fake_embedder.embed_texts([c.text for c in small_index.chunks])
    for h in hits:
        # the dense score is the cosine similarity, also for BM25-only hits
        assert h.dense == pytest.approx(float(all_vectors[h.chunk.chunk_id] @ q), abs=1e-5)
        # a fused score is at most first place in both lists
        assert 0 < h.score <= 2 / (RRF_K + 1) + 1e-12


def test_a_passage_first_in_both_rankings_is_first(small_index, fake_embedder):
    agreed = 0
    for question in ["Interrail passes cover 33 countries", "Always carry an umbrella in London",
                     "Central banks raise interest rates", "the first public railway opened in 1825"]:
        q = fake_embedder.embed_texts([question])[0]
        dense_top = small_index.search(q, 1)[0].chunk.chunk_id
        lexical_top = small_index.search_lexical(question, 1)[0].chunk.chunk_id
        if dense_top != lexical_top:
            continue
        agreed += 1
        top = retrieve(question, q, small_index, top_k=3)[0]
        assert top.chunk.chunk_id == dense_top
        assert top.score == pytest.approx(2 / (RRF_K + 1)) and top.lexical > 0
    assert agreed >= 2


def test_top_k_beyond_the_index_returns_every_chunk_once(small_index, fake_embedder):
    q = fake_embedder.embed_texts(["trains"])[0]
    hits = retrieve("trains", q, small_index, top_k=10_000)
    assert sorted(h.chunk.chunk_id for h in hits) == list(range(len(small_index.chunks)))


def test_lexical_only_question_still_finds_the_passage(small_index, fake_embedder):
    # A zero vector makes every cosine 0, so only BM25 can rank the passage first.
    q = np.zeros(fake_embedder.dim, dtype=np.float32)
    hits = retrieve("Met Office forecasts", q, small_index, top_k=2)
    assert "Met Office" in hits[0].chunk.text
