"""index.analysis: what the reader needs of each sentence, worked out at index time,
must be exactly what it would work out at question time."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.analysis import SentenceAnalysis, narrowest
from index.config import IndexConfig
from index.errors import IndexCorruptError
from index.ingest import load_documents
from index.lexical import token_spans, tokenize
from index.parse import parse_sentences
from index.spans import find_spans
from index.store import build_index, load_index, open_index

CFG = IndexConfig(chunk_size=200, chunk_overlap=40)
TEXTS = [
    "The Bank of China lent $13.9 billion in 2013, said Mr. Smith.",
    "Kassym-Jomart Tokayev (the president) visited Beijing on 11 September 2019 – again.",
    "“Cash is king,” said the banker; “diversify,” said the adviser.",
    "",
    "1,000 people — about 30% of them — came; some left early.",
    "It is what it is.",
    "Ünïcödé wörds, 東京 and emoji 🎉 stay where they are.",
]


def check(analysis: SentenceAnalysis, texts: list[str]) -> None:
    assert analysis.size == len(texts)
    for i, text in enumerate(texts):
        assert analysis.tokens(i) == token_spans(text)
        assert analysis.spans(i, text) == [(s, tuple(tokenize(s.text))) for s in find_spans(text)]
    for i, parsed in enumerate(parse_sentences(texts)):
        starts, ends, pos, deps, heads, ents, lemmas = analysis.parse(i)
        assert (tuple(starts), tuple(ends), tuple(pos), tuple(deps), tuple(heads), tuple(ents),
                tuple(lemmas)) == (parsed.starts, parsed.ends, parsed.pos, parsed.deps,
                                   parsed.heads, parsed.ents, parsed.lemmas)
        assert tuple(analysis.constituents(i)) == parsed.constituents
        for c in analysis.constituents(i):
            assert 0 <= c.start < c.end <= len(texts[i])
            assert texts[i][c.start:c.end] == texts[i][c.start:c.end].strip()


def test_analysis_equals_what_the_reader_would_work_out():
    check(SentenceAnalysis.build(TEXTS), TEXTS)


def test_analysis_of_the_bundled_article(tmp_path):
    from qa.api import BUNDLED
    from index.sentences import split_sentences

    text = BUNDLED.read_text(encoding="utf-8")
    texts = [text[s:e] for s, e in split_sentences(text)]
    check(SentenceAnalysis.build(texts), texts)


def test_save_and_load_round_trip(tmp_path):
    SentenceAnalysis.build(TEXTS).save(tmp_path / "a")
    loaded = SentenceAnalysis.load(tmp_path / "a")
    check(loaded, TEXTS)
    assert isinstance(loaded._a["tokens_term"].base, np.memmap)  # mapped, not read in


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])   # a shared, busy machine
@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=20))
def test_narrowest_keeps_every_value_in_the_smallest_type_that_holds_them(values):
    source = np.array(values, dtype=np.int64)
    narrow = narrowest(source)
    assert narrow.tolist() == values
    assert narrow.dtype != np.uint64
    smaller = [t for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32)
               if np.dtype(t).itemsize < narrow.dtype.itemsize]
    for t in smaller:   # no smaller type would have held them
        info = np.iinfo(t)
        assert any(not info.min <= v <= info.max for v in values)


def test_stored_analysis_arrays_are_narrow(tmp_path):
    SentenceAnalysis.build(TEXTS).save(tmp_path / "a")
    widths = {p.stem: np.load(p).dtype.itemsize for p in (tmp_path / "a").glob("ptok_*.npy")}
    # Offsets within these short sentences, heads and label ids take one byte.
    assert widths["ptok_start"] == widths["ptok_head"] == widths["ptok_pos"] == 1, widths


def test_out_of_range_rows_are_refused():
    analysis = SentenceAnalysis.build(TEXTS)
    with pytest.raises(IndexError, match="sentence 7"):
        analysis.tokens(len(TEXTS))


@pytest.fixture
def docs(corpus_dir):
    return load_documents([corpus_dir])


def test_the_index_stores_the_analysis_of_its_sentences(docs, tmp_path, fake_embedder):
    built = build_index(docs, tmp_path / "idx", config=CFG, embedder=fake_embedder, progress=False)
    loaded = load_index(tmp_path / "idx")
    check(loaded.analysis, [s.text for s in loaded.sentences])
    assert built.manifest.analysis == loaded.manifest.analysis


@pytest.mark.parametrize("damage", ["drop_file", "bad_term", "short_pointer"])
def test_a_damaged_analysis_is_reported(docs, tmp_path, fake_embedder, damage):
    build_index(docs, tmp_path / "idx", config=CFG, embedder=fake_embedder, progress=False)
    folder = tmp_path / "idx" / "analysis"
    if damage == "drop_file":
        (folder / "cands_labels.npy").unlink()
    elif damage == "bad_term":
        terms = np.load(folder / "tokens_term.npy").astype(np.int32)   # stored narrow
        terms[0] = 10**6
        np.save(folder / "tokens_term.npy", terms)
    else:
        np.save(folder / "spans_ptr.npy", np.load(folder / "spans_ptr.npy")[:-1])
    with pytest.raises(IndexCorruptError, match="analysis/"):
        load_index(tmp_path / "idx")


def test_an_index_without_analysis_is_refreshed_without_embedding_again(
        docs, tmp_path, fake_embedder, caplog):
    folder = tmp_path / "idx"
    build_index(docs, folder, config=CFG, embedder=fake_embedder, progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["analysis"]   # as an index of an older version
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = fake_embedder.texts_embedded
    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_index(docs, folder, config=CFG, embedder=fake_embedder, progress=False)
    # Only the lemmas of the new analysis are embedded; no chunk or sentence again.
    assert fake_embedder.texts_embedded == before
    assert fake_embedder.words_embedded >= len(index.analysis.vectors) > 0
    assert "sentence analysis" in caplog.text
    check(index.analysis, [s.text for s in index.sentences])
    assert load_index(folder).manifest.analysis == index.manifest.analysis


def test_an_analysis_spilled_to_files_as_it_is_made_equals_one_held_in_memory(
        tmp_path, fake_embedder, monkeypatch):
    import index.analysis

    held = SentenceAnalysis.build(TEXTS, embed=fake_embedder.embed_texts)
    monkeypatch.setattr(index.analysis, "LEMMA_SLICE", 3)   # the lemma vectors, in slices
    filed = SentenceAnalysis.build(TEXTS, embed=fake_embedder.embed_texts, spill=tmp_path / "work")
    assert len(held.vectors) > 3   # more than one slice
    np.testing.assert_array_equal(np.load(tmp_path / "work" / "lemma_vectors.npy"), held.vectors)
    assert all(isinstance(v, np.memmap) for v in filed._a.values())   # none held in memory
    held.save(tmp_path / "held")
    filed.save(tmp_path / "a")
    for path in sorted((tmp_path / "held").iterdir()):   # the same files, byte for byte
        assert path.read_bytes() == (tmp_path / "a" / path.name).read_bytes(), path.name
    loaded = SentenceAnalysis.load(tmp_path / "a")
    np.testing.assert_array_equal(loaded.vectors, held.vectors)
    for word in ("bank", "president", "people"):
        np.testing.assert_array_equal(loaded.lemma_vector(word), held.lemma_vector(word))
    check(loaded, TEXTS)
