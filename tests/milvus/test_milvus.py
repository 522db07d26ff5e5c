"""The Milvus backend against a real (milvus-lite) server: it answers as the
embedded index does, keeps what it has, survives restarts and a server that
dies mid-build, and says in one line what is wrong with a bad URI or a
collection of another model. Most tests use the fake embedder (fast); the
last ones use the real model on the bundled article."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from index.config import IndexConfig
from index.errors import BackendError, IndexMismatchError, IndexNotFoundError, InputError
from index.milvus import (Calls, MilvusIndex, MilvusSettings, connect, create_collections, open_milvus,
                          query_all, read_meta)
from index.milvus_upload import sync, upsert_meta
from qa import QA
from tests.milvus_server import MilvusServer, free_port

QUESTIONS = ["How much did the rail agency invest?", "Who is the agency's spokesman?",
             "When did the first public railway open?", "What does inflation eat?",
             "What should you always carry in London?", "What brings blossom to the parks?",
             "What did a loaf of bread cost in 1990?", "What is the capital of Peru?"]


def config_for(embedder) -> IndexConfig:
    return IndexConfig(model_name=embedder.name, chunk_size=200, chunk_overlap=40)


def load(corpus, embedder, tmp_path, **backend) -> QA:
    return QA.load(corpus, index_dir=tmp_path / "index", config=config_for(embedder),
                   embedder=embedder, progress=False, **backend)


def cited(reply) -> tuple | None:
    a = reply.answer
    return None if a is None else (a.doc_id, a.start, a.end, a.text, round(a.confidence, 6))


def answers(bot: QA, questions=QUESTIONS) -> list:
    return [cited(r) for r in bot.ask_batch(questions)]


def rows(uri: str, collection: str) -> dict[str, list]:
    """Every row id of the three collections."""
    settings = MilvusSettings(uri, collection)
    db = Calls(connect(settings), settings)
    chunks, docs, vocab = settings.names
    return {"chunks": [r["id"] for r in query_all(db, chunks, "id >= 0", ["id"])],
            "docs": [(r["key"], r["kind"]) for r in query_all(db, docs, 'key != ""', ["key", "kind"])],
            "vocab": [r["key"] for r in query_all(db, vocab, 'key != ""', ["key"])]}


def test_the_collection_answers_as_the_embedded_index(corpus_dir, fake_embedder, tmp_path,
                                                      milvus_uri, collection):
    embedded = load(corpus_dir, fake_embedder, tmp_path)
    milvus = load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=milvus_uri,
                  milvus_collection=collection)
    assert isinstance(milvus.index, MilvusIndex)
    expected = answers(embedded)
    assert sum(a is not None for a in expected) >= 5
    assert answers(milvus) == expected
    # Every answer cites the document text Milvus holds.
    for reply in milvus.ask_batch(QUESTIONS):
        if reply.answer:
            doc = milvus.index.documents[reply.answer.doc_id]
            assert doc.text[reply.answer.start:reply.answer.end] == reply.answer.text
    assert sorted(milvus.index.documents) == sorted(embedded.index.documents)
    assert len(milvus.index.chunks) == len(embedded.index.chunks)


def test_both_rankings_agree_with_the_embedded_ones(corpus_dir, fake_embedder, tmp_path,
                                                   milvus_uri, collection):
    embedded = load(corpus_dir, fake_embedder, tmp_path)
    milvus = load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=milvus_uri,
                  milvus_collection=collection)

    def place(index, ranking):
        """The passages in order (ids differ between backends), a set per run of
        equal scores (either backend may order those either way), leaving out
        the last run (the other may have cut it elsewhere)."""
        chunks = index.fetch_chunks([i for i, _ in ranking])
        runs, last = [], None
        for c, (_, s) in zip(chunks, ranking):
            if last is None or abs(s - last) > 1e-5 * max(1.0, abs(s)):
                runs.append(set())
            runs[-1].add((c.doc_id, c.start))
            last = s
        return runs[:-1]

    for q in QUESTIONS + ["umbrella umbrella London", "1,000 lira", "13.9 billion", "the of and"]:
        v = fake_embedder.embed_texts([q])[0]
        for k in (1, 5, 50):
            assert place(milvus.index, milvus.index.dense_ranking(v, k)) == \
                place(embedded.index, embedded.index.dense_ranking(v, k))
            assert place(milvus.index, milvus.index.lexical_ranking(q, k)) == \
                place(embedded.index, embedded.index.lexical_ranking(q, k)), (q, k)


def test_a_second_load_uploads_nothing_and_a_change_only_what_changed(corpus_dir, fake_embedder,
                                                                      tmp_path, milvus_uri, collection):
    settings = MilvusSettings(milvus_uri, collection)
    bot = load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=milvus_uri,
               milvus_collection=collection)
    before = rows(milvus_uri, collection)
    assert len(before["chunks"]) == len(bot.index.chunks) == len(set(before["chunks"]))

    embedded = load(corpus_dir, fake_embedder, tmp_path)
    again = sync(embedded.index, settings, progress=False)
    assert (again.added, again.removed, again.kept) == (0, 0, 3)
    assert rows(milvus_uri, collection) == before

    (corpus_dir / "money.txt").write_text("Gold is heavy. Silver is shiny and cheaper than gold.\n")
    (corpus_dir / "weather.txt").unlink()
    bot = load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=milvus_uri,
               milvus_collection=collection)
    after = rows(milvus_uri, collection)
    assert sorted(bot.index.documents) == ["money.txt", "notes/trains.md"]
    assert len(after["chunks"]) == len(set(after["chunks"])) == len(bot.index.chunks)
    reply = bot.ask("What is shiny?")
    assert reply.answers and reply.answers[0].text == "Silver"
    assert {h.chunk.doc_id for h in bot.ask("Always carry an umbrella in London?").passages} <= \
        {"money.txt", "notes/trains.md"}
    assert read_meta(Calls(connect(settings), settings), settings)["documents"] == 2


def test_an_unreachable_server_is_one_line_naming_it(corpus_dir, fake_embedder, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError) as err:
        load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=uri)
    message = str(err.value)
    assert uri in message and "\n" not in message and message.startswith("cannot reach Milvus")
    with pytest.raises(BackendError):
        QA.connect(uri, embedder=fake_embedder)


@pytest.mark.slow
def test_the_cli_says_one_line_when_the_server_is_unreachable(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    out = subprocess.run([sys.executable, "-m", "qa", "ask", "Who?", "--backend", "milvus",
                          "--milvus-uri", uri, "--index-dir", str(tmp_path / "i"), "-q"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and uri in lines[0] and "Traceback" not in out.stderr


@pytest.mark.parametrize("kwargs, expected", [
    ({"backend": "milvus", "milvus_uri": "localhost:19530"}, "Milvus URI must look like"),
    ({"backend": "milvus", "milvus_collection": "no-dashes"}, "collection name must be"),
    ({"backend": "milvus", "milvus_collection": ""}, "collection name must be"),
    ({"backend": "embedded", "milvus_uri": "http://127.0.0.1:1"}, "need backend='milvus'"),
    ({"backend": "faiss"}, "backend must be one of"),
])
def test_bad_backend_settings_are_refused_before_anything_is_read(tmp_path, kwargs, expected):
    with pytest.raises(InputError, match=expected):
        QA.load(tmp_path / "missing.txt", progress=False, **kwargs)


def test_a_collection_of_another_model_is_refused(corpus_dir, fake_embedder, fake_embedder_class,
                                                  tmp_path, milvus_uri, collection):
    load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=milvus_uri,
         milvus_collection=collection)

    class Other(fake_embedder_class):
        name, dim = "fake-16", 16

    other = Other()
    with pytest.raises(IndexMismatchError) as err:
        QA.load(corpus_dir, index_dir=tmp_path / "other", config=config_for(other), embedder=other,
                progress=False, backend="milvus", milvus_uri=milvus_uri, milvus_collection=collection)
    message = str(err.value)
    assert "'fake-32' (32 dimensions)" in message and "'fake-16' (16 dimensions)" in message
    assert "\n" not in message
    with pytest.raises(IndexMismatchError):
        QA.connect(milvus_uri, collection=collection, embedder=other)
    # The collection is untouched: the first model still answers from it.
    assert QA.connect(milvus_uri, collection=collection, embedder=fake_embedder).ask(QUESTIONS[0]).answer


def test_a_collection_that_is_not_docqas_is_refused(milvus_uri, collection, fake_embedder):
    settings = MilvusSettings(milvus_uri, collection)
    with pytest.raises(IndexNotFoundError, match="no docqa collection"):
        QA.connect(milvus_uri, collection=collection, embedder=fake_embedder)
    db = Calls(connect(settings), settings)
    create_collections(db, settings, 32)
    with pytest.raises(IndexNotFoundError, match="not a docqa index"):
        open_milvus(settings)
    upsert_meta(db, settings, {"schema": 99, "model": "fake-32", "dim": 32})
    with pytest.raises(IndexMismatchError, match="written by another docqa"):
        open_milvus(settings)


def test_a_query_process_needs_only_the_server(corpus_dir, fake_embedder, tmp_path, milvus_uri,
                                               collection):
    built = load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=milvus_uri,
                 milvus_collection=collection)
    expected = answers(built)
    for path in corpus_dir.rglob("*"):      # no document, no index folder
        if path.is_file():
            path.unlink()
    import shutil

    shutil.rmtree(tmp_path / "index")
    served = QA.connect(milvus_uri, collection=collection, embedder=fake_embedder)
    assert served.index.folder is None
    assert answers(served) == expected
    with pytest.raises(InputError, match="no index folder"):
        served.save_threshold(0.5)


def test_a_collection_survives_a_server_restart(corpus_dir, fake_embedder, tmp_path, own_server):
    bot = load(corpus_dir, fake_embedder, tmp_path, backend="milvus", milvus_uri=own_server.uri)
    expected = answers(bot)
    own_server.stop()
    with pytest.raises(BackendError):
        bot.ask(QUESTIONS[0])
    restarted = MilvusServer(own_server.data_dir).start()
    try:
        again = QA.connect(restarted.uri, embedder=fake_embedder)
        assert answers(again) == expected
        assert len(again.index.documents) == 3
    finally:
        restarted.kill()


def test_a_server_that_dies_mid_build_is_resumed_without_duplicates(corpus_dir, fake_embedder,
                                                                  tmp_path, own_server, monkeypatch):
    import index.milvus_upload as milvus

    embedded = load(corpus_dir, fake_embedder, tmp_path)
    packed = []
    real_pack = milvus.pack_chunk

    def pack_then_die(index, chunk_id, bases):
        packed.append(chunk_id)
        if len(packed) == 7:   # in the second document's first batch, or later
            own_server.kill()
        return real_pack(index, chunk_id, bases)

    monkeypatch.setattr(milvus, "UPLOAD_BATCH", 2)
    monkeypatch.setattr(milvus, "pack_chunk", pack_then_die)
    settings = MilvusSettings(own_server.uri)
    with pytest.raises(BackendError) as err:
        sync(embedded.index, settings, progress=False)
    assert "\n" not in str(err.value) and own_server.uri in str(err.value)
    assert "run the same command again to resume" in str(err.value)

    restarted = MilvusServer(own_server.data_dir).start()
    try:
        monkeypatch.setattr(milvus, "pack_chunk", real_pack)
        settings = MilvusSettings(restarted.uri)
        report = sync(embedded.index, settings, progress=False)
        assert report.added >= 1 and report.added + report.kept == 3
        found = rows(restarted.uri, "docqa")
        assert len(found["chunks"]) == len(set(found["chunks"])) == len(embedded.index.chunks)
        done = sorted(k.split(":")[0] for k, kind in found["docs"] if kind == "done")
        assert len(done) == 3
        assert done == sorted(k.split(":")[0] for k, kind in found["docs"] if kind == "started")
        assert len(found["vocab"]) == len(set(found["vocab"]))
        again = QA.connect(restarted.uri, embedder=fake_embedder)
        assert answers(again) == answers(embedded)
    finally:
        restarted.kill()


# ----------------------------------------------------------- the real model

@pytest.mark.slow
def test_dev_questions_get_the_same_answers_from_milvus(tmp_path_factory, milvus_uri, collection,
                                                       dev_questions, real_embedder):
    folder = tmp_path_factory.mktemp("bundled-milvus")
    embedded = QA.load(index_dir=folder, embedder=real_embedder, progress=False)
    milvus = QA.load(index_dir=folder, embedder=real_embedder, progress=False, backend="milvus",
                     milvus_uri=milvus_uri, milvus_collection=collection)
    questions = [q["question"] for q in dev_questions]
    a, b = answers(embedded, questions), answers(milvus, questions)
    same = sum(x == y for x, y in zip(a, b))
    assert same >= 0.98 * len(questions), [(q, x, y) for q, x, y in zip(questions, a, b) if x != y]


@pytest.mark.slow
def test_dense_top_10_equals_exact_search_on_10000_vectors(milvus_uri, collection):
    import faiss

    dim, n = 384, 10_000
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = MilvusSettings(milvus_uri, collection)
    db = Calls(connect(settings), settings)
    create_collections(db, settings, dim)
    meta = {"schema": 1, "model": "random", "dim": dim, "documents": 0, "chunks": n, "sentences": 0}
    for lo in range(0, n, 1000):
        db.upsert(settings.names[0], [{"id": i, "vector": vectors[i].tolist(), "terms": "", "doc_key": "k",
                                       "doc_id": "vectors", "start": 0, "end": 0, "text": "", "payload": ""}
                                      for i in range(lo, min(n, lo + 1000))])
    # One whole document holds them all (search leaves out documents not marked whole).
    db.upsert(settings.names[1], [{"key": "k:done", "kind": "done", "doc_key": "k", "piece": 0,
                                   "data": '{"doc_id": "vectors"}', "vector": [0.0, 0.0]}])
    for name in settings.names[:2]:
        db.flush(name)
    index = MilvusIndex(db, settings, meta)
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    queries = rng.standard_normal((50, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, truth = exact.search(queries, 10)
    found = [{i for i, _ in index.dense_ranking(q, 10)} for q in queries]
    recall = np.mean([len(f & set(t.tolist())) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.99


def test_a_serving_process_sees_what_another_one_synced(corpus_dir, fake_embedder, tmp_path,
                                                      milvus_uri, collection):
    options = {"backend": "milvus", "milvus_uri": milvus_uri, "milvus_collection": collection}
    load(corpus_dir, fake_embedder, tmp_path, **options)
    serving = QA.connect(milvus_uri, collection=collection, embedder=fake_embedder)
    assert serving.ask("What should you always carry in London?").answers
    # Another process adds a document and rewrites one that the server has read.
    (corpus_dir / "cheese.txt").write_text("Cheddar is a hard cheese. It was first made in "
                                           "Somerset in the twelfth century.\n")
    (corpus_dir / "weather.txt").write_text("Always carry a raincoat in Manchester, "
                                            "where it rains on most days.\n")
    load(corpus_dir, fake_embedder, tmp_path, **options)
    best = serving.ask("Where was Cheddar first made?").answers[0]
    assert best.doc_id == "cheese.txt" and best.text == "Somerset"
    doc = serving.index.documents["weather.txt"]
    assert "Manchester" in doc.text and "London" not in doc.text
    for reply in serving.ask_batch(["What should you always carry in Manchester?"] + QUESTIONS):
        for a in reply.answers:
            text = serving.index.documents[a.doc_id].text
            assert text[a.start:a.end] == a.text and text[a.sentence_start:a.sentence_end] == a.sentence
    assert len(serving.index.documents) == 4


def test_chunks_cut_another_way_replace_the_old_ones(corpus_dir, fake_embedder, tmp_path, milvus_uri,
                                                    collection):
    options = {"backend": "milvus", "milvus_uri": milvus_uri, "milvus_collection": collection}
    load(corpus_dir, fake_embedder, tmp_path, **options)
    wider = QA.load(corpus_dir, index_dir=tmp_path / "wider", embedder=fake_embedder, progress=False,
                    config=IndexConfig(model_name=fake_embedder.name, chunk_size=400, chunk_overlap=40),
                    **options)
    found = rows(milvus_uri, collection)
    assert len(found["chunks"]) == len(wider.index.chunks) == \
        wider.index.manifest.counts.chunks
    embedded = QA.load(corpus_dir, index_dir=tmp_path / "wider", embedder=fake_embedder, progress=False,
                       config=IndexConfig(model_name=fake_embedder.name, chunk_size=400, chunk_overlap=40))
    assert answers(wider) == answers(embedded)


@pytest.mark.slow
def test_two_web_uis_serve_one_collection(tmp_path, milvus_uri, collection, real_embedder):
    import os
    import signal
    import time
    from pathlib import Path

    from gradio_client import Client

    root = Path(__file__).resolve().parents[2]
    folder = tmp_path / "bundled"
    QA.load(index_dir=folder, embedder=real_embedder, progress=False, backend="milvus",
            milvus_uri=milvus_uri, milvus_collection=collection)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "ui", "--index-dir", str(folder), "--port", str(p),
                               "--backend", "milvus", "--milvus-uri", milvus_uri,
                               "--milvus-collection", collection, "--state-dir", str(tmp_path / f"s{p}")],
                              cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in ports]
    try:
        for proc, port in zip(procs, ports):
            deadline, line = time.monotonic() + 180, ""
            while time.monotonic() < deadline and proc.poll() is None and "ready at" not in line:
                line = proc.stdout.readline()
            assert line.startswith(f"docqa is ready at http://127.0.0.1:{port}/ (china-kazakhstan.txt, "
                                   "24 passages)"), (line, proc.poll())
        for port in ports:
            reply = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
                "How much capital does the Asian Infrastructure Investment Bank have?", api_name="/ask")
            assert reply["answer"]["text"] == "100 billion US dollars"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for proc in procs:
        assert "0 document(s) uploaded" in proc.stderr.read()   # the collection was already whole


def test_without_a_server_the_milvus_tests_fail_saying_so(tmp_path):
    """$DOCQA_MILVUS_URI naming a dead server fails the tests that need it (never a skip)."""
    import os
    from pathlib import Path

    uri = f"http://127.0.0.1:{free_port()}"
    env = dict(os.environ, DOCQA_MILVUS_URI=uri)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/milvus/test_milvus.py::test_both_rankings_agree_with_the_embedded_ones"],
                         cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1, out.stdout[-2000:]
    assert f"$DOCQA_MILVUS_URI is '{uri}', and no Milvus server answers there" in out.stdout
    assert "1 error" in out.stdout and "skipped" not in out.stdout


def test_the_token_comes_from_the_environment_and_is_never_shown(monkeypatch):
    from qa.api import milvus_settings

    monkeypatch.setenv("DOCQA_MILVUS_TOKEN", "root:s3cret")
    settings = milvus_settings("milvus", None, None)
    assert settings.token == "root:s3cret" and settings.uri == "http://127.0.0.1:19530"
    assert "s3cret" not in repr(settings) and settings.collection == "docqa"
    monkeypatch.delenv("DOCQA_MILVUS_TOKEN")
    assert milvus_settings("milvus", "https://milvus.example:443", "docs_v2").token is None
    assert milvus_settings("embedded", None, None) is None


def test_a_document_still_uploading_is_not_cited(corpus_dir, fake_embedder, tmp_path, milvus_uri,
                                                 collection, monkeypatch):
    """A serving process must not cite the chunks of a document whose upload
    has not finished (its ``done`` row not written): it does not know it yet."""
    import index.milvus_upload as upload

    options = {"backend": "milvus", "milvus_uri": milvus_uri, "milvus_collection": collection}
    load(corpus_dir, fake_embedder, tmp_path, **options)
    serving = QA.connect(milvus_uri, collection=collection, embedder=fake_embedder)

    class NeverDone(upload.Calls):
        def upsert(self, name, rows):
            if any(r.get("kind") == "done" for r in rows):
                raise BackendError("stopped before the last row")
            return self.__getattr__("upsert")(name, rows)

    monkeypatch.setattr(upload, "Calls", NeverDone)
    (corpus_dir / "cheese.txt").write_text("Cheddar is a hard cheese. It was first made in "
                                           "Somerset in the twelfth century.\n")
    with pytest.raises(BackendError, match="stopped before the last row"):
        load(corpus_dir, fake_embedder, tmp_path, **options)
    reply = serving.ask("Where was Cheddar first made?")
    assert all(h.chunk.doc_id != "cheese.txt" for h in reply.passages)
    assert all(a.doc_id != "cheese.txt" for a in reply.answers)
    assert "cheese.txt" not in serving.index.documents
