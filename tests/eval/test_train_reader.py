"""Fitting the reader's models on synthetic rows where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from eval.data import EvalQuestion
from eval.train_reader import QuestionRows, fit_reader
from qa.read import CONFIDENCE_FEATURES, FEATURES, Logistic, ReaderModel, load_reader_model


def synthetic_rows(n: int = 120, seed: int = 1) -> list[QuestionRows]:
    """Answerable questions: one candidate has a higher 'lexical' feature and holds
    the gold answer; unanswerable ones: every candidate looks alike."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        x = rng.normal(0.3, 0.1, size=(6, len(FEATURES)))
        answerable = i % 3 != 0
        holds = np.zeros(6, dtype=bool)
        if answerable:
            k = int(rng.integers(6))
            x[k, FEATURES.index("lexical")] += 1.0
            x[k, FEATURES.index("dense")] += 0.5
            holds[k] = True
        q = EvalQuestion(f"q{i}", "Question?", ("gold",) if answerable else (), group=f"g{i % 2}")
        rows.append(QuestionRows(q, x, holds, holds.copy()))
    return rows


def top1(model: Logistic, rows) -> float:
    return float(np.mean([r.holds_gold[int(np.argmax(model.predict(r.x)))]
                          for r in rows if r.question.answers]))


def test_fitted_sentence_model_finds_the_planted_answer():
    train, test = synthetic_rows(seed=1), synthetic_rows(seed=2)
    model = fit_reader(train, prior=load_reader_model(), fit_sentence=True)
    assert top1(model.sentence, test) >= 0.95
    assert model.sentence.coef[FEATURES.index("lexical")] > 0


def test_confidence_is_higher_for_answerable_questions():
    rows = synthetic_rows()
    model = fit_reader(rows, prior=load_reader_model(), fit_sentence=True)
    from qa.read import confidence_features

    def top_confidence(r):
        p = model.sentence.predict(r.x)
        return float(model.confidence.predict(confidence_features(p, r.x))[int(np.argmax(p))])

    answerable = np.mean([top_confidence(r) for r in rows if r.question.answers])
    unanswerable = np.mean([top_confidence(r) for r in rows if not r.question.answers])
    assert answerable > unanswerable + 0.3


def test_without_fit_sentence_the_prior_sentence_model_is_kept():
    prior = load_reader_model()
    model = fit_reader(synthetic_rows(), prior=prior)
    assert model.sentence == prior.sentence
    assert model.confidence.features == CONFIDENCE_FEATURES


def test_shipped_model_round_trips_and_rejects_other_features():
    model = load_reader_model()
    assert ReaderModel.from_dict(model.to_dict()) == model
    bad = model.to_dict()
    bad["sentence"]["features"] = ["dense"] * len(FEATURES)
    with pytest.raises(ValueError, match="features"):
        ReaderModel.from_dict(bad)
    with pytest.raises(ValueError, match="weights"):
        Logistic(("a", "b"), (1.0,), 0.0)
