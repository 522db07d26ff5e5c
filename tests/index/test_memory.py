"""index.memory: pages of a memory-mapped file dropped from the process keep
their data (written ones included), and a plain array is left alone."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from index import memory


def resident_kb() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))
    except (OSError, StopIteration):
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc are Linux's")
def test_released_pages_keep_what_was_written_and_leave_the_rss(tmp_path):
    path = tmp_path / "v.npy"
    rng = np.random.default_rng(0)
    values = rng.standard_normal((8192, 512)).astype(np.float32)   # 16 MB
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=values.shape)
    out[:] = values
    before = resident_kb()
    assert memory.release(out[100:])   # a view finds its mapping
    after = resident_kb()
    # Not flushed first: the mapping is shared, so the written pages are the file's.
    np.testing.assert_array_equal(out, values)
    out.flush()
    del out
    np.testing.assert_array_equal(np.load(path), values)
    assert before is None or before - after > 8_000, (before, after)


def test_a_plain_array_is_not_released():
    assert memory.release(np.zeros(4)) is False


def test_a_large_build_drops_its_models_between_stages_and_builds_the_same_index(
        tmp_path, corpus_dir, fake_embedder_class, monkeypatch):
    import index.build
    from index.config import IndexConfig
    from index.ingest import load_documents
    from index.parse import load_parser, release_parser
    from index.store import build_index

    events = []

    class Releasing(fake_embedder_class):
        def release(self):
            events.append("release")

        def embed_texts(self, texts):
            events.append("embed")
            return super().embed_texts(texts)

    docs, config = load_documents([corpus_dir]), IndexConfig(chunk_size=200, chunk_overlap=40)
    small = build_index(docs, tmp_path / "small", config=config, embedder=Releasing(), progress=False)
    assert "release" not in events   # below LARGE_BUILD: the models stay loaded
    monkeypatch.setattr(index.build, "LARGE_BUILD", 1)
    events.clear()
    release_parser()
    large = build_index(docs, tmp_path / "large", config=config, embedder=Releasing(), progress=False)
    # Dropped before the parse, loaded again for the lemma vectors, dropped after.
    assert events[-3:] == ["release", "embed", "release"], events
    assert load_parser.cache_info().currsize == 0   # the parse ran in a child process
    assert list(large.sentences) == list(small.sentences)
    np.testing.assert_array_equal(large.sentence_vectors, small.sentence_vectors)
    assert large.analysis.terms == small.analysis.terms
