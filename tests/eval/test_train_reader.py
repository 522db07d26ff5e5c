"""eval.train_reader: folds by article, out-of-fold figures, a model file QA can load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from eval import train_reader
from eval.data import EvalQuestion
from index.config import IndexConfig
from qa import QA
from qa.read import CONFIDENCE_FEATURES, FEATURES, Logistic, ReaderModel, load_reader_model

TINY = Path(__file__).parent / "data" / "tiny-squad-v2.json"


@pytest.mark.parametrize("qid, source", [("3515bf7dff5db33d051bffd96", "squad2"),
                                         ("56beb4343aeaaa14008c925b", "xquad"),
                                         ("english-1234567890", "tydi"), ("q1", "other")])
def test_sources_are_told_by_their_ids(qid, source):
    assert train_reader.source_of(qid) == source


def _row(answerable: bool, conf: float, f1: float, source: str = "squad2") -> dict:
    item = train_reader.Item(EvalQuestion("q", "Q?", ("gold",) if answerable else ()), 0, source,
                             "Q?", [], np.zeros((0, len(FEATURES))), np.zeros(0, bool))
    return {"item": item, "x": np.zeros(len(CONFIDENCE_FEATURES)), "text": "x", "em": float(f1 == 1),
            "f1": f1, "sentence": True, "conf": conf}


def test_figures_score_abstentions_as_squad_v2_does():
    rows = [_row(True, 0.9, 1.0), _row(True, 0.2, 1.0), _row(False, 0.8, 0.0), _row(False, 0.1, 0.0)]
    f = train_reader.figures(rows, threshold=0.5)
    assert f["has_answer_f1"] == 0.5            # the second is abstained on: 0
    assert f["no_answer_accuracy"] == 0.5
    assert f["false_abstention_rate"] == 0.5
    assert f["f1"] == 0.5                       # (1 + 0 + 0 + 1) / 4
    assert f["always_abstain_f1"] == 0.5


def test_the_threshold_separates_right_from_wrong():
    rows = [_row(True, c, 1.0) for c in (0.6, 0.7, 0.9)] + [_row(False, c, 0.0) for c in (0.1, 0.3, 0.4)]
    t = train_reader.choose_threshold(rows)
    assert 0.4 < t <= 0.6
    assert train_reader.figures(rows, t)["f1"] == 1.0


def test_a_single_class_gives_the_base_rate():
    model = train_reader._fit_logistic(np.ones((4, 2)), np.array([False] * 4), ("a", "b"))
    assert model.predict(np.ones((1, 2)))[0] == pytest.approx(0.01)


@pytest.mark.slow
def test_training_writes_a_model_that_loads_with_its_provenance(tmp_path, capsys):
    out = tmp_path / "model.json"
    assert train_reader.main([str(TINY), "--out", str(out), "--folds", "2"]) == 0
    data = json.loads(out.read_text())
    model = ReaderModel.from_dict(data)
    assert 0.0 < model.threshold < 1.0
    assert data["about"]["data_sha256"] == hashlib.sha256(TINY.read_bytes()).hexdigest()
    assert data["about"]["folds"] == 2
    for key in ("has_answer_f1", "f1", "always_abstain_f1", "no_answer_accuracy", "ece"):
        assert key in data["validation"]["all"]
    assert load_reader_model(out) == model
    assert f"wrote {out}" in capsys.readouterr().out


def test_the_held_out_fold_is_written_as_a_squad_file(tmp_path, capsys):
    out = tmp_path / "fold0.json"
    assert train_reader.main([str(TINY), "--folds", "2", "--write-held-out", str(out)]) == 0
    written = json.loads(out.read_text())["data"]
    titles = {a["title"] for a in json.loads(TINY.read_text())["data"]}
    assert len(written) == 1 and written[0]["title"] in titles
    assert "fold 0 of 2, 1 articles" in capsys.readouterr().out


def test_shipped_model_round_trips_and_rejects_other_features():
    model = load_reader_model()
    assert ReaderModel.from_dict(model.to_dict()) == model
    bad = model.to_dict()
    bad["sentence"]["features"] = ["dense"] * len(FEATURES)
    with pytest.raises(ValueError, match="features"):
        ReaderModel.from_dict(bad)
    with pytest.raises(ValueError, match="weights"):
        Logistic(("a", "b"), (1.0,), 0.0)


def test_shipped_model_records_its_data_and_held_out_figures():
    from qa.read import MODEL_PATH

    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "qa-fit.json"
    assert data["about"]["trained_on"][0]["file"] == "qa-fit.json"
    if shared.is_file():   # the shared folder sits beside the clone, in CI too
        assert data["about"]["trained_on"][0]["sha256"] == hashlib.sha256(shared.read_bytes()).hexdigest()
    assert data["validation"]["all"]["questions"] > 6000


# --- collect() asks through the query pipeline (issue 12) -------------------------------------------

ARTICLES = {"Weather": {"weather.txt"}, "Trains": {"notes/trains.md"}, "Money": {"money.txt"}}
ASKED = [("Weather", "When was fog common in London?", ("the nineteenth century",)),
         ("Weather", "What  should you always carry?", ("an umbrella",)),
         ("Trains", "How much did the rail agency announce?", ("$13.9 billion",)),
         ("Trains", "When did the first public railway open?", ("1825",)),
         ("Money", "What do central banks raise?", ("interest rates",)),
         ("Money", "Who won the 1990 World Cup?", ())]


def _old_collect(bot: QA, questions: list[EvalQuestion], own) -> list[tuple]:
    """What collect() read before it used QA.ask_traced: its own encoding and
    retrieval (own article: a 100-passage ranking, that article's first top_k)."""
    from qa.api import clean_question
    from qa.features import question_words, word_vectors
    from qa.question import analyze_question
    from qa.read import sentence_candidates
    from qa.retrieve import retrieve

    out = []
    for q in questions:
        text = clean_question(q.question)
        vector = bot.encoder.embed_texts([text])[0]
        hits = retrieve(text, vector, bot.index, top_k=5) if own is None else \
            [h for h in retrieve(text, vector, bot.index, top_k=100) if h.chunk.doc_id in own[q.group]][:5]
        question = analyze_question(text)
        cands = sentence_candidates(question, vector, hits, bot.index)
        if cands:
            out.append((q.id, text, cands, word_vectors(question_words(question), bot.index.analysis,
                                                        bot.encoder.embed_texts)))
    return out


@pytest.mark.parametrize("own", [ARTICLES, None], ids=["own-article", "pooled"])
def test_collect_encodes_each_question_once_through_the_pipeline(tmp_path, corpus_dir, fake_embedder,
                                                                  monkeypatch, own):
    from collections import Counter

    import qa.api

    bot = QA.load([corpus_dir], index_dir=tmp_path / "idx", embedder=fake_embedder, encoder=fake_embedder,
                  config=IndexConfig(model_name=fake_embedder.name, chunk_size=200, chunk_overlap=40),
                  progress=False)
    questions = [EvalQuestion(f"q{i}", text, answers, group=title)
                 for i, (title, text, answers) in enumerate(ASKED)]
    encoded, retrievals, searches = Counter(), [], []
    embed, search, pipeline_retrieve = fake_embedder.embed_texts, bot.index.dense_ranking, qa.api.retrieve

    def counting_embed(texts):
        encoded.update(texts)
        return embed(texts)

    bot.encoder = type("Counting", (), {"name": fake_embedder.name,
                                        "embed_texts": staticmethod(counting_embed)})()
    monkeypatch.setattr(qa.api, "retrieve", lambda *a, **k: retrievals.append(a[0]) or pipeline_retrieve(*a, **k))
    monkeypatch.setattr(bot.index, "dense_ranking", lambda *a, **k: searches.append(1) or search(*a, **k))
    items = train_reader.collect(bot, questions, folds=3, own=own)
    assert len(items) >= 4
    texts = [" ".join(q.question.split()) for q in questions]
    assert all(encoded[t] == 1 for t in texts), encoded            # each question encoded once
    assert sorted(retrievals) == sorted(texts)                     # one retrieval each, in the pipeline,
    assert len(searches) == len(questions)                         # and no other search anywhere
    monkeypatch.undo()
    bot.encoder = fake_embedder
    # What was collected is what collect() read when it retrieved on its own.
    old = _old_collect(bot, questions, own)
    assert [(it.question.id, it.text) for it in items] == [(qid, text) for qid, text, _, _ in old]
    for it, (_, _, cands, words) in zip(items, old):
        assert it.candidates == cands
        np.testing.assert_array_equal(it.x, np.array([c.features for c in cands]))
        assert (it.word_vectors is None) == (words is None)
        if words is not None:
            np.testing.assert_array_equal(it.word_vectors, words)
        if own is not None:
            assert {c.sentence.doc_id for c in it.candidates} <= own[it.question.group]


@pytest.mark.slow
def test_a_refit_is_the_same_whatever_the_string_hash_seed(tmp_path):
    """Python orders a set of strings by a hash salted afresh in each process.
    Nothing the reader sums may follow that order, or each refit differs in
    its last bits (and then in its trees): two processes with different seeds
    must write the same model."""
    import os
    import subprocess
    import sys

    models = []
    for seed in ("1", "2"):
        out = tmp_path / f"model-{seed}.json"
        done = subprocess.run([sys.executable, "-m", "eval.train_reader", str(TINY), "--out", str(out),
                               "--folds", "2"], env={**os.environ, "PYTHONHASHSEED": seed},
                              cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        data = json.loads(out.read_text())
        del data["about"]["command"], data["about"]["date"]
        models.append(data)
    assert models[0] == models[1]
