"""``QA.ask_traced``: one pipeline for the answer and what evaluation and training
need (the deep ranking, the reader's candidates), asked of every document or
``within`` a few. Offline, with the fake embedder and the three-document corpus."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.config import IndexConfig
from qa import QA, InputError
from qa.features import question_words, word_vectors
from qa.question import analyze_question
from qa.read import sentence_candidates
from qa.retrieve import WITHIN_POOL, retrieve

DOCS = ("weather.txt", "notes/trains.md", "money.txt")
QUESTIONS = ("Always carry an umbrella in London", "When did the first public railway open?",
             "What do central banks raise?", "How much did the rail agency invest?",
             "zzz qqq", "Is fog common in the city?")
PROPERTY = settings(derandomize=True, database=None, max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def bot(corpus_dir, tmp_path, fake_embedder) -> QA:
    config = IndexConfig(model_name=fake_embedder.name, chunk_size=200, chunk_overlap=40)
    return QA.load([corpus_dir], index_dir=tmp_path / "idx", config=config,
                   embedder=fake_embedder, progress=False)


@PROPERTY
@given(question=st.sampled_from(QUESTIONS),
       docs=st.sets(st.sampled_from(DOCS + ("not-a-document.txt",))),
       top_k=st.integers(1, 8), depth=st.integers(1, 12))
def test_within_reads_only_the_given_documents(bot, question, docs, top_k, depth):
    (reply, trace), = bot.ask_traced([question], top_k=top_k, depth=depth, within=[docs])
    assert {h.chunk.doc_id for h in trace.ranking + reply.passages} <= docs
    assert {a.doc_id for a in reply.answers} <= docs
    # Exactly the documents' passages of the deep ranking over every document, in order.
    vector = bot.encoder.embed_texts([question])[0]
    deep = retrieve(question, vector, bot.index, top_k=max(WITHIN_POOL, top_k, depth))
    own = [h.chunk.chunk_id for h in deep if h.chunk.doc_id in docs]
    assert [h.chunk.chunk_id for h in reply.passages] == own[:top_k]
    assert [h.chunk.chunk_id for h in trace.ranking] == own[:depth]


def test_within_none_is_every_document(bot):
    pairs = bot.ask_traced(list(QUESTIONS), top_k=3, depth=3, within=[None] * len(QUESTIONS))
    assert [reply for reply, _ in pairs] == bot.ask_batch(list(QUESTIONS), top_k=3)


def test_no_document_is_no_passage_and_no_answer(bot):
    (reply, trace), = bot.ask_traced(["Always carry an umbrella in London"], within=[set()],
                                     candidates=True)
    assert reply.passages == () and reply.answer is None and reply.answers == ()
    assert trace.ranking == () and trace.candidates == ()


def test_candidates_are_the_readers_input_and_only_when_asked(bot):
    questions = list(QUESTIONS)
    plain = bot.ask_traced(questions, top_k=4, depth=6)
    full = bot.ask_traced(questions, top_k=4, depth=6, candidates=True)
    assert [r for r, _ in plain] == [r for r, _ in full]   # the same replies either way
    for (_, bare), (reply, trace) in zip(plain, full):
        assert bare.question is None and bare.candidates == () and bare.word_vectors is None
        assert trace.ranking == bare.ranking
        question = analyze_question(reply.question)
        assert trace.question == question
        vector = bot.encoder.embed_texts([reply.question])[0]
        assert list(trace.candidates) == sentence_candidates(question, vector,
                                                             list(reply.passages), bot.index)
        words = word_vectors(question_words(question), bot.index.analysis, bot.encoder.embed_texts)
        if words is None:
            assert trace.word_vectors is None
        else:
            np.testing.assert_array_equal(trace.word_vectors, words)
        read = {(c.sentence.doc_id, c.sentence.start) for c in trace.candidates}
        assert {(a.doc_id, a.sentence_start) for a in reply.answers} <= read


@pytest.mark.parametrize("within, words", [
    ("weather.txt", "one entry per question"),             # a bare string is not a list
    ([{"weather.txt"}, None], "one entry per question"),   # two entries for one question
    (["weather.txt"], "sets of doc_ids"),                  # a string is not a set of doc_ids
    ([{1, 2}], "sets of doc_ids"),
    ({"weather.txt"}, "one entry per question"),
])
def test_a_bad_within_is_named(bot, within, words):
    with pytest.raises(InputError, match=words) as info:
        bot.ask_traced(["Always carry an umbrella in London"], within=within)
    assert "\n" not in str(info.value)


def test_a_word_encoded_once_is_not_encoded_again():
    from qa.features import WordEncoder

    calls = []

    def encode(words):
        calls.append(list(words))
        return np.array([[len(w), ord(w[0])] for w in words], dtype=np.float32)

    words = WordEncoder(encode, size=3)
    np.testing.assert_array_equal(words(["tea", "rain", "tea"]), encode(["tea", "rain", "tea"]))
    assert calls[0] == ["tea", "rain"]   # each new word once, in one call
    calls.clear()
    np.testing.assert_array_equal(words(["rain", "fog"]), encode(["rain", "fog"]))
    assert calls[0] == ["fog"]
    calls.clear()
    words(["sun"])            # four words seen, three kept: "tea" was used longest ago
    words(["rain", "tea"])
    assert calls == [["sun"], ["tea"]]
    assert words([]).shape[0] == 0


def test_asking_again_gives_the_same_reply_without_encoding_its_words_again(bot):
    class Counting:
        def __init__(self, encoder):
            self.encoder, self.name, self.dim, self.calls = encoder, encoder.name, encoder.dim, []

        def embed_texts(self, texts):
            self.calls.append(list(texts))
            return self.encoder.embed_texts(texts)

    plain = bot.ask_batch(list(QUESTIONS))
    bot.encoder = counting = Counting(bot.encoder)
    first = bot.ask_batch(list(QUESTIONS))
    assert first == plain and len(counting.calls) > 1   # the questions, then new words
    counting.calls.clear()
    assert bot.ask_batch(list(QUESTIONS)) == first
    assert counting.calls == [list(QUESTIONS)]   # the questions, in one batch; none of their words
