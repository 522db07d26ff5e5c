"""The columnar format (index.tables, index.manifest): text stored once, rows as
numbers, and an index of an older format (2: JSON lines; 3: 32-bit analysis
arrays) rebuilt with one log line, reusing its vectors and its sentence
analysis."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.analysis import SentenceAnalysis
from index.chunk import chunk_document
from index.config import IndexConfig
from index.integrity import file_records
from index.manifest import CALIBRATION, FORMAT_VERSION, MANIFEST, Manifest, read_manifest
from index.sentences import split_sentences
from index.store import build_index, load_index, open_index
from index.tables import ChunkTable, DocumentTable, SentenceTable, Tables, distinct_texts, write_tables
from index.types import Document, Sentence

from tests.index.test_analysis import TEXTS, check

CFG = IndexConfig(chunk_size=120, chunk_overlap=20)


def document(doc_id: str, text: str) -> Document:
    return Document(doc_id, doc_id, text, f"/{doc_id}", hashlib.sha256(text.encode("utf-8",
                    "surrogatepass")).hexdigest(), len(text.encode("utf-8", "surrogatepass")))


def spans_of(documents):
    chunks, sentences = [], []
    for d in documents:
        chunks += chunk_document(d, CFG.chunk_size, CFG.chunk_overlap, first_id=len(chunks))
        sentences += [Sentence(d.doc_id, len(sentences) + i, s, e, d.text[s:e])
                      for i, (s, e) in enumerate(split_sentences(d.text))]
    return chunks, sentences


texts = st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from(". \n—é東🎉"),
                min_size=1, max_size=400)


@settings(max_examples=40, deadline=None)
@given(st.lists(texts, min_size=1, max_size=4), st.booleans())
def test_tables_give_back_every_span_and_document(tmp_path_factory, bodies, wide):
    import index.tables

    folder = tmp_path_factory.mktemp("tables")
    # 64-bit offsets, as a text.bin of 2 GiB or more gets them (and formats 3-4 had)
    limit = 0 if wide else index.tables.NARROW_LIMIT
    documents = [document(f"d{i}.txt", t) for i, t in enumerate(bodies)]
    chunks, sentences = spans_of(documents)
    text_row, firsts = distinct_texts(sentences)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(index.tables, "NARROW_LIMIT", limit)
        write_tables(folder, documents, chunks, sentences, text_row)
    assert np.load(folder / "sentences.npy").dtype["start"] == (np.int64 if wide else np.int32)
    from index.manifest import DocumentRecord

    tables = Tables(folder, [DocumentRecord(d.doc_id, d.title, d.path, d.sha256, d.size)
                             for d in documents])
    tables.check(len(firsts), sample=False)
    assert list(ChunkTable(tables, tables.chunk_rows)) == chunks
    assert list(SentenceTable(tables, tables.sentence_rows)) == sentences
    assert dict(DocumentTable(tables)) == {d.doc_id: d for d in documents}
    rows = SentenceTable(tables, tables.sentence_rows).text_rows()
    assert [sentences[firsts[r]].text for r in rows] == [s.text for s in sentences]
    for c in chunks:   # the sentences a chunk lists are exactly those overlapping it
        listed = list(ChunkTable(tables, tables.chunk_rows).sentence_rows(c.chunk_id))
        assert listed == [s.sentence_id for s in sentences
                          if s.doc_id == c.doc_id and s.start < c.end and s.end > c.start]


def test_selecting_rows_of_an_analysis_equals_analysing_those_texts():
    analysis = SentenceAnalysis.build(TEXTS)
    rows = [6, 0, 2, 2, 4, 3]
    check(analysis.select(rows), [TEXTS[r] for r in rows])
    check(analysis.with_rows(np.array(rows)), [TEXTS[r] for r in rows])


def test_repeated_sentences_share_one_vector_and_one_analysis_row(tmp_path, fake_embedder):
    text = "\n".join(["Returns the value.", "The cat sat on the mat.", "Returns the value."] * 3)
    index = build_index([document("a.txt", text)], tmp_path / "idx", config=CFG,
                        embedder=fake_embedder, progress=False)
    assert len(index.sentences) == 9 and index.manifest.counts.texts == 2
    assert len(index.sentence_vectors) == 2 and index.analysis.stored == 2
    check(index.analysis, [s.text for s in index.sentences])


def write_format_2(index, folder: Path) -> None:
    """Rewrite the (format 3) index in ``folder`` as format 2 wrote it: records
    in JSON lines, a float32 vector and an analysis row per sentence."""
    sentences, chunks = list(index.sentences), list(index.chunks)
    documents = [index.documents[d] for d in index.documents]
    rows = index.sentences.text_rows()
    stored = SentenceAnalysis.load(folder / "analysis")
    vectors = index.sentence_vectors_of(range(len(sentences)))
    manifest = index.manifest.to_dict()
    for name in ("text.bin", "documents.npy", "chunks.npy", "sentences.npy", "sentence_vectors.npy"):
        (folder / name).unlink()
    for path in (folder / "analysis").iterdir():
        path.unlink()
    stored.select(rows).save(folder / "analysis")
    np.save(folder / "sentence_vectors.npy", vectors)
    for name, items in (("chunks", chunks), ("sentences", sentences), ("documents", documents)):
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(asdict(x)) + "\n" for x in items)
    manifest.update(format_version=2, files={})
    del manifest["sentence_vectors"]
    del manifest["counts"]["texts"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def widen_tables(folder: Path) -> None:
    """Store the tables' offsets 64-bit, as formats 3 and 4 did."""
    from index.tables import WIDE_CHUNK_DTYPE, WIDE_SENTENCE_DTYPE

    for name, dtype in (("chunks.npy", WIDE_CHUNK_DTYPE), ("sentences.npy", WIDE_SENTENCE_DTYPE)):
        narrow = np.load(folder / name)
        wide = np.zeros(len(narrow), dtype=dtype)
        for field in dtype.names:
            wide[field] = narrow[field]
        np.save(folder / "wide.npy", wide)   # a new file: the open index maps the old one
        os.replace(folder / "wide.npy", folder / name)


def rewrite_manifest(index, folder: Path, version: int) -> None:
    manifest = index.manifest.to_dict()
    manifest.update(format_version=version, files={})
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    manifest["files"] = file_records(folder, skip=(MANIFEST, CALIBRATION))
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def write_format_4(index, folder: Path) -> None:
    """Rewrite the index in ``folder`` as format 4 wrote it: 64-bit offsets."""
    widen_tables(folder)
    rewrite_manifest(index, folder, 4)


def write_format_3(index, folder: Path) -> None:
    """Rewrite the index in ``folder`` as format 3 wrote it: 64-bit offsets, and
    every analysis array 32-bit (pointers 64-bit)."""
    widen_tables(folder)
    for path in (folder / "analysis").glob("*.npy"):
        values = np.load(path)
        if values.dtype.kind in "iu":
            np.save(path, values.astype(np.int64 if path.stem.endswith("_ptr") else np.int32))
    rewrite_manifest(index, folder, 3)


def analysis_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / "analysis").iterdir())


@pytest.mark.parametrize("old", [2, 3, 4])
def test_an_index_of_an_older_format_is_rebuilt_reusing_its_vectors_and_analysis(
        tmp_path, fake_embedder, fake_embedder_class, caplog, old):
    text = "\n".join(["Returns the value.", "Fog was common in London in 1880.",
                      "Returns the value.", "The cat sat on the mat; it rained."] * 4)
    docs = [document("a.txt", text), document("b.txt", "Tea is grown in Assam. Rain falls.")]
    folder = tmp_path / "idx"
    fresh = build_index(docs, folder, config=CFG, embedder=fake_embedder_class(), progress=False)
    narrow = analysis_bytes(folder)
    table_bytes = [(folder / n).stat().st_size for n in ("chunks.npy", "sentences.npy")]
    {2: write_format_2, 3: write_format_3, 4: write_format_4}[old](fresh, folder)
    assert read_manifest(folder).format_version == old

    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_index(docs, folder, config=CFG, embedder=fake_embedder, progress=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "index.build"]
    assert any(f"format version {old}" in line and f"writes {FORMAT_VERSION}" in line
               for line in lines)
    assert fake_embedder.texts_embedded == 0 and fake_embedder.words_embedded == 0
    assert index.manifest.format_version == FORMAT_VERSION
    assert list(index.chunks) == list(fresh.chunks) and list(index.sentences) == list(fresh.sentences)
    np.testing.assert_array_equal(index.sentence_vectors, fresh.sentence_vectors)
    check(index.analysis, [s.text for s in index.sentences])
    assert Manifest.from_dict(json.loads((folder / "manifest.json").read_text())) == index.manifest
    assert analysis_bytes(folder) == narrow   # stored again in the narrow widths
    assert [(folder / n).stat().st_size for n in ("chunks.npy", "sentences.npy")] == table_bytes
