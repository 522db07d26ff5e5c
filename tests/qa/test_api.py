"""The Python API end to end with the real model on the bundled article."""

from __future__ import annotations

import json
import re
import socket
import string
import subprocess
import sys
from collections import Counter

import pytest

from qa.api import BUNDLED
from qa import QA, QuestionError
from qa.config import MAX_QUESTION_CHARS

pytestmark = pytest.mark.slow


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation or articles."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def test_answers_a_money_question_with_a_citation(bundled_bot):
    reply = bundled_bot.ask("How much capital does the Asian Infrastructure Investment Bank have?")
    a = reply.answer
    assert a is not None and a.text == "100 billion US dollars"
    doc = bundled_bot.index.documents[a.doc_id]
    assert doc.text[a.start:a.end] == a.text
    assert doc.text[a.sentence_start:a.sentence_end] == a.sentence
    assert a.sentence_start <= a.start < a.end <= a.sentence_end
    assert 0.0 <= a.confidence <= 1.0 and a.confidence >= bundled_bot.threshold


def test_abstains_when_the_document_does_not_say(bundled_bot):
    reply = bundled_bot.ask("What is the population of Kazakhstan?")
    assert reply.answer is None and reply.abstained
    assert reply.passages, "the closest passages are returned also when abstaining"


def test_citation_invariant_on_every_dev_answer(bundled_bot, dev_questions):
    checked = 0
    for row in dev_questions:
        reply = bundled_bot.ask(row["question"], top_k=8)
        for a in reply.answers:
            doc = bundled_bot.index.documents[a.doc_id]
            assert doc.text[a.start:a.end] == a.text, row["id"]
            assert doc.text[a.sentence_start:a.sentence_end] == a.sentence, row["id"]
            assert a.hit.chunk.start < a.sentence_end and a.sentence_start < a.hit.chunk.end
            checked += 1
        confidences = [a.confidence for a in reply.answers]
        assert confidences == sorted(confidences, reverse=True)
        spans = [(a.doc_id, a.start, a.end) for a in reply.answers]
        assert all(not (x[0] == y[0] and x[1] < y[2] and y[1] < x[2])
                   for i, x in enumerate(spans) for y in spans[i + 1:]), "overlapping answers"
    assert checked >= len(dev_questions)


def test_dev_set_accuracy_floor(bundled_bot, dev_questions):
    """Floors on the 40 dev questions, which nothing was fitted on. Measured when
    the reader was shipped (``python -m eval``): sentence accuracy 0.882,
    has-answer EM 0.441 and F1 0.533, 5 of 6 unanswerable questions abstained on."""
    from eval.data import EvalQuestion
    from eval.run import evaluate

    questions = [EvalQuestion(r["id"], r["question"], tuple(r["answers"])) for r in dev_questions]
    m = evaluate(bundled_bot, questions).metrics
    assert m["sentence_accuracy"] >= 0.82, m
    assert m["has_answer_exact_match"] >= 0.40, m
    assert m["has_answer_f1"] >= 0.49, m
    assert m["no_answer_accuracy"] >= 4 / 6, m


def test_to_dict_is_the_documented_json(bundled_bot):
    d = json.loads(json.dumps(bundled_bot.ask("Who is the new president of Kazakhstan?").to_dict()))
    assert set(d) == {"question", "query", "answer", "answers", "passages"}
    assert d["query"] == d["question"], "a question without history is searched as asked"
    assert {"text", "sentence", "doc_id", "title", "start", "end", "confidence"} <= set(d["answer"])
    assert d["answers"][0] == d["answer"]
    for p in d["passages"]:
        assert {"doc_id", "chunk_id", "start", "end", "score", "text"} <= set(p)
    abstain = bundled_bot.ask("What is the population of Kazakhstan?").to_dict()
    assert abstain["answer"] is None and abstain["passages"]


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * (MAX_QUESTION_CHARS + 1), "\x00\x01"])
def test_bad_questions_raise_a_clear_error(bundled_bot, question):
    with pytest.raises(QuestionError, match="question is"):
        bundled_bot.ask(question)


def test_control_characters_are_cleaned(bundled_bot):
    reply = bundled_bot.ask("Who is the new\x00 president\r\nof Kazakhstan?\x07")
    assert reply.question == "Who is the new president of Kazakhstan?"


def test_top_k_larger_than_the_index(bundled_bot):
    n = len(bundled_bot.index.chunks)
    reply = bundled_bot.ask("Who is the new president of Kazakhstan?", top_k=n + 50)
    ids = [h.chunk.chunk_id for h in reply.passages]
    assert sorted(ids) == list(range(n))
    with pytest.raises(ValueError, match="top_k"):
        bundled_bot.ask("Who?", top_k=0)


def test_batch_equals_single(bundled_bot, dev_questions):
    questions = [r["question"] for r in dev_questions[:6]]
    batch = bundled_bot.ask_batch(questions)
    for q, b in zip(questions, batch):
        single = bundled_bot.ask(q)
        assert [(a.start, a.end) for a in single.answers] == [(a.start, a.end) for a in b.answers]
        assert [a.confidence for a in single.answers] == pytest.approx([a.confidence for a in b.answers], abs=1e-4)


def test_second_load_reuses_the_index(tmp_path, caplog):
    caplog.set_level("INFO", logger="index")
    QA.load(index_dir=tmp_path / "idx", progress=False)
    caplog.clear()
    bot = QA.load(index_dir=tmp_path / "idx", progress=False)
    assert any("cached" in r.getMessage() for r in caplog.records)
    assert bot.embedder._model is None, "a cached index loads without the model until a question"


def test_no_network_anywhere(tmp_path, monkeypatch):
    """Build, load the model and answer with every socket connection refused."""
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    bot = QA.load(index_dir=tmp_path / "idx", progress=False)
    assert bot.ask("In what year was the Silk Road Economic Belt proclaimed in Kazakhstan?").answer


def test_no_network_in_a_fresh_process(tmp_path):
    """The same in a new interpreter, so imports and model loading are covered too."""
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse; socket.socket.connect_ex = refuse\n"
        "socket.create_connection = refuse\n"
        "from qa.cli import main\n"
        f"sys.exit(main(['ask', 'How much capital does the Asian Infrastructure Investment Bank have?', '--docs', {str(BUNDLED)!r}, '--index-dir', {str(tmp_path / 'i')!r}, '--json', '-q']))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HF_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["answer"]["text"] == "100 billion US dollars"


LIGHTHOUSE = ("# Harbour notes\n\nThe Greyhaven lighthouse was built in 1893 by the engineer Tomas Reyes.\n\n"
              "Its lamp was electrified in 1931 at a cost of £4,200.\n")


@pytest.mark.parametrize("question, answer", [
    ("Who built the lighthouse?", "Tomas Reyes"),
    ("When was the lamp electrified?", "1931"),
    ("How much did electrifying the lamp cost?", "£4,200"),
    ("In what year was the Greyhaven lighthouse built?", "1893"),
])
def test_a_small_document_of_our_own(tmp_path, question, answer):
    doc = tmp_path / "notes.md"
    doc.write_text(LIGHTHOUSE, encoding="utf-8")
    bot = QA.load([doc], index_dir=tmp_path / "idx", progress=False)
    reply = bot.ask(question)
    assert reply.answer is not None and reply.answer.text == answer
    assert reply.answer.title == "Harbour notes"


def test_load_can_share_an_embedder(tmp_path, bundled_bot):
    doc = tmp_path / "notes.md"
    doc.write_text(LIGHTHOUSE, encoding="utf-8")
    bot = QA.load([doc], index_dir=tmp_path / "idx", progress=False, embedder=bundled_bot.embedder)
    assert bot.embedder is bundled_bot.embedder
    assert bot.ask("Who built the lighthouse?").answer.text == "Tomas Reyes"


def test_load_refuses_an_embedder_of_another_model(tmp_path, fake_embedder):
    with pytest.raises(ValueError, match="fake-32"):
        QA.load(index_dir=tmp_path / "idx", progress=False, embedder=fake_embedder)
