"""Tests for index.store: build, save/load, search, staleness, corruption, atomicity.

All with the offline fake embedder and a three-document corpus (tests/conftest.py).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from index.config import IndexConfig
from index.manifest import FORMAT_VERSION, Manifest
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from index.ingest import load_documents
from index.sentences import split_sentences
from index.store import build_index, load_index, open_index
from qa.storage import default_index_dir

CFG = IndexConfig(chunk_size=200, chunk_overlap=40)
QUERIES = ["windy weather in London", "trains of europe funding $13.9 billion",
           "Mr. Smith said", "cash is king", "umbrella", "zebra crossing"]
LEXICAL_QUERIES = ["umbrella London", "13.9 billion", "Smith", "cash king inflation", "zebra"]


def build(docs, folder: Path, embedder, config: IndexConfig = CFG):
    return build_index(docs, folder, config=config, embedder=embedder, progress=False)


def open_(docs, folder: Path, embedder, config: IndexConfig = CFG):
    return open_index(docs, folder, config=config, embedder=embedder, progress=False)


def query_vectors(embedder, queries=QUERIES) -> np.ndarray:
    return embedder.embed_texts(list(queries))


def all_vectors(index) -> np.ndarray:
    return index.faiss_index.reconstruct_n(0, index.faiss_index.ntotal)


def assert_same_index(a, b) -> None:
    """Same documents, chunks, sentences and vectors (what a reader can observe)."""
    assert a.chunks == b.chunks
    assert a.sentences == b.sentences
    assert a.documents == b.documents
    assert a.model_name == b.model_name and a.dim == b.dim
    assert a.manifest.config == b.manifest.config
    np.testing.assert_array_equal(all_vectors(a), all_vectors(b))
    np.testing.assert_array_equal(a.sentence_vectors, b.sentence_vectors)
    np.testing.assert_array_equal(a.sentences.text_rows(), b.sentences.text_rows())
    assert a.sentence_df == b.sentence_df


def rebuild_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "index.build"]


@pytest.fixture
def docs(corpus_dir):
    return load_documents([corpus_dir])


@pytest.fixture
def built(docs, tmp_path, fake_embedder):
    return build(docs, tmp_path / "idx", fake_embedder)


# --- build, save, load ------------------------------------------------------------------

def test_every_document_has_several_chunks(built, docs):
    for doc in docs:
        assert sum(c.doc_id == doc.doc_id for c in built.chunks) >= 3, doc.doc_id


def test_build_then_load_gives_identical_index(built, fake_embedder):
    loaded = load_index(built.folder)
    assert_same_index(built, loaded)
    assert loaded.manifest == built.manifest
    for q, vector in zip(QUERIES, query_vectors(fake_embedder)):
        for k in (1, 3, 100):
            assert built.search(vector, k) == loaded.search(vector, k)
    for q in LEXICAL_QUERIES:
        assert built.search_lexical(q, 5) == loaded.search_lexical(q, 5)


def test_chunks_are_in_document_order_with_consecutive_ids(built, docs):
    assert [c.chunk_id for c in built.chunks] == list(range(len(built.chunks)))
    order = [d.doc_id for d in docs]
    assert [c.doc_id for c in built.chunks] == sorted((c.doc_id for c in built.chunks), key=order.index)
    for c in built.chunks:
        assert built.documents[c.doc_id].text[c.start:c.end] == c.text
        assert len(c.text) <= CFG.chunk_size


def test_lexical_search_finds_the_right_chunk(built):
    hits = built.search_lexical("13.9 billion", 3)
    assert hits and "$13.9 billion" in hits[0].chunk.text
    assert hits[0].lexical == hits[0].score > 0 and hits[0].dense is None
    assert built.search_lexical("zebra", 3) == []


# --- dense search ---------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 5, 17])
def test_faiss_agrees_with_brute_force(built, fake_embedder, k):
    matrix = fake_embedder.embed_texts([c.text for c in built.chunks])
    for vector in query_vectors(fake_embedder):
        hits = built.search(vector, k)
        exact = matrix @ vector
        top = np.sort(exact)[::-1][:k]
        np.testing.assert_allclose([h.score for h in hits], top, rtol=1e-5, atol=1e-6)
        for h in hits:
            assert h.dense == h.score and h.lexical is None
            assert h.score == pytest.approx(float(exact[h.chunk.chunk_id]), rel=1e-5, abs=1e-6)
            assert built.chunks[h.chunk.chunk_id] == h.chunk


def test_more_hits_than_chunks_returns_every_chunk_once(built, fake_embedder):
    n = len(built.chunks)
    for vector in query_vectors(fake_embedder):
        for k in (n, n + 1, 10 * n):
            hits = built.search(vector, k)
            ids = [h.chunk.chunk_id for h in hits]
            assert sorted(ids) == list(range(n))
            assert -1 not in ids
            scores = [h.score for h in hits]
            assert scores == sorted(scores, reverse=True)


def test_search_checks_its_inputs(built, fake_embedder):
    vector = query_vectors(fake_embedder)[0]
    with pytest.raises(ValueError, match="0"):
        built.search(vector, 0)
    with pytest.raises(IndexMismatchError, match="16"):
        built.search(vector[:16], 3)


# --- sentences ------------------------------------------------------------------------

def test_sentences_point_back_into_their_documents(built, docs):
    assert [s.sentence_id for s in built.sentences] == list(range(len(built.sentences)))
    for s in built.sentences:
        assert built.documents[s.doc_id].text[s.start:s.end] == s.text
    for doc in docs:
        mine = [(s.start, s.end) for s in built.sentences if s.doc_id == doc.doc_id]
        assert mine == split_sentences(doc.text)


def test_sentences_of_returns_exactly_the_overlapping_sentences(built):
    for c in built.chunks:
        expected = [s for s in built.sentences
                    if s.doc_id == c.doc_id and s.start < c.end and c.start < s.end]
        assert built.sentences_of(c) == expected, c
        assert expected  # every chunk holds some text


def test_sentences_of_after_load(built):
    loaded = load_index(built.folder)
    for c in loaded.chunks:
        assert loaded.sentences_of(c) == built.sentences_of(c)


def test_sentence_vectors(built, fake_embedder):
    assert built.sentence_vectors.dtype == np.float16   # half the bytes; within float16 rounding
    assert len(built.sentence_vectors) == len({s.text for s in built.sentences})  # one per text
    v = built.sentence_vectors_of(range(len(built.sentences)))
    assert v.shape == (len(built.sentences), fake_embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(v.astype(np.float32), axis=1), 1.0, atol=2e-3)
    np.testing.assert_array_equal(
        v, fake_embedder.embed_texts([s.text for s in built.sentences]).astype(np.float16)
        .astype(np.float32))


# --- manifest -------------------------------------------------------------------------

def test_manifest_records_how_the_index_was_built(built, docs):
    on_disk = json.loads((built.folder / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == built.manifest.to_dict()
    assert Manifest.from_dict(on_disk) == built.manifest
    assert on_disk["format_version"] == FORMAT_VERSION
    assert on_disk["model"]["name"] == "fake-32"
    assert on_disk["model"]["dim"] == 32
    assert on_disk["config"] == CFG.to_dict()
    assert on_disk["config"]["chunk_size"] == 200 and on_disk["config"]["chunk_overlap"] == 40
    assert on_disk["counts"] == {"documents": 3, "chunks": len(built.chunks),
                                 "sentences": len(built.sentences),
                                 "texts": len({s.text for s in built.sentences})}
    recorded = {d["doc_id"]: d for d in on_disk["documents"]}
    assert set(recorded) == {d.doc_id for d in docs}
    for doc in docs:
        assert recorded[doc.doc_id]["sha256"] == doc.sha256
        assert recorded[doc.doc_id]["size"] == doc.size


# --- open_index: cached, changed, added, removed ---------------------------------------

def test_open_twice_embeds_nothing_the_second_time(corpus_dir, tmp_path, fake_embedder, caplog):
    folder = tmp_path / "idx"
    first = open_(load_documents([corpus_dir]), folder, fake_embedder)
    assert fake_embedder.texts_embedded == count_for(first)
    calls, embedded = fake_embedder.calls, fake_embedder.texts_embedded
    with caplog.at_level(logging.INFO, logger="index.build"):
        second = open_(load_documents([corpus_dir]), folder, fake_embedder)
    assert (fake_embedder.calls, fake_embedder.texts_embedded) == (calls, embedded)
    assert any("cached" in m for m in rebuild_messages(caplog)), caplog.text
    assert_same_index(first, second)


def test_open_with_no_index_builds_it(docs, tmp_path, fake_embedder, caplog):
    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_(docs, tmp_path / "new" / "idx", fake_embedder)
    assert load_index(tmp_path / "new" / "idx").chunks == index.chunks
    assert rebuild_messages(caplog)


def count_for(index, doc_id: str | None = None) -> int:
    """The texts a build of ``index`` embeds when only ``doc_id`` is new (None:
    everything is): each distinct text once, in row order, and none that a
    reused (unchanged) document already holds."""
    total = 0
    for rows in (index.chunks, index.sentences):
        seen = set()
        for row in rows:
            if row.text not in seen and doc_id in (None, row.doc_id):
                total += 1
            seen.add(row.text)
    return total


def fresh_build(docs, tmp_path, fake_embedder_class, name="fresh"):
    return build(docs, tmp_path / name, fake_embedder_class())


def test_changed_document_reembeds_only_that_document(
        corpus_dir, tmp_path, fake_embedder, fake_embedder_class, caplog):
    folder = tmp_path / "idx"
    old = open_(load_documents([corpus_dir]), folder, fake_embedder)
    path = corpus_dir / "weather.txt"
    text = path.read_text(encoding="utf-8")
    # An edit in the middle: later chunks of this document move, the others do not.
    path.write_text(text.replace("Fog was common", "Thick yellow fog was common"), encoding="utf-8")
    new_docs = load_documents([corpus_dir])
    before = fake_embedder.texts_embedded
    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_(new_docs, folder, fake_embedder)
    messages = " ".join(rebuild_messages(caplog))
    assert "weather.txt" in messages and "changed" in messages, messages
    assert "money.txt" not in messages
    assert fake_embedder.texts_embedded - before == count_for(index, "weather.txt")
    assert index.chunks != old.chunks
    fresh = fresh_build(new_docs, tmp_path, fake_embedder_class)
    assert_same_index(index, fresh)
    assert_same_index(load_index(folder), fresh)


def test_added_document_embeds_only_the_new_one(
        corpus_dir, tmp_path, fake_embedder, fake_embedder_class, caplog):
    folder = tmp_path / "idx"
    open_(load_documents([corpus_dir]), folder, fake_embedder)
    # "apples.txt" sorts first, so every old chunk id shifts.
    (corpus_dir / "apples.txt").write_text(
        "Apples grow in London gardens. " * 10 + "\n\nPears too. Trains carry them.", encoding="utf-8")
    new_docs = load_documents([corpus_dir])
    before = fake_embedder.texts_embedded
    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_(new_docs, folder, fake_embedder)
    messages = " ".join(rebuild_messages(caplog))
    assert "added" in messages and "apples.txt" in messages, messages
    assert fake_embedder.texts_embedded - before == count_for(index, "apples.txt")
    assert_same_index(index, fresh_build(new_docs, tmp_path, fake_embedder_class))


def test_removed_document_embeds_nothing(
        corpus_dir, tmp_path, fake_embedder, fake_embedder_class, caplog):
    folder = tmp_path / "idx"
    open_(load_documents([corpus_dir]), folder, fake_embedder)
    (corpus_dir / "money.txt").unlink()
    new_docs = load_documents([corpus_dir])
    before = fake_embedder.calls, fake_embedder.texts_embedded
    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_(new_docs, folder, fake_embedder)
    messages = " ".join(rebuild_messages(caplog))
    assert "removed" in messages and "money.txt" in messages, messages
    assert (fake_embedder.calls, fake_embedder.texts_embedded) == before
    assert "money.txt" not in index.documents
    assert_same_index(index, fresh_build(new_docs, tmp_path, fake_embedder_class))
    assert_same_index(load_index(folder), index)


def test_changed_config_rebuilds_only_what_changed(docs, tmp_path, fake_embedder,
                                                   fake_embedder_class, caplog):
    folder = tmp_path / "idx"
    old = open_(docs, folder, fake_embedder)
    other = IndexConfig(chunk_size=300, chunk_overlap=40)
    before = fake_embedder.texts_embedded
    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_(docs, folder, fake_embedder, other)
    messages = " ".join(rebuild_messages(caplog))
    assert "chunk_size" in messages and "300" in messages, messages
    # Same document, same offsets: same text, so its vector is reused. Here that
    # is every sentence and the chunks whose bounds did not move.
    old_spans = {(c.doc_id, c.start, c.end) for c in old.chunks}
    moved = [c for c in index.chunks if (c.doc_id, c.start, c.end) not in old_spans]
    assert moved, "the new chunk size should move some chunk bounds"
    assert fake_embedder.texts_embedded - before == len(moved)
    assert index.manifest.config["chunk_size"] == 300
    assert_same_index(index, build(docs, tmp_path / "fresh", fake_embedder_class(), other))


def test_changed_model_rebuilds(docs, tmp_path, fake_embedder, fake_embedder_class, caplog):
    class OtherFake(fake_embedder_class):
        name = "other-fake-32"

    folder = tmp_path / "idx"
    open_(docs, folder, fake_embedder)
    other = OtherFake()
    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_(docs, folder, other)
    messages = " ".join(rebuild_messages(caplog))
    assert "model" in messages and "other-fake-32" in messages, messages
    assert other.texts_embedded == count_for(index)
    assert load_index(folder).model_name == "other-fake-32"


# --- corrupt files ------------------------------------------------------------------------

def _invalid_json(p: Path):
    p.write_text("{not json", encoding="utf-8")


def _truncate(p: Path):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _delete(p: Path):
    p.unlink()


CORRUPTIONS = [
    ("manifest.json", _invalid_json, "manifest.json"),
    ("index.faiss", _truncate, "index.faiss"),
    ("chunks.npy", _truncate, "chunks.npy"),
    ("sentences.npy", _truncate, "sentences.npy"),
    ("documents.npy", _truncate, "documents.npy"),
    ("text.bin", _truncate, "text.bin"),
    ("text.bin", _delete, "text.bin"),
    ("sentence_vectors.npy", _truncate, "sentence_vectors.npy"),
    ("sentence_df.json", _invalid_json, "sentence_df.json"),
    ("lexical/vocab.index.json", _delete, "lexical"),
    ("lexical/size.json", _delete, "lexical"),
    ("lexical/data.csc.index.npy", _delete, "lexical"),
    ("index.faiss", _delete, "index.faiss"),
]


@pytest.mark.parametrize(("name", "corrupt", "named"), CORRUPTIONS,
                         ids=[f"{n}-{f.__name__.strip('_')}" for n, f, _ in CORRUPTIONS])
def test_corrupt_file_is_named_and_open_index_rebuilds(
        docs, tmp_path, fake_embedder, fake_embedder_class, caplog, name, corrupt, named):
    folder = tmp_path / "idx"
    build(docs, folder, fake_embedder)
    assert (folder / name).exists()
    corrupt(folder / name)
    with pytest.raises(IndexCorruptError) as info:
        load_index(folder)
    assert named in str(info.value), str(info.value)

    with caplog.at_level(logging.INFO, logger="index.build"):
        index = open_(docs, folder, fake_embedder)
    warnings = [r for r in caplog.records if r.name == "index.build" and r.levelno == logging.WARNING]
    assert warnings and named in warnings[0].getMessage()
    reloaded = load_index(folder)
    fresh = fresh_build(docs, tmp_path, fake_embedder_class)
    assert_same_index(reloaded, fresh)
    assert_same_index(index, fresh)
    vector = query_vectors(fake_embedder, ["umbrella London"])[0]
    assert reloaded.search(vector, 3) == fresh.search(vector, 3)
    assert reloaded.search_lexical("umbrella", 3) == fresh.search_lexical("umbrella", 3)


def test_other_format_version_is_a_mismatch_and_open_rebuilds(docs, tmp_path, fake_embedder):
    folder = tmp_path / "idx"
    build(docs, folder, fake_embedder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION + 1
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=str(FORMAT_VERSION + 1)):
        load_index(folder)
    open_(docs, folder, fake_embedder)
    assert load_index(folder).manifest.format_version == FORMAT_VERSION


def test_missing_index_is_not_found(tmp_path):
    with pytest.raises(IndexNotFoundError):
        load_index(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError):
        load_index(tmp_path / "empty")


# --- atomic writes, refusing to overwrite ---------------------------------------------

def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_build_leaves_the_old_index(corpus_dir, tmp_path, fake_embedder, monkeypatch):
    folder = tmp_path / "indexes" / "idx"
    old = build(load_documents([corpus_dir]), folder, fake_embedder)
    files_before = snapshot(folder)
    (corpus_dir / "weather.txt").write_text("Completely new weather text. It snows.", encoding="utf-8")
    new_docs = load_documents([corpus_dir])

    def boom(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr("index.build.write_tables", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        build_index(new_docs, folder, config=CFG, embedder=fake_embedder, progress=False,
                    previous=old)
    with pytest.raises(RuntimeError, match="simulated"):
        open_(new_docs, folder, fake_embedder)
    monkeypatch.undo()

    assert snapshot(folder) == files_before
    assert_same_index(load_index(folder), old)
    # Only the finished vectors are kept, in the build's work folder, for the next try.
    left = sorted(os.listdir(folder.parent))
    assert left[-1] == "idx" and len(left) == 2 and left[0].startswith(".idx.build-"), left
    embedded = fake_embedder.texts_embedded
    index = open_(new_docs, folder, fake_embedder)
    assert fake_embedder.texts_embedded == embedded, "the retry embedded again"
    assert sorted(os.listdir(folder.parent)) == ["idx"], "temporary folders were left behind"
    assert_same_index(index, fresh_build(new_docs, tmp_path / "fresh", type(fake_embedder)))


def test_failed_first_build_leaves_nothing(docs, tmp_path, fake_embedder, monkeypatch):
    parent = tmp_path / "indexes"

    def boom(*args, **kwargs):
        raise RuntimeError("simulated")

    monkeypatch.setattr("index.build.write_tables", boom)
    with pytest.raises(RuntimeError):
        build(docs, parent / "idx", fake_embedder)
    assert not (parent / "idx").exists()
    assert [p for p in os.listdir(parent) if not p.startswith(".idx.build-")] == []


def test_refuses_to_overwrite_a_folder_that_is_not_an_index(docs, tmp_path, fake_embedder):
    folder = tmp_path / "my-documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("Years of work.", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    before = snapshot(folder)
    with pytest.raises(IndexCorruptError, match="my-documents"):
        build(docs, folder, fake_embedder)
    with pytest.raises(IndexCorruptError, match="my-documents"):
        open_(docs, folder, fake_embedder)
    assert snapshot(folder) == before
    assert sorted(os.listdir(tmp_path)) == ["corpus", "my-documents"]


def test_does_not_delete_a_folder_that_merely_has_a_manifest_json(docs, tmp_path, fake_embedder):
    folder = tmp_path / "webapp"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": "My web app", "start_url": "/"}', encoding="utf-8")
    (folder / "index.html").write_text("<html>years of work</html>", encoding="utf-8")
    before = snapshot(folder)
    try:
        open_(docs, folder, fake_embedder)
    except (IndexCorruptError, IndexMismatchError):
        pass
    assert (folder / "index.html").exists(), "a user's file was deleted"
    assert snapshot(folder) == before


def test_manifest_missing_a_key_is_corrupt_and_rebuilt(docs, tmp_path, fake_embedder):
    folder = tmp_path / "idx"
    build(docs, folder, fake_embedder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["documents"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    index = open_(docs, folder, fake_embedder)
    assert [d.doc_id for d in load_index(folder).manifest.documents] == sorted(index.documents)


def test_refuses_an_index_path_that_is_a_file(docs, tmp_path, fake_embedder):
    path = tmp_path / "idx"
    path.write_text("precious", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="idx"):
        build(docs, path, fake_embedder)
    assert path.read_text(encoding="utf-8") == "precious"


def test_builds_into_an_empty_folder(docs, tmp_path, fake_embedder):
    (tmp_path / "idx").mkdir()
    build(docs, tmp_path / "idx", fake_embedder)
    assert load_index(tmp_path / "idx").documents.keys() == {d.doc_id for d in docs}


def test_no_documents_is_an_error(tmp_path, fake_embedder):
    with pytest.raises(ValueError):
        build([], tmp_path / "idx", fake_embedder)


# --- default_index_dir --------------------------------------------------------------------

def test_default_index_dir_is_stable_and_order_insensitive(tmp_path, monkeypatch):
    a, b, c = (tmp_path / n for n in ("a", "b.txt", "c"))
    root = tmp_path / "cache"
    one = default_index_dir(root, [a, b])
    assert one == default_index_dir(root, [b, a])
    assert one == default_index_dir(root, [str(a), str(b)])
    monkeypatch.chdir(tmp_path)
    assert one == default_index_dir(root, ["b.txt", "./a"])
    assert one.parent == root
    assert default_index_dir(root, [a]) != one
    assert default_index_dir(root, [a, c]) != one
    assert default_index_dir(root, [c]) != default_index_dir(root, [a])
    assert default_index_dir(root, [tmp_path / "x" / "a"]) != default_index_dir(root, [a])
    assert "/" not in one.name and one.name


def test_a_build_removes_what_killed_builds_left_behind(docs, tmp_path, fake_embedder):
    import subprocess
    import sys

    # A pid that surely ended: a child process we waited for.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    folder = tmp_path / "idx"
    stale_tmp = tmp_path / f".idx.tmp-{dead}-abc"
    stale_old = tmp_path / f".idx.old-{dead}-123"
    alive = tmp_path / f".idx.tmp-{os.getpid()}-mine"   # our own process: still building
    other = tmp_path / ".other.tmp-1-x"                  # another index's: not ours to touch
    for p in (stale_tmp, stale_old, alive, other):
        p.mkdir()
        (p / "index.faiss").write_text("half", encoding="utf-8")
    build(docs, folder, fake_embedder)
    assert not stale_tmp.exists() and not stale_old.exists()
    assert alive.exists() and other.exists()
    assert load_index(folder).documents


def test_a_second_process_waits_for_the_first_build_and_reuses_it(docs, tmp_path, fake_embedder_class):
    """Two threads open the same missing index at once: the documents are
    embedded once, and both get the same index."""
    import threading

    folder = tmp_path / "idx"
    embedders = [fake_embedder_class(), fake_embedder_class()]
    results = [None, None]

    def open_it(i):
        results[i] = open_index(docs, folder, config=CFG, embedder=embedders[i], progress=False)

    threads = [threading.Thread(target=open_it, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(e.texts_embedded > 0 for e in embedders) == 1
    assert [c.text for c in results[0].chunks] == [c.text for c in results[1].chunks]
