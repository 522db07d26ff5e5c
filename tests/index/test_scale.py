"""Large-corpus machinery in index.build: resumable, batch-by-batch builds and
approximate (HNSW) search above ``IndexConfig.ann_min_chunks``.

Offline, with the fake embedder and the three-document corpus (tests/conftest.py).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import index.build as store
from index.config import IndexConfig
from index.ingest import load_documents
from index.store import build_index, load_index, open_index

CFG = IndexConfig(chunk_size=200, chunk_overlap=40)
HNSW = IndexConfig(chunk_size=200, chunk_overlap=40, ann_min_chunks=2, hnsw_m=8,
                   hnsw_ef_search=64)


@pytest.fixture
def docs(corpus_dir):
    return load_documents([corpus_dir])


def build(docs, folder, embedder, config=CFG):
    return build_index(docs, folder, config=config, embedder=embedder, progress=False)


def distinct_texts(index) -> int:
    """What a build embeds: each distinct chunk text and sentence text once."""
    return len({c.text for c in index.chunks}) + len({s.text for s in index.sentences})


def work_folders(parent):
    return sorted(p for p in os.listdir(parent) if ".build-" in p)


class InterruptAfter:
    """Wraps an embedder; raises KeyboardInterrupt on call number ``n`` (a Ctrl-C)."""

    def __init__(self, embedder, n: int) -> None:
        self.inner, self.n, self.calls = embedder, n, 0
        self.name, self.dim = embedder.name, embedder.dim

    def embed_texts(self, texts):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.inner.embed_texts(texts)


@pytest.mark.parametrize("stop_at", [1, 2, 4, 7])
def test_an_interrupted_build_resumes_after_the_last_finished_batch(
        docs, tmp_path, fake_embedder_class, monkeypatch, stop_at):
    monkeypatch.setattr(store, "EMBED_BATCH", 4)
    folder = tmp_path / "indexes" / "idx"
    first = fake_embedder_class()
    with pytest.raises(KeyboardInterrupt):
        build(docs, folder, InterruptAfter(first, stop_at))
    assert not folder.exists(), "an interrupted build must not leave an index"
    assert len(work_folders(folder.parent)) == 1
    done_before = first.texts_embedded

    second = fake_embedder_class()
    index = build(docs, folder, second)
    # Nothing finished is embedded again, and every distinct text is embedded once.
    assert done_before + second.texts_embedded == distinct_texts(index)
    assert work_folders(folder.parent) == [], "the work folder outlived a finished build"
    expected = build(docs, tmp_path / "fresh", fake_embedder_class())
    np.testing.assert_array_equal(index.faiss_index.reconstruct_n(0, len(index.chunks)),
                                  expected.faiss_index.reconstruct_n(0, len(expected.chunks)))
    np.testing.assert_array_equal(all_sentence_vectors(index), all_sentence_vectors(expected))
    np.testing.assert_array_equal(all_sentence_vectors(load_index(folder)), all_sentence_vectors(expected))


def test_progress_is_written_batch_by_batch(docs, tmp_path, fake_embedder, monkeypatch):
    monkeypatch.setattr(store, "EMBED_BATCH", 5)
    folder = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        build(docs, folder, InterruptAfter(fake_embedder, 3))
    (work,) = work_folders(tmp_path)
    state = json.loads((tmp_path / work / "chunk_progress.json").read_text())
    assert state["done"] == 10 and state["dim"] == fake_embedder.dim


def test_a_work_folder_that_does_not_fit_is_started_over(docs, tmp_path, fake_embedder_class,
                                                         monkeypatch):
    monkeypatch.setattr(store, "EMBED_BATCH", 4)
    folder = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        build(docs, folder, InterruptAfter(fake_embedder_class(), 3))
    (work,) = work_folders(tmp_path)
    (tmp_path / work / "chunk_vectors.npy").write_bytes(b"garbage")   # damaged
    embedder = fake_embedder_class()
    index = build(docs, folder, embedder)
    assert embedder.texts_embedded == distinct_texts(index)
    expected = build(docs, tmp_path / "fresh", fake_embedder_class())
    np.testing.assert_array_equal(all_sentence_vectors(index), all_sentence_vectors(expected))


def test_other_documents_do_not_resume_a_stale_work_folder(corpus_dir, tmp_path,
                                                           fake_embedder_class, monkeypatch):
    monkeypatch.setattr(store, "EMBED_BATCH", 4)
    folder = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        build(load_documents([corpus_dir]), folder, InterruptAfter(fake_embedder_class(), 3))
    (stale,) = work_folders(tmp_path)
    (corpus_dir / "weather.txt").write_text("Now it only snows. Every day.", encoding="utf-8")
    embedder = fake_embedder_class()
    index = build(load_documents([corpus_dir]), folder, embedder)
    assert embedder.texts_embedded == distinct_texts(index)
    assert work_folders(tmp_path) == [], f"{stale} was left behind"


def test_a_repeated_text_is_embedded_once(tmp_path, fake_embedder, monkeypatch):
    from index.types import Document
    import hashlib

    monkeypatch.setattr(store, "EMBED_BATCH", 3)   # repeats inside a batch and across batches
    text = "\n\n".join(["Parameters", "The first thing.", "Returns", "Parameters",
                         "The second thing.", "Returns", "Parameters"] * 3)
    doc = Document("d.txt", "d", text, "/d", hashlib.sha256(text.encode()).hexdigest(), len(text))
    index = build([doc], tmp_path / "idx", fake_embedder)
    assert len({s.text for s in index.sentences}) == 4 < len(index.sentences)
    assert fake_embedder.texts_embedded == distinct_texts(index)
    expected = fake_embedder.embed_texts([s.text for s in index.sentences])
    assert index.sentence_vectors.shape == (4, fake_embedder.dim)   # one row per distinct text
    np.testing.assert_array_equal(all_sentence_vectors(index),
                                  expected.astype(np.float16).astype(np.float32))


def test_sentence_vectors_are_memory_mapped(docs, tmp_path, fake_embedder):
    build(docs, tmp_path / "idx", fake_embedder)
    vectors = load_index(tmp_path / "idx").sentence_vectors
    assert isinstance(vectors, np.memmap) and not vectors.flags.writeable


# --- approximate search ---------------------------------------------------------

def test_small_corpora_use_exact_search_and_large_ones_hnsw(docs, tmp_path, fake_embedder):
    exact = build(docs, tmp_path / "a", fake_embedder)
    approximate = build(docs, tmp_path / "b", fake_embedder, HNSW)
    assert exact.manifest.faiss == "IndexFlatIP"
    assert approximate.manifest.faiss == "IndexHNSWSQ"
    assert load_index(tmp_path / "b").faiss_index.hnsw.efSearch == HNSW.hnsw_ef_search


def test_hnsw_finds_what_exact_search_finds(docs, tmp_path, fake_embedder):
    index = build(docs, tmp_path / "idx", fake_embedder, HNSW)
    vectors = index.faiss_index.reconstruct_n(0, len(index.chunks))
    queries = np.concatenate([vectors, fake_embedder.embed_texts(
        ["windy weather", "trains of europe", "cash is king", "umbrella"])])
    found = total = 0
    for q in queries:
        exact = [h.chunk.chunk_id for h in index.search_exact(q, 5)]
        brute = list(np.argsort(-(vectors @ q), kind="stable")[:5])
        assert sorted(np.round(vectors[exact] @ q, 5)) == sorted(np.round(vectors[brute] @ q, 5))
        approximate = {h.chunk.chunk_id for h in index.search(q, 5)}
        found += len(approximate & set(exact))
        total += len(exact)
    # A tiny graph with a wide search list is effectively exact.
    assert found / total >= 0.99


def test_hnsw_index_round_trips(docs, tmp_path, fake_embedder):
    built = build(docs, tmp_path / "idx", fake_embedder, HNSW)
    loaded = load_index(tmp_path / "idx")
    for q in fake_embedder.embed_texts(["windy weather in London", "cash is king"]):
        assert [(h.chunk, round(h.score, 6)) for h in built.search(q, 4)] == \
               [(h.chunk, round(h.score, 6)) for h in loaded.search(q, 4)]


def test_a_faiss_file_that_disagrees_with_the_manifest_is_corrupt(docs, tmp_path, fake_embedder):
    from index.errors import IndexCorruptError

    build(docs, tmp_path / "idx", fake_embedder, HNSW)
    build(docs, tmp_path / "flat", fake_embedder)
    os.replace(tmp_path / "flat" / "index.faiss", tmp_path / "idx" / "index.faiss")
    with pytest.raises(IndexCorruptError, match="damaged: index.faiss: it has"):
        load_index(tmp_path / "idx")   # the manifest's record of the file
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["files"]   # as an index built before the records were kept
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="index.faiss.*IndexFlatIP"):
        load_index(tmp_path / "idx")


def test_changing_only_search_settings_reuses_every_vector(docs, tmp_path, fake_embedder):
    open_index(docs, tmp_path / "idx", config=CFG, embedder=fake_embedder, progress=False)
    before = fake_embedder.texts_embedded
    index = open_index(docs, tmp_path / "idx", config=HNSW, embedder=fake_embedder,
                       progress=False)
    assert fake_embedder.texts_embedded == before
    assert index.manifest.faiss == "IndexHNSWSQ"


@pytest.mark.parametrize("field", ["ann_min_chunks", "hnsw_m", "hnsw_ef_construction",
                                   "hnsw_ef_search"])
def test_search_settings_are_checked(field):
    with pytest.raises(ValueError, match=field):
        IndexConfig(**{field: 0})


def test_changing_only_the_search_depth_rebuilds_nothing_and_takes_effect(docs, tmp_path, fake_embedder):
    """Issue 12: hnsw_ef_search was part of the build settings, so changing it rebuilt the index."""
    from dataclasses import replace

    first = open_index(docs, tmp_path / "idx", config=HNSW, embedder=fake_embedder, progress=False)
    built = (tmp_path / "idx" / "manifest.json").read_bytes()
    before = fake_embedder.texts_embedded
    deeper = replace(HNSW, hnsw_ef_search=HNSW.hnsw_ef_search * 2)
    index = open_index(docs, tmp_path / "idx", config=deeper, embedder=fake_embedder, progress=False)
    assert fake_embedder.texts_embedded == before
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == built   # not rebuilt
    assert index.faiss_index.hnsw.efSearch == deeper.hnsw_ef_search
    assert first.faiss_index.hnsw.efSearch == HNSW.hnsw_ef_search


def all_sentence_vectors(index) -> np.ndarray:
    return index.sentence_vectors_of(range(len(index.sentences)))
