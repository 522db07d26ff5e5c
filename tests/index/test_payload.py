"""Chunk packs (index.payload): each holds its chunk's sentences exactly as the
embedded index has them, and reading through packs alone gives the embedded
index's answers. No server here: the Milvus tests are in tests/milvus."""

from __future__ import annotations

import numpy as np
import pytest

from index.config import IndexConfig
from index.payload import MAX_PACK_BYTES, ReaderView, document_bases, pack_chunk, unpack
from qa import QA
from tests.milvus.test_milvus import answers


class PackedIndex:
    """An embedded index searched as it is, but read only through packs: what
    a remote backend's query process has (``index.milvus.MilvusIndex``)."""

    def __init__(self, index) -> None:
        self.index, self.model_name, self.dim = index, index.model_name, index.dim
        bases = document_bases(index)
        self.packs = {i: unpack(pack_chunk(index, i, bases)[0]) for i in range(len(index.chunks))}
        self.documents, self.folder = index.documents, None

    def dense_ranking(self, vector, k):
        return self.index.dense_ranking(vector, k)

    def lexical_ranking(self, query, k):
        return self.index.lexical_ranking(query, k)

    def chunk_vectors(self, ids):
        return self.index.chunk_vectors(ids)

    def fetch_chunks(self, ids):
        return self.index.fetch_chunks(ids)

    def reader_view(self, hits, words, terms):
        analysis = self.index.analysis
        wanted = [w for h in hits for w in self.packs[h.chunk.chunk_id].lemmas] + list(words)
        vectors = {w: v for w in wanted if (v := analysis.lemma_vector(w)) is not None}
        df = {t: self.index.sentence_df[t] for t in terms if t in self.index.sentence_df}
        return ReaderView({h.chunk.chunk_id: self.packs[h.chunk.chunk_id] for h in hits},
                          {h.chunk.chunk_id: h.chunk for h in hits}, lemma_vectors=vectors,
                          sentence_df=df, sentence_count=self.index.sentence_count,
                          documents=self.index.documents, dim=self.dim)


@pytest.fixture
def built(corpus_dir, fake_embedder, tmp_path) -> QA:
    return QA.load(corpus_dir, index_dir=tmp_path / "index", embedder=fake_embedder, progress=False,
                   config=IndexConfig(model_name=fake_embedder.name, chunk_size=200, chunk_overlap=40))


def test_a_pack_holds_its_chunks_sentences_and_the_one_before(built):
    index = built.index
    bases = document_bases(index)
    analysis = index.analysis
    for chunk in index.chunks:
        text, lemmas = pack_chunk(index, chunk.chunk_id, bases)
        assert text.isascii() and len(text) <= MAX_PACK_BYTES
        pack = unpack(text)
        assert pack.lemmas == lemmas
        own = index.sentences_of(chunk)
        rows = list(index.chunks.sentence_rows(chunk.chunk_id))
        prev = index.previous_sentence(rows[0]) if rows else None
        expected = ([index.sentences[prev]] if prev is not None else []) + own
        assert pack.own == (prev is not None)
        assert [(s.start, s.end, s.text) for s in expected] == \
            list(zip(pack.starts.tolist(), pack.ends.tolist(), pack.texts))
        assert pack.ordinals.tolist() == [s.sentence_id - bases[index.documents.row_of[s.doc_id]]
                                          for s in expected]
        np.testing.assert_array_equal(pack.vectors, index.sentence_vectors[
            index.sentences.text_rows()[[s.sentence_id for s in expected]]])
        for k, s in enumerate(expected):
            assert pack.analysis.tokens(k) == analysis.tokens(s.sentence_id)
            assert pack.analysis.parse(k) == analysis.parse(s.sentence_id)
            assert pack.analysis.constituents(k) == analysis.constituents(s.sentence_id)
            assert pack.analysis.spans(k, s.text) == analysis.spans(s.sentence_id, s.text)
            lemmas = {analysis.terms[t] for t in analysis._a["ptok_lemma"][
                slice(*analysis._bounds("ptok", s.sentence_id))].tolist()}
            have = {w for w in lemmas if analysis.lemma_vector(w) is not None}
            assert have <= set(pack.lemmas)


def test_reading_through_packs_alone_gives_the_embedded_answers(built, fake_embedder):
    packed = QA(PackedIndex(built.index), fake_embedder, encoder=fake_embedder)
    expected = answers(built)
    assert sum(a is not None for a in expected) >= 5
    assert answers(packed) == expected


@pytest.mark.parametrize("text", ["", "not base64!", "aGVsbG8=", pack_chunk.__name__])
def test_a_damaged_pack_is_a_value_error(text):
    with pytest.raises(ValueError, match="not a chunk pack"):
        unpack(text)


@pytest.mark.slow
def test_packs_give_the_embedded_answers_on_the_dev_set(real_embedder, tmp_path, dev_questions):
    bot = QA.load(index_dir=tmp_path / "bundled", embedder=real_embedder, progress=False)
    packed = QA(PackedIndex(bot.index), real_embedder, encoder=bot.encoder)
    questions = [q["question"] for q in dev_questions]
    assert answers(packed, questions) == answers(bot, questions)
