"""QA.open: a finished index answers and cites on its own, from the API, the
CLI and the web UI, with its source files gone, and is left byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.errors import IndexMismatchError, IndexNotFoundError
from qa import QA, USER_ERRORS

ROOT = Path(__file__).resolve().parents[2]
HARBOUR = ("# Harbour notes\n\nThe lighthouse at Port Elwyn was built in 1871 by the engineer "
           "Agnes Thorley. Its lamp was converted to electricity in 1936.\n")
BAKERY = ("# Bakery minutes\n\nThe committee agreed to raise the price of a rye loaf to 4.20 euros "
          "from March. Tomasz Brandt will order the new oven.\n")
QUESTION = "Who built the lighthouse at Port Elwyn?"


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def orphan_index(tmp_path, real_embedder) -> Path:
    """An index of two small documents whose files are then deleted."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.md").write_text(HARBOUR, encoding="utf-8")
    (docs / "bakery.md").write_text(BAKERY, encoding="utf-8")
    folder = tmp_path / "index"
    QA.load([docs], index_dir=folder, embedder=real_embedder, progress=False)
    for f in docs.iterdir():
        f.unlink()
    docs.rmdir()
    return folder


def check_cited(answer: dict, documents: dict[str, str]) -> None:
    assert answer["doc_id"] == "harbour.md"
    assert documents[answer["doc_id"]][answer["start"]:answer["end"]] == answer["text"]
    assert "Agnes Thorley" in answer["text"]


@pytest.mark.slow
def test_an_index_answers_and_cites_with_its_documents_gone(orphan_index, real_embedder):
    before = snapshot(orphan_index)
    texts = {"harbour.md": HARBOUR, "bakery.md": BAKERY}

    bot = QA.open(orphan_index, embedder=real_embedder)
    reply = bot.ask(QUESTION)
    check_cited(reply.to_dict()["answer"], texts)
    assert sorted(bot.index.documents) == ["bakery.md", "harbour.md"]

    cli = subprocess.run([sys.executable, "-m", "qa", "ask", QUESTION, "--index-dir", str(orphan_index),
                          "--json", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert cli.returncode == 0, cli.stderr
    check_cited(json.loads(cli.stdout)["answer"], texts)

    questions = orphan_index.parent / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": QUESTION,
                                     "answers": ["the engineer Agnes Thorley"]}) + "\n", encoding="utf-8")
    ev = subprocess.run([sys.executable, "-m", "eval", str(questions), "--index-dir", str(orphan_index),
                         "--out", str(orphan_index.parent / "eval-out"), "-q"],
                        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads((orphan_index.parent / "eval-out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["questions"] == 1 and metrics["sentence_accuracy"] == 1.0

    info = subprocess.run([sys.executable, "-m", "qa", "info", "--index-dir", str(orphan_index)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert info.returncode == 0, info.stderr
    assert "2 document(s)" in info.stdout and "harbour.md: 'Harbour notes'" in info.stdout
    assert "sentence-transformers/all-MiniLM-L6-v2" in info.stdout and "MB on disk" in info.stdout

    import socket

    from gradio_client import Client

    with socket.socket() as sock:   # a free loopback port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ui = subprocess.Popen([sys.executable, "-m", "ui", "--index-dir", str(orphan_index), "--port",
                           str(port), "-q"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        deadline, line = time.monotonic() + 120, ""
        while time.monotonic() < deadline and ui.poll() is None and "ready at" not in line:
            line = ui.stdout.readline()
        assert "ready at" in line and "(bakery.md, harbour.md, 2 passages)" in line, line
        check_cited(Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            QUESTION, api_name="/ask")["answer"], texts)
    finally:
        ui.send_signal(signal.SIGINT)
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            ui.kill()
            ui.wait()
    assert snapshot(orphan_index) == before   # nothing was written to the folder


def test_no_index_is_one_line_saying_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFoundError) as info:
        QA.open(tmp_path / "nothing")
    assert isinstance(info.value, USER_ERRORS)
    assert str(info.value) == (f"no index at {str(tmp_path / 'nothing')!r}: build one with "
                               f"python -m qa index PATH ... --index-dir {str(tmp_path / 'nothing')!r}")
    with pytest.raises(ValueError, match="index_dir must be a folder path, got 3"):
        QA.open(3)


def test_another_model_is_refused(tmp_path, corpus_dir, fake_embedder, real_embedder):
    folder = tmp_path / "idx"
    QA.load([corpus_dir], index_dir=folder, embedder=fake_embedder, encoder=fake_embedder,
            config=__import__("index.config", fromlist=["IndexConfig"]).IndexConfig(
                model_name=fake_embedder.name), progress=False)
    with pytest.raises(ValueError, match="unknown embedding model 'fake-32'"):
        QA.open(folder)   # the manifest's model is not one this install has
    with pytest.raises(IndexMismatchError, match="index was built with 'fake-32'"):
        QA.open(folder, embedder=real_embedder, encoder=real_embedder)
    bot = QA.open(folder, embedder=fake_embedder, encoder=fake_embedder)
    assert bot.ask("When is fog common in London?").passages   # opened as it is


def test_an_index_of_an_older_docqa_says_to_rebuild(tmp_path, corpus_dir, fake_embedder):
    folder = tmp_path / "idx"
    QA.load([corpus_dir], index_dir=folder, embedder=fake_embedder, encoder=fake_embedder,
            config=__import__("index.config", fromlist=["IndexConfig"]).IndexConfig(
                model_name=fake_embedder.name), progress=False)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["analysis"] = 3
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=r"built by an older docqa \(analysis version 3, "
                                                 r"this one reads \d+\): rebuild it with python -m qa index"):
        QA.open(folder, embedder=fake_embedder, encoder=fake_embedder)
