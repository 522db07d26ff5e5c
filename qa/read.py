"""The extractive reader: from retrieved passages to scored, cited answers.

For each sentence of the retrieved passages it computes four features,

- ``dense``: cosine similarity of the question and the sentence (MiniLM vectors
  pre-computed at index time);
- ``lexical``: the IDF-weighted share of the question's terms that the
  sentence contains (IDF over the index's sentences);
- ``rank``: ``1 / (1 + r)`` for the best passage rank r (from 0) it appears in;
- ``span``: for a question that asks for a fact (an amount, a date, a name...),
  the score of the best candidate span of that kind in the sentence, in [0, 1]:
  kind agreement x distance to the question's words in the sentence x a
  penalty for repeating the question's own words; 0 when the sentence holds
  no candidate of the asked kind;

and turns them into a confidence with a logistic function,
``confidence = 1 / (1 + exp(-(w . features + bias)))``, whose weights are in
``WEIGHTS``. The answer text is the best span (typed questions) or the best
clause of the sentence (other questions), always cut from the document by
offsets, so ``doc.text[a.start:a.end] == a.text``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from index.lexical import stem, token_spans, tokenize
from index.store import Index
from index.types import Hit, Sentence
from qa.question import NAME_KINDS, Question
from qa.spans import Span, find_spans
from qa.types import Answer


@dataclass(frozen=True)
class Weights:
    bias: float
    dense: float
    lexical: float
    rank: float
    span: float


# Typed questions weigh the presence of a span of the asked kind; untyped ones
# (description, reason, yes/no) have no span feature.
WEIGHTS = {
    "typed": Weights(bias=-6.0, dense=5.0, lexical=3.0, rank=0.5, span=3.5),
    "untyped": Weights(bias=-5.0, dense=6.0, lexical=3.0, rank=0.5, span=0.0),
}

# How well a span kind answers a question kind (missing pairs: 0).
_KIND_FIT = {
    "money": {"money": 1.0, "number": 0.3, "percent": 0.2},
    "number": {"number": 1.0, "money": 0.5, "percent": 0.5},
    "percent": {"percent": 1.0, "number": 0.3},
    "date": {"date": 1.0},
    **{k: {"name": 1.0} for k in NAME_KINDS},
}
_ORG_WORDS = re.compile(
    r"\b(?:Bank|Fund|Foundation|Cent(?:er|re)|Institute|University|College|Company|Corporation"
    r"|Corp|Organi[sz]ation|Ministry|Council|Party|Group|Agency|Committee|Association|Invest"
    r"|Inc|Ltd|Society|Union|Commission|Board|Office|Service|Times|News|Army|Church|Club"
    r"|League|Federation|Authority|Department|Academy|Press|Network|Broadcasting)\b")
_ACRONYM = re.compile(r"^[A-Z]{2,6}$")
# Span-level clauses also break at conjunctions that join clauses or list items.
_SPAN_CLAUSE_BREAK = re.compile(r"[,;:]\s+|\s+[–—-]\s+|\s*[()]\s*|\s+(?:and|but|while|whereas|which)\s+")
_CLAUSE_BREAK = re.compile(r"[,;:]\s+|\s+[–—-]\s+|\s*[()]\s*")


@dataclass(frozen=True)
class _Candidate:
    sentence: Sentence
    hit: Hit
    rank: int
    span: tuple[int, int] | None   # [start, end) in the document
    features: tuple[float, float, float, float]
    confidence: float


def read_answers(question: Question, query_vector: np.ndarray, hits: list[Hit],
                 index: Index, *, max_answers: int = 5) -> list[Answer]:
    """Scored answers from the sentences of ``hits``, best first, at most one
    per sentence, overlapping spans removed. Empty when ``hits`` is empty."""
    seen: dict[int, tuple[Sentence, Hit, int]] = {}
    for rank, hit in enumerate(hits):
        for sentence in index.sentences_of(hit.chunk):
            seen.setdefault(sentence.sentence_id, (sentence, hit, rank))
    if not seen:
        return []
    ids = np.fromiter(seen, dtype=np.int64)
    dense = index.sentence_vectors[ids] @ np.asarray(query_vector, dtype=np.float32)
    idf = _idf_table(question, index)
    candidates = [
        _score_sentence(question, sentence, hit, rank, float(d), idf, index)
        for (sentence, hit, rank), d in zip(seen.values(), dense)
    ]
    candidates.sort(key=lambda c: -c.confidence)
    answers: list[Answer] = []
    for c in candidates:
        start, end = c.span if c.span else (c.sentence.start, c.sentence.end)
        if any(a.doc_id == c.sentence.doc_id and start < a.end and a.start < end for a in answers):
            continue
        doc = index.documents[c.sentence.doc_id]
        answers.append(Answer(
            text=doc.text[start:end], doc_id=doc.doc_id, title=doc.title, start=start, end=end,
            sentence=c.sentence.text, sentence_start=c.sentence.start,
            sentence_end=c.sentence.end, confidence=c.confidence, kind=question.kind, hit=c.hit))
        if len(answers) == max_answers:
            break
    return answers


def _idf_table(question: Question, index: Index) -> dict[str, float]:
    n = len(index.sentences)
    return {t: math.log(1 + (n - index.sentence_df.get(t, 0) + 0.5) /
                        (index.sentence_df.get(t, 0) + 0.5)) for t in set(question.terms)}


def _score_sentence(question: Question, sentence: Sentence, hit: Hit, rank: int, dense: float,
                    idf: dict[str, float], index: Index) -> _Candidate:
    tokens = token_spans(sentence.text)
    matched = [(s, e) for s, e, t in tokens if t in idf]
    present = {t for _, _, t in tokens} & idf.keys()
    total = sum(idf.values())
    lexical = sum(idf[t] for t in present) / total if total else 0.0
    rank_feature = 1.0 / (1 + rank)
    if question.typed:
        best = _best_span(question, sentence.text, tokens, matched, idf)
        span_score = best[0] if best else 0.0
        local = (best[1].start, best[1].end) if best else None
        weights = WEIGHTS["typed"]
    else:
        span_score = 0.0
        local = _best_clause(sentence.text, matched, idf.keys())
        weights = WEIGHTS["untyped"]
    features = (dense, lexical, rank_feature, span_score)
    z = (weights.bias + weights.dense * dense + weights.lexical * lexical
         + weights.rank * rank_feature + weights.span * span_score)
    span = (sentence.start + local[0], sentence.start + local[1]) if local else None
    return _Candidate(sentence, hit, rank, span, features, 1.0 / (1.0 + math.exp(-z)))


def _best_span(question: Question, text: str, tokens, matched,
               idf: dict[str, float]) -> tuple[float, Span] | None:
    """The best span of the asked kind in ``text`` with its score, or None."""
    fits = _KIND_FIT.get(question.kind, {})
    terms = set(question.terms)
    best: tuple[float, Span] | None = None
    for span in find_spans(text):
        fit = fits.get(span.kind, 0.0)
        if fit == 0.0:
            continue
        span_terms = tokenize(span.text)
        repeated = sum(t in terms for t in span_terms) / len(span_terms) if span_terms else 0.0
        if span_terms and repeated == 1.0:
            continue  # only repeats the question: not an answer
        if span.kind == "name":
            fit *= _name_fit(question.kind, span.text)
        elif question.head and question.kind in ("number", "money", "percent"):
            # "How many enterprises" wants a number counting enterprises: the
            # head noun (or unit) should sit next to it ("51 enterprises").
            fit *= 1.0 if _near_head(span, tokens, stem(question.head)) else 0.5
        if span.kind == "number" and not any(ch.isdigit() for ch in span.text):
            fit *= 0.5  # "one of the longest": number words are often not counts
        closeness = 0.5 * _proximity(span, tokens, matched) + 0.5 * _clause_match(span, text, tokens, idf)
        score = fit * (1.0 - 0.6 * repeated) * (0.4 + 0.6 * closeness)
        if best is None or score > best[0]:
            best = (score, span)
    return best


def _clause_match(span: Span, text: str, tokens, idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's terms found in the span's own clause
    (outside the span): "the Silk Road Fund in the amount of 50 billion" holds
    "Silk Road Fund"; the clause before it, with "100 billion", does not."""
    total = sum(idf.values())
    if not total:
        return 0.0
    cuts = [0] + [m.end() for m in _SPAN_CLAUSE_BREAK.finditer(text)] + [len(text)]
    lo = max(c for c in cuts if c <= span.start)
    hi = min(c for c in cuts if c >= span.end)
    present = {t for s, e, t in tokens if lo <= s and e <= hi and (e <= span.start or s >= span.end)}
    return sum(idf[t] for t in present & idf.keys()) / total


def _near_head(span: Span, tokens, head: str, window: int = 3) -> bool:
    before = [t for s, _, t in tokens if s < span.start][-window:]
    after = [t for s, _, t in tokens if s >= span.end][:window]
    return head in before or head in after


def _name_fit(kind: str, text: str) -> float:
    org_like = bool(_ORG_WORDS.search(text) or _ACRONYM.match(text))
    if kind == "organisation":
        return 1.0 if org_like else 0.7
    if kind in ("person", "place"):
        return 0.7 if org_like else 1.0
    return 1.0


def _proximity(span: Span, tokens, matched) -> float:
    """1 when a question word touches the span, falling with the number of words between."""
    if not matched:
        return 0.0
    positions = [(s, e) for s, e, _ in tokens]
    before = sum(1 for s, _ in positions if s < span.start)
    after = sum(1 for _, e in positions if e <= span.end)
    gaps = []
    for s, e in matched:
        if e <= span.start:
            gaps.append(before - sum(1 for ps, _ in positions if ps < e))
        elif s >= span.end:
            gaps.append(sum(1 for ps, _ in positions if ps < s) - after)
    if not gaps:
        return 0.5  # the question's words are inside the span only
    return 1.0 / (1.0 + min(gaps) / 3.0)


def _best_clause(text: str, matched, terms) -> tuple[int, int] | None:
    """For descriptive questions: the clause that holds the most question
    words plus the most other words. Short sentences are returned whole."""
    if len(text.split()) <= 20:
        return None
    cuts = [0] + [m.end() for m in _CLAUSE_BREAK.finditer(text)] + [len(text)]
    best, best_score = None, 0.0
    for a, b in zip(cuts, cuts[1:]):
        clause = text[a:b].strip(" ,;:()–—-")
        if len(clause.split()) < 4:
            continue
        s = text.index(clause, a)
        hits = sum(1 for ms, me in matched if s <= ms and me <= s + len(clause))
        score = hits + 0.1 * len(clause.split()) ** 0.5
        if hits and score > best_score:
            best, best_score = (s, s + len(clause)), score
    return best
