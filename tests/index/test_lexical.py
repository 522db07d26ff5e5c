"""Tests for index.lexical: the tokenizer and the BM25 index over chunks."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from index.config import IndexConfig
from index.lexical import (
    STOPWORDS,
    LexicalIndex,
    document_frequencies,
    token_spans,
    tokenize,
)

CFG = IndexConfig()
BM25 = dict(method=CFG.bm25_method, k1=CFG.bm25_k1, b=CFG.bm25_b)


def build(texts: list[str]) -> LexicalIndex:
    return LexicalIndex.build(texts, **BM25)


# --- tokenizer ----------------------------------------------------------------------

def test_tokenize_lowercases_stems_and_drops_stop_words():
    assert tokenize("What is the running cost of the Trains?") == ["run", "cost", "train"]
    assert tokenize("RAILWAYS Railways railways") == ["railway"] * 3


def test_stop_words_and_question_words_give_no_terms():
    assert tokenize("What is it? Who did that, and where were they?") == []
    assert tokenize("") == []
    assert all(tokenize(word) == [] for word in STOPWORDS if word.isalpha())


@pytest.mark.parametrize(("text", "number"), [
    ("It cost $13.9 billion.", "13.9"),
    ("About 1,000 people.", "1,000"),
    ("Version 2.10.3 shipped", "2.10.3"),
    ("In 2023, trains ran.", "2023"),
])
def test_numbers_stay_whole(text, number):
    assert number in tokenize(text)
    assert "13" not in tokenize("It cost $13.9 billion.")


def test_query_and_document_forms_meet():
    # Different surface forms of the same word must give the same term.
    assert tokenize("Who financed the railways?") == tokenize("financing railway")


def test_token_spans_point_at_the_surface_words():
    rng = random.Random(7)
    words = ["Trains", "of", "Europe", "$13.9", "billion", "Mr.", "Smith's", "“Cash”", "king,",
             "running", "Café", "naïve", "1,000", "THE", "is", "ünïcödé", "–", "…", "2023?"]
    for _ in range(50):
        text = rng.choice(["", " ", "\n"]).join(rng.choice(words) + rng.choice(["", " ", "\n\n"])
                                               for _ in range(rng.randint(1, 30)))
        spans = token_spans(text)
        assert [t for _, _, t in spans] == tokenize(text)
        previous_end = 0
        for start, end, term in spans:
            surface = text[start:end]
            assert start >= previous_end and surface == surface.strip() and surface
            assert tokenize(surface) == [term], (surface, term)
            assert surface.lower() not in STOPWORDS
            previous_end = end


def test_token_spans_example():
    text = "The Trains of Europe cost $13.9 billion."
    assert [(text[s:e], t) for s, e, t in token_spans(text)] == [
        ("Trains", "train"), ("Europe", "europ"), ("cost", "cost"),
        ("13.9", "13.9"), ("billion", "billion")]


def test_document_frequencies_count_documents_not_occurrences():
    df = document_frequencies(["trains trains trains", "a train", "weather"])
    assert df == {"train": 2, "weather": 1}


# --- BM25 -------------------------------------------------------------------------

def lucene_idf(n_docs: int, df: int) -> float:
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def test_term_in_the_only_chunk_still_scores_positive():
    index = build(["London weather is rainy."])
    scores = index.scores("weather in London")
    assert scores.shape == (1,) and scores.dtype == np.float32
    assert scores[0] > 0
    assert index.search("weather", top_k=5) == [(0, pytest.approx(float(index.scores("weather")[0])))]
    assert index.search("weather", top_k=5)[0][1] > 0


def test_term_in_every_chunk_still_scores_positive():
    index = build(["London weather is rainy.", "London trains are slow, London is big."])
    scores = index.scores("London")
    assert (scores > 0).all(), scores
    hits = index.search("London", top_k=2)
    assert [row for row, _ in hits] == [1, 0]  # two mentions beat one


def test_single_chunk_score_matches_lucene_formula():
    # One chunk, one query term appearing once: avgdl == dl, so the length
    # normalisation cancels and Lucene's score is idf * tf / (tf + k1) with tf=1.
    index = build(["London weather is rainy."])
    expected = lucene_idf(1, 1) * 1 / (1 + CFG.bm25_k1)
    assert index.scores("London")[0] == pytest.approx(expected, rel=1e-5)


def test_rare_terms_outweigh_common_terms():
    texts = ["London rain", "London trains", "London money", "Paris trains"]
    index = build(texts)
    (best_row, _), *_ = index.search("London Paris", top_k=4)
    assert best_row == 3


def test_search_sorted_positive_and_top_k():
    texts = ["The cat sat on the mat.", "A dog chased the cat.", "Trains to Paris.",
             "Cats and dogs and cats.", "Weather in London.", "the of and"]
    index = build(texts)
    assert index.size == len(texts)
    for query in ["cat", "cat dog", "Paris trains", "London cat"]:
        scores = index.scores(query)
        expected = sorted(((float(s), -r) for r, s in enumerate(scores) if s > 0), reverse=True)
        for k in (1, 2, 3, 10):
            hits = index.search(query, top_k=k)
            got = [s for _, s in hits]
            assert got == sorted(got, reverse=True)
            assert all(s > 0 for s in got)
            assert len({r for r, _ in hits}) == len(hits)
            assert len(hits) == min(k, int((scores > 0).sum()))
            np.testing.assert_allclose(got, [s for s, _ in expected[:k]], rtol=1e-6)
            for row, score in hits:
                assert score == pytest.approx(float(scores[row]))


def test_search_is_the_sorted_brute_force_ranking_with_ties_in_row_order():
    # Many equal scores: the same few texts repeated, in a shuffled order.
    rng = random.Random(7)
    pool = ["cat on a mat", "dog and cat", "a red train", "cat cat dog", "weather report",
            "the of and", "dog", "train to the coast"]
    texts = [rng.choice(pool) for _ in range(300)]
    index = build(texts)
    for query in ["cat", "dog train", "coast weather cat", "zebra"]:
        scores = index.scores(query).tolist()
        expected = sorted((r for r, s in enumerate(scores) if s > 0), key=lambda r: (-scores[r], r))
        for k in (1, 5, 17, 40, 299, 1000):
            assert index.search(query, top_k=k) == [(r, scores[r]) for r in expected[:k]]


def test_query_without_known_terms_gives_nothing():
    index = build(["The cat sat.", "Dogs bark."])
    assert index.search("zebra", top_k=3) == []
    assert index.search("what is the", top_k=3) == []
    assert (index.scores("zebra") == 0).all()
    assert index.scores("zebra").shape == (2,)


def test_all_stop_word_chunk_keeps_its_row():
    index = build(["the of and", "cat"])
    assert index.size == 2
    assert index.search("cat", top_k=2) == [(1, pytest.approx(index.scores("cat")[1]))]


@pytest.mark.parametrize("top_k", [0, -1])
def test_search_rejects_non_positive_top_k(top_k):
    with pytest.raises(ValueError, match=str(top_k)):
        build(["cat"]).search("cat", top_k=top_k)


def test_save_load_round_trips_scores(tmp_path):
    texts = ["London weather is rainy.", "Trains of Europe cost $13.9 billion.",
             "Mr. Smith said the money would be spent.", "the of and", "London trains"]
    index = build(texts)
    folder = tmp_path / "lexical"
    folder.mkdir()
    index.save(folder)
    loaded = LexicalIndex.load(folder)
    assert loaded.size == index.size
    for query in ["London", "13.9 billion", "Smith money trains", "zebra", "rainy weather London"]:
        np.testing.assert_array_equal(loaded.scores(query), index.scores(query))
        assert loaded.search(query, 3) == index.search(query, 3)


def test_bm25_parameters_matter():
    texts = ["cat " * 10 + "dog", "cat dog", "bird"]
    low_b = LexicalIndex.build(texts, method="lucene", k1=1.5, b=0.0)
    high_b = LexicalIndex.build(texts, method="lucene", k1=1.5, b=1.0)
    assert not np.allclose(low_b.scores("cat"), high_b.scores("cat"))
