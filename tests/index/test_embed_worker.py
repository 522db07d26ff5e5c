"""The embedding model in a child process (``index.embed_worker``), as large
builds run it: the same vectors, its memory gone when it ends, a clear error
when it dies. Uses the real model."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from index.embed import Embedder
from index.embed_worker import EmbedWorkerError, WorkerEmbedder

TEXTS = ["Fog was common in London in 1880.", "Tea is grown in Assam.", "", "Returns the value."]


@pytest.fixture
def worker(real_embedder):
    w = WorkerEmbedder.like(real_embedder)
    yield w
    w.release()


def test_the_worker_gives_the_vectors_the_model_gives_here(worker, real_embedder):
    np.testing.assert_allclose(worker.embed_texts(TEXTS), real_embedder.embed_texts(TEXTS),
                               rtol=0, atol=1e-6)
    assert worker.dim == real_embedder.dim
    assert worker.embed_texts([]).shape == (0, real_embedder.dim)
    with pytest.raises(TypeError):
        worker.embed_texts("a string")


def test_requests_of_a_few_texts_give_exactly_the_vectors_of_one_call(worker, real_embedder,
                                                                        monkeypatch):
    import index.embed_worker

    texts = [f"{w} number {i}" for i, w in enumerate(("tea", "a long sentence about rain " * 5,
                                                      "fog", "Kazakhstan")) for _ in range(5)]
    monkeypatch.setattr(index.embed_worker, "REQUEST_TEXTS", 3)   # whole batches, a few a request
    np.testing.assert_array_equal(worker.embed_texts(texts), real_embedder.embed_texts(texts))


def test_release_ends_the_process_and_the_next_call_starts_another(worker):
    worker.embed_texts(TEXTS[:1])
    proc = worker._proc
    worker.release()
    assert proc.returncode == 0 and worker._proc is None
    assert worker.embed_texts(TEXTS[:1]).shape == (1, worker.dim)
    assert worker._proc is not proc


def test_a_worker_that_dies_is_a_clear_error_and_the_next_call_starts_again(worker):
    worker.embed_texts(TEXTS[:1])
    os.kill(worker._proc.pid, signal.SIGKILL)
    with pytest.raises(EmbedWorkerError, match="embedding process stopped"):
        worker.embed_texts(TEXTS)
    assert worker.embed_texts(TEXTS[:1]).shape == (1, worker.dim)


def test_an_error_in_the_worker_is_raised_here(worker):
    with pytest.raises(EmbedWorkerError, match="unknown request"):
        worker._call("nonsense")
    assert worker.embed_texts(TEXTS[:1]).shape == (1, worker.dim)   # it still serves


def test_a_large_build_never_loads_the_model_or_the_parser_in_its_own_process(tmp_path, corpus_dir, monkeypatch,
                                                                 real_embedder):
    import index.analysis
    import index.build
    from index.config import IndexConfig
    from index.ingest import load_documents
    from index.store import build_index

    docs, config = load_documents([corpus_dir]), IndexConfig(chunk_size=200, chunk_overlap=40)
    small = build_index(docs, tmp_path / "small", config=config, embedder=real_embedder,
                        progress=False)
    monkeypatch.setattr(index.build, "LARGE_BUILD", 1)

    def no_parse_here(*args, **kwargs):
        raise AssertionError("a large build parsed in its own process")

    monkeypatch.setattr(index.analysis, "parse_sentences", no_parse_here)
    fresh = Embedder(real_embedder.name, threads=real_embedder.threads)
    large = build_index(docs, tmp_path / "large", config=config, embedder=fresh, progress=False)
    assert not fresh.loaded
    # The parse (in index.analysis_worker) stored exactly what one in this process stores.
    names = sorted(p.name for p in (tmp_path / "small" / "analysis").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "large" / "analysis").iterdir())
    for name in names:
        if name != "lemma_vectors.npy":
            assert (tmp_path / "large" / "analysis" / name).read_bytes() == \
                (tmp_path / "small" / "analysis" / name).read_bytes(), name
    assert list(large.sentences) == list(small.sentences)
    np.testing.assert_allclose(large.sentence_vectors.astype(np.float32),
                               small.sentence_vectors.astype(np.float32), atol=1e-3)
    np.testing.assert_allclose(large.analysis.vectors, small.analysis.vectors, atol=1e-6)


def test_a_parent_that_stops_reading_mid_reply_stops_the_worker(worker):
    import pickle

    worker.embed_texts(TEXTS[:1])
    proc = worker._proc
    # As after Ctrl+C in the parent: a request sent, its reply never read.
    pickle.dump(("embed", TEXTS * 200), proc.stdin)
    proc.stdin.flush()
    worker.release()
    assert proc.returncode == 0
