"""eval.metrics against hand-computed cases: SQuAD normalisation, EM/F1 with the
unanswerable rules, whole-word containment, the threshold sweep, ECE, the
headline metrics and the error categories."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (CORRECT_F1, RECALL_KS, Outcome, best_threshold, compute_metrics, contains_answer,
                          error_category, exact_match, expected_calibration_error, f1,
                          normalize_answer, score, threshold_sweep)


def outcome(*, answerable=True, abstained=False, em=0.0, f1=0.0, conf=0.5, top_em=None,
            top_f1=None, sentence=False, rank=None, latency=1.0) -> Outcome:
    return Outcome(answerable=answerable, abstained=abstained, em=em, f1=f1,
                   top_confidence=conf, top_em=em if top_em is None else top_em,
                   top_f1=f1 if top_f1 is None else top_f1, sentence_has_gold=sentence,
                   gold_rank=rank, latency_ms=latency)


# --- normalize_answer -------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The Cat", "cat"),
    ("  A   quick\tbrown\n fox  ", "quick brown fox"),
    ("The U.S.-China war!", "uschina war"),          # punctuation deleted, not spaced
    ("Don't stop.", "dont stop"),
    ("$5,000", "5000"),
    ("in 1871.", "in 1871"),
    ("theatre", "theatre"),                          # articles only as whole words
    ("The theatre", "theatre"),
    ("Anthem of a nation", "anthem of nation"),
    ("an apple a day", "apple day"),
    ("Thea and Ann", "thea and ann"),
    ("The-End", "theend"),                           # the hyphen goes first, so no article is left
    ("a, an, the.", ""),
    ("the", ""),
    ("", ""),
    ("A.", ""),
    ("snake_case", "snakecase"),                     # "_" is ASCII punctuation
    ("£1.2 Million", "£12 million"),                 # non-ASCII symbols are kept
    ("“Quoted”", "“quoted”"),                        # SQuAD's normalisation is ASCII-only
    ("ÉCOLE", "école"),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_normalize_answer_is_idempotent():
    for text in ("The U.S.-China war!", "  A  b  ", "an apple a day", "“Quoted”"):
        once = normalize_answer(text)
        assert normalize_answer(once) == once


# --- exact_match and f1 -----------------------------------------------------

def test_exact_match_takes_the_best_gold():
    assert exact_match("the Eiffel Tower", ["Paris", "Eiffel tower!"]) == 1.0
    assert exact_match("Eiffel", ["Paris", "Eiffel tower"]) == 0.0
    assert exact_match("Paris", []) == 0.0
    assert exact_match("the", ["a"]) == 1.0          # both normalise to ""


@pytest.mark.parametrize("prediction, golds, expected", [
    ("the quick brown fox", ["quick brown dog"], 2 / 3),       # P = R = 2/3
    ("brown fox jumps over lazy dog", ["quick brown fox"], 4 / 9),  # P 2/6, R 2/3
    ("brown fox", ["red fox", "brown fox jumps"], 0.8),       # max(0.5, 0.8)
    ("brown fox", ["brown fox jumps", "red fox"], 0.8),       # order does not matter
    ("the the cat cat", ["cat"], 2 / 3),                      # P 1/2, R 1 (counts clipped)
    ("cat", ["cat cat"], 2 / 3),                              # P 1, R 1/2
    ("Paris, France.", ["paris france"], 1.0),
    ("London", ["Paris"], 0.0),
    ("the", ["a"], 1.0),                                      # both empty: 1
    ("the", ["cat"], 0.0),                                    # one empty: 0
    ("cat", ["!!"], 0.0),
    ("anything", [], 0.0),                                    # no golds
])
def test_f1_by_hand(prediction, golds, expected):
    assert f1(prediction, golds) == pytest.approx(expected)


def test_f1_is_one_exactly_when_exact_match_for_non_empty_answers():
    for p, g in [("The Cat!", "cat"), ("in 1871", "1871"), ("a b", "b a")]:
        assert (f1(p, [g]) == 1.0) == (sorted(normalize_answer(p).split())
                                       == sorted(normalize_answer(g).split()))
        if exact_match(p, [g]):
            assert f1(p, [g]) == 1.0


# --- score: the unanswerable rules -------------------------------------------

@pytest.mark.parametrize("prediction, golds, expected", [
    (None, (), (1.0, 1.0)),                     # abstained on unanswerable
    ("Pellmoor", (), (0.0, 0.0)),               # answered an unanswerable question
    ("", (), (0.0, 0.0)),                       # an empty answer is still an answer
    (None, ("Paris",), (0.0, 0.0)),             # abstained on answerable
    ("paris.", ("Paris",), (1.0, 1.0)),
    ("in Paris France", ("Paris", "Lyon"), (0.0, 0.5)),   # P 1/3, R 1
])
def test_score_rules(prediction, golds, expected):
    em, f = score(prediction, golds)
    assert (em, f) == pytest.approx(expected)


# --- contains_answer ----------------------------------------------------------

@pytest.mark.parametrize("text, golds, expected", [
    ("The fund holds 40 billion dollars.", ("40 billion",), True),
    ("It opened in 18710 AD.", ("1871",), False),             # whole words only
    ("It opened in 1871.", ("1871",), True),
    ("The Pellmoorish coast.", ("Pellmoor",), False),
    ("held in KESSLING each year", ("kessling",), True),
    ("a theatre", ("atre",), False),
    ("It cost $5,000 in cash.", ("$5,000",), True),
    ("It cost $5,000 in cash.", ("5,000 dollars", "in cash"), True),   # any gold
    ("the cat", ("the",), False),                             # a gold normalising to "" never matches
    ("He spoke of “turning the rivers” that year.", ("turning the rivers",), True),
    ("turning the rivers", ("“turning the rivers”",), True),  # curly quotes on the gold side
    ("rafts—timber and rope", ("timber",), True),             # em dash is a separator
    ("‘Never’ he said…", ("never",), True),
    ("Nothing here.", (), False),
])
def test_contains_answer(text, golds, expected):
    assert contains_answer(text, golds) is expected


# --- threshold_sweep and best_threshold ----------------------------------------

def _four():
    return [
        outcome(conf=0.9, top_f1=1.0),                          # A
        outcome(conf=0.6, top_f1=0.5),                          # B
        outcome(answerable=False, conf=0.4, top_f1=0.0),        # C
        outcome(conf=0.2, top_f1=0.0),                          # D
    ]


def test_threshold_sweep_by_hand():
    rows = threshold_sweep(_four())
    # Cuts: above the highest ((0.9 + 1) / 2), halfway between neighbours, half the lowest.
    expected = [
        (0.95, 0.00, math.nan, 1 / 4),     # nothing answered: only C scores
        (0.75, 0.25, 1.0, 2 / 4),          # A
        (0.50, 0.50, 0.75, 2.5 / 4),       # A, B
        (0.30, 0.75, 1.5 / 3, 1.5 / 4),    # A, B, C (C answered: 0)
        (0.10, 1.00, 1.5 / 4, 1.5 / 4),    # everything
    ]
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert got[0] == pytest.approx(want[0])
        assert got[1] == pytest.approx(want[1])
        if math.isnan(want[2]):
            assert math.isnan(got[2])
        else:
            assert got[2] == pytest.approx(want[2])
        assert got[3] == pytest.approx(want[3])
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)


def test_best_threshold_by_hand():
    t, f = best_threshold(_four())
    assert t == pytest.approx(0.5) and f == pytest.approx(0.625)


def test_best_threshold_ties_go_to_the_higher_threshold():
    outcomes = [outcome(conf=0.8, top_f1=1.0),
                outcome(answerable=False, conf=0.6),
                outcome(conf=0.4, top_f1=1.0)]
    # cuts 0.9, 0.7, 0.5, 0.2 give overall F1 1/3, 2/3, 1/3, 2/3
    assert [r[3] for r in threshold_sweep(outcomes)] == pytest.approx([1 / 3, 2 / 3, 1 / 3, 2 / 3])
    t, f = best_threshold(outcomes)
    assert t == pytest.approx(0.7) and f == pytest.approx(2 / 3)


def test_sweep_threshold_never_sits_on_a_confidence():
    outcomes = _four() + [outcome(conf=0.6, top_f1=1.0)]   # a repeated confidence
    confs = {o.top_confidence for o in outcomes}
    rows = threshold_sweep(outcomes)
    assert len(rows) == len(confs) + 1
    assert not confs & {r[0] for r in rows}


def test_sweep_without_candidates_answers_nothing():
    outcomes = [outcome(answerable=False, conf=None), outcome(conf=None)]
    rows = threshold_sweep(outcomes)
    assert len(rows) == 1
    t, coverage, answered_f1, overall = rows[0]
    assert (t, coverage, overall) == (1.0, 0.0, 0.5) and math.isnan(answered_f1)
    assert best_threshold(outcomes) == (1.0, 0.5)


def test_a_question_without_candidate_is_never_answered():
    outcomes = [outcome(conf=None, top_f1=0.0), outcome(conf=0.7, top_f1=1.0)]
    rows = threshold_sweep(outcomes)
    assert [r[1] for r in rows] == [0.0, 0.5]        # cuts 0.85 and 0.35
    assert best_threshold(outcomes) == (pytest.approx(0.35), pytest.approx(0.5))


# --- expected_calibration_error ---------------------------------------------------

def test_ece_by_hand():
    # a candidate counts as right when it is answerable and its F1 >= CORRECT_F1
    assert CORRECT_F1 == 0.5
    outcomes = [
        outcome(conf=0.95, top_f1=1.0),                       # bin 9, right
        outcome(conf=0.91, top_f1=0.4, top_em=0.0),           # bin 9, wrong (F1 below 0.5)
        outcome(answerable=False, conf=0.35, top_f1=1.0),     # bin 3; unanswerable: always wrong
        outcome(conf=0.32, top_f1=0.5, top_em=0.0),           # bin 3, right (F1 == 0.5)
        outcome(conf=None, top_f1=1.0),                       # no candidate: left out
    ]
    # bin 9: 2/4 * |0.5 - 0.93| = 0.215; bin 3: 2/4 * |0.5 - 0.335| = 0.0825
    assert expected_calibration_error(outcomes) == pytest.approx(0.2975)


def test_ece_edges():
    assert expected_calibration_error([]) == 0.0
    assert expected_calibration_error([outcome(conf=None)]) == 0.0
    assert expected_calibration_error([outcome(conf=1.0, top_f1=1.0)]) == pytest.approx(0.0)  # top bin
    assert expected_calibration_error([outcome(conf=0.0, top_f1=0.0)]) == pytest.approx(0.0)
    # two bins only: [0, 0.5) and [0.5, 1]
    two = [outcome(conf=0.2, top_f1=0.0), outcome(conf=0.8, top_f1=1.0)]
    assert expected_calibration_error(two, bins=2) == pytest.approx(0.5 * 0.2 + 0.5 * 0.2)


# --- compute_metrics -------------------------------------------------------------

def _six():
    """Four answerable and two unanswerable questions at threshold 0.5."""
    return [
        outcome(em=1.0, f1=1.0, conf=0.9, sentence=True, rank=1, latency=10),
        outcome(em=0.0, f1=0.5, conf=0.7, sentence=True, rank=2, latency=20),
        outcome(abstained=True, em=0.0, f1=0.0, conf=0.3, top_em=1.0, top_f1=1.0,
                sentence=True, rank=4, latency=30),
        outcome(em=0.0, f1=0.0, conf=0.6, sentence=False, rank=None, latency=40),
        outcome(answerable=False, abstained=True, em=1.0, f1=1.0, conf=0.2, top_em=0.0,
                top_f1=0.0, latency=50),
        outcome(answerable=False, em=0.0, f1=0.0, conf=0.8, latency=100),
    ]


def test_compute_metrics_by_hand():
    m = compute_metrics(_six(), threshold=0.5)
    assert {"questions", "answerable", "unanswerable", "exact_match", "f1",
            "has_answer_exact_match", "has_answer_f1", "sentence_accuracy", "recall_at_k", "mrr",
            "no_answer_accuracy", "false_abstention_rate", "latency_ms", "threshold",
            "best_threshold", "best_f1"} <= set(m)
    assert (m["questions"], m["answerable"], m["unanswerable"]) == (6, 4, 2)
    assert m["exact_match"] == round(2 / 6, 4)
    assert m["f1"] == round(2.5 / 6, 4)
    assert m["has_answer_exact_match"] == 0.25
    assert m["has_answer_f1"] == 0.375
    assert m["sentence_accuracy"] == 0.75
    assert m["recall_at_k"] == {"1": 0.25, "3": 0.5, "5": 0.75, "10": 0.75}
    assert set(m["recall_at_k"]) == {str(k) for k in RECALL_KS}
    assert m["mrr"] == round((1 + 1 / 2 + 1 / 4 + 0) / 4, 4)
    assert m["no_answer_accuracy"] == 0.5
    assert m["false_abstention_rate"] == 0.25
    assert m["answered"] == round(4 / 6, 4)
    # numpy's linear percentiles of [10, 20, 30, 40, 50, 100]
    assert m["latency_ms"] == {"p50": 35.0, "p95": 87.5, "max": 100.0}
    assert m["threshold"] == 0.5
    # cuts .95 .85 .75 .65 .45 .25 .1 -> overall F1 x 6: 2, 3, 2, 2.5, 2.5, 3.5, 2.5
    assert m["best_threshold"] == 0.25
    assert m["best_f1"] == round(3.5 / 6, 4)
    # one question per bin, right = answerable with candidate F1 >= 0.5:
    # |1-.9| + |1-.7| + |1-.3| + |0-.6| + |0-.2| + |0-.8| = 2.7
    assert m["ece"] == round(2.7 / 6, 4)


def test_compute_metrics_without_one_kind_of_question():
    only_answerable = [outcome(em=1.0, f1=1.0, conf=0.9, rank=1)]
    m = compute_metrics(only_answerable, threshold=0.3)
    assert m["unanswerable"] == 0 and m["no_answer_accuracy"] is None
    assert m["exact_match"] == 1.0 and m["mrr"] == 1.0
    only_unanswerable = [outcome(answerable=False, abstained=True, em=1.0, f1=1.0, conf=0.1)]
    m = compute_metrics(only_unanswerable, threshold=0.3)
    assert m["answerable"] == 0
    assert m["has_answer_f1"] is None and m["sentence_accuracy"] is None and m["mrr"] is None
    assert m["recall_at_k"] == {"1": None, "3": None, "5": None, "10": None}
    assert m["no_answer_accuracy"] == 1.0 and m["f1"] == 1.0
    with pytest.raises(ValueError):
        compute_metrics([], threshold=0.5)


def test_compute_metrics_uses_the_sweep():
    m = compute_metrics(_four(), threshold=0.5)
    t, f = best_threshold(_four())
    assert (m["best_threshold"], m["best_f1"]) == (round(t, 4), round(f, 4))


# --- error_category ------------------------------------------------------------

@pytest.mark.parametrize("o, top_k, expected", [
    (outcome(answerable=False, abstained=True, em=1.0), 5, "correct"),
    (outcome(answerable=False, abstained=False), 5, "answered_unanswerable"),
    (outcome(em=1.0, f1=1.0, rank=1, sentence=True), 5, "correct"),
    (outcome(em=1.0, f1=1.0, rank=5, sentence=True), 5, "correct"),
    (outcome(rank=None, sentence=False), 5, "retrieval_miss"),
    (outcome(rank=6, sentence=True, em=1.0), 5, "retrieval_miss"),    # beyond the passages read
    (outcome(rank=None, abstained=True), 5, "retrieval_miss"),       # retrieval is blamed first
    (outcome(rank=2, abstained=True, top_em=1.0), 5, "false_abstention"),
    (outcome(rank=1, em=0.0, f1=0.5, sentence=True), 5, "partial"),
    (outcome(rank=1, em=0.0, f1=0.0, sentence=False), 5, "reader_miss"),
    (outcome(rank=3, em=0.0, f1=0.0, sentence=True), 3, "partial"),
])
def test_error_category(o, top_k, expected):
    assert error_category(o, top_k) == expected
