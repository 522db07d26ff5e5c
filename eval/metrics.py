"""Answer and retrieval metrics, SQuAD v2 style. One place computes every figure
that the summary, the report and the tests show.

Scoring rules (as in the official SQuAD v2.0 script):

- answers are compared after ``normalize_answer``: lower case, punctuation and
  the articles a/an/the removed, white space collapsed;
- exact match and F1 take the maximum over the gold answers;
- an unanswerable question scores 1 when the system abstains, else 0;
- an answerable question scores 0 when the system abstains.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

from qa import InputError

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
RECALL_KS = (1, 3, 5, 10)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: punctuation is deleted (not replaced by a space), then
    articles, then runs of white space. ``normalize_answer("The U.S.-China war!") == "uschina war"``."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """1.0 when ``prediction`` equals a gold answer after normalisation."""
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(g) for g in golds))


def f1(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """Token-overlap F1 (the harmonic mean of precision and recall), maximum over golds.
    When either side has no tokens, F1 is 1 if both are empty, else 0."""
    return max((_f1(prediction, g) for g in golds), default=0.0)


def _f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def score(prediction: str | None, golds: tuple[str, ...]) -> tuple[float, float]:
    """``(exact_match, f1)`` of one reply; ``prediction`` None means it abstained."""
    if not golds:
        return (1.0, 1.0) if prediction is None else (0.0, 0.0)
    if prediction is None:
        return 0.0, 0.0
    return exact_match(prediction, golds), f1(prediction, golds)


def contains_answer(text: str, golds: tuple[str, ...]) -> bool:
    """Whether ``text`` contains a gold answer as whole normalised words.

    Non-ASCII punctuation (curly quotes, dashes, "…"), which SQuAD's ASCII-only
    normalisation keeps, is first turned into spaces on both sides, so that
    “turning the rivers” contains "turning the rivers"."""
    haystack = f" {normalize_answer(_space_unicode_punctuation(text))} "
    needles = (normalize_answer(_space_unicode_punctuation(g)) for g in golds)
    return any(f" {n} " in haystack for n in needles if n)


def _space_unicode_punctuation(text: str) -> str:
    return "".join(" " if ord(ch) > 127 and unicodedata.category(ch).startswith("P") else ch
                   for ch in text)


@dataclass(frozen=True)
class Outcome:
    """What the metrics need to know about one question."""
    answerable: bool
    abstained: bool
    em: float                 # of the reply as given (abstentions scored by the rules above)
    f1: float
    top_confidence: float | None   # the best candidate's, also when abstaining; None: no candidate
    top_em: float             # the best candidate's EM / F1 had it been given (0 if unanswerable)
    top_f1: float
    sentence_has_gold: bool   # the best candidate's sentence contains a gold answer
    gold_rank: int | None     # 1-based rank of the first retrieved passage holding a gold answer
    latency_ms: float


def threshold_sweep(outcomes: list[Outcome]) -> list[tuple[float, float, float, float]]:
    """For every distinct threshold: ``(threshold, coverage, answered_f1, overall_f1)``.

    A question is answered when its best candidate's confidence >= threshold.
    Thresholds sit halfway between neighbouring confidences (and just above
    the highest, where nothing is answered), so they do not ride on one
    question's score. Sorted by threshold, descending."""
    confs = sorted({o.top_confidence for o in outcomes if o.top_confidence is not None}, reverse=True)
    cuts = [min(1.0, (confs[0] + 1.0) / 2)] if confs else [1.0]
    cuts += [(a + b) / 2 for a, b in zip(confs, confs[1:])] + ([confs[-1] / 2] if confs else [])
    rows = []
    for t in cuts:
        answered = [o for o in outcomes if o.top_confidence is not None and o.top_confidence >= t]
        answered_f1 = float(np.mean([o.top_f1 for o in answered])) if answered else float("nan")
        overall = float(np.mean([_f1_at(o, t) for o in outcomes])) if outcomes else 0.0
        rows.append((t, len(answered) / len(outcomes) if outcomes else 0.0, answered_f1, overall))
    return rows


def _f1_at(o: Outcome, t: float) -> float:
    answered = o.top_confidence is not None and o.top_confidence >= t
    if not o.answerable:
        return 0.0 if answered else 1.0
    return o.top_f1 if answered else 0.0


def best_threshold(outcomes: list[Outcome]) -> tuple[float, float]:
    """``(threshold, f1)`` maximising overall F1 (SQuAD v2's best_f1); ties go
    to the higher threshold (fewer answers given for the same F1)."""
    sweep = threshold_sweep(outcomes)
    t, _, _, f = max(sweep, key=lambda row: (round(row[3], 12), row[0]))
    return t, f


CORRECT_F1 = 0.5  # an answer counts as right when its F1 with a gold answer is at least this


def expected_calibration_error(outcomes: list[Outcome], bins: int = 10) -> float:
    """ECE of the best candidate's confidence read as the probability that it is
    right (F1 >= ``CORRECT_F1``; an unanswerable question's candidate is always
    wrong): ``calibration_error`` over the questions that have a candidate."""
    pairs = [(o.top_confidence, float(o.answerable and o.top_f1 >= CORRECT_F1))
             for o in outcomes if o.top_confidence is not None]
    return calibration_error(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), bins)


def calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Sum over equal-width confidence bins of (share of items) x |share
    ``correct`` - mean ``conf``|; 0 for no items."""
    if not len(conf):
        return 0.0
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(total)


def compute_metrics(outcomes: list[Outcome], *, threshold: float) -> dict:
    """Every headline figure, from per-question outcomes."""
    if not outcomes:
        raise InputError("no questions to score")
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]

    def mean(values) -> float | None:
        values = list(values)
        return round(float(np.mean(values)), 4) if values else None

    latencies = np.array([o.latency_ms for o in outcomes])
    best_t, best_f = best_threshold(outcomes)
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "exact_match": mean(o.em for o in outcomes),
        "f1": mean(o.f1 for o in outcomes),
        "has_answer_exact_match": mean(o.em for o in answerable),
        "has_answer_f1": mean(o.f1 for o in answerable),
        "sentence_accuracy": mean(o.sentence_has_gold for o in answerable),
        "recall_at_k": {str(k): mean(o.gold_rank is not None and o.gold_rank <= k for o in answerable)
                        for k in RECALL_KS},
        "mrr": mean(1.0 / o.gold_rank if o.gold_rank else 0.0 for o in answerable),
        "no_answer_accuracy": mean(o.abstained for o in unanswerable),
        "false_abstention_rate": mean(o.abstained for o in answerable),
        "answered": mean(not o.abstained for o in outcomes),
        "latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 2),
                       "p95": round(float(np.percentile(latencies, 95)), 2),
                       "max": round(float(latencies.max()), 2)},
        "threshold": round(threshold, 4),
        "best_threshold": round(best_t, 4),
        "best_f1": round(best_f, 4),
        "ece": round(expected_calibration_error(outcomes), 4),
    }


def error_category(o: Outcome, top_k: int) -> str:
    """``correct``, ``retrieval_miss`` (no gold answer in the ``top_k`` passages
    read), ``false_abstention``, ``partial`` (right sentence, inexact span),
    ``reader_miss`` or ``answered_unanswerable``."""
    if not o.answerable:
        return "correct" if o.abstained else "answered_unanswerable"
    if o.gold_rank is None or o.gold_rank > top_k:
        return "retrieval_miss"
    if o.abstained:
        return "false_abstention"
    if o.em == 1.0:
        return "correct"
    return "partial" if o.sentence_has_gold else "reader_miss"
