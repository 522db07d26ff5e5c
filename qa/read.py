"""The extractive reader: from retrieved passages to scored, cited answers.

Every sentence of the retrieved passages is a candidate. For each one the
reader finds its best answer span and computes the features in ``FEATURES``:

- ``dense``: cosine similarity of the question and the sentence (MiniLM
  vectors pre-computed at index time); ``dense_gap``: minus the best one's;
- ``lexical``: the IDF-weighted share of the question's terms the sentence
  contains (IDF over the index's sentences); ``lexical_gap``: minus the best;
- ``bigram``: the share of the question's adjacent term pairs found adjacent
  in the sentence;
- ``entity``: the share of the question's capitalised words (names) found in it;
- ``rank``: ``1 / (1 + r)`` for the best passage rank r (from 0) it appears in;
- ``span``: for a question that asks for a fact (an amount, a date, a name...),
  the score in [0, 1] of the best candidate span of that kind in the sentence
  (kind agreement x closeness to the question's words x a penalty for
  repeating them); ``no_span``: 1 when the question asks for a fact and the
  sentence holds no span of that kind; ``typed``: 1 for such questions.

Two logistic models, fitted by ``python -m eval.train_reader`` and stored in
``reader_model.json`` beside this file, turn them into numbers:

1. the *sentence model* gives ``p``, the probability that the sentence holds
   the answer; candidates are ranked by it;
2. the *confidence model* maps ``logit(p)``, the margin of ``p`` over the
   best other candidate, and the span features to ``confidence``, the
   probability that the answer given is right (F1 >= 0.5 with a gold answer).
   It is fitted on held-out questions, unanswerable ones included, so it is
   calibrated and low when the documents do not say.

The answer text is the best span (fact questions) or the best clause of the
sentence (other questions), always cut from the document by offsets, so
``doc.text[a.start:a.end] == a.text``.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.analysis import SentenceAnalysis
from index.lexical import stem, tokenize
from index.spans import Span
from index.store import Index
from index.types import Hit, Sentence
from qa.question import NAME_KINDS, Question
from qa.types import Answer

FEATURES = ("dense", "dense_gap", "lexical", "lexical_gap", "bigram", "entity", "rank", "span",
            "no_span", "typed")
CONFIDENCE_FEATURES = ("logit", "margin", "span", "no_span", "typed")
MODEL_PATH = Path(__file__).with_name("reader_model.json")

# How well a span kind answers a question kind (missing pairs: 0).
_KIND_FIT = {
    "money": {"money": 1.0, "number": 0.3, "percent": 0.2},
    "number": {"number": 1.0, "money": 0.5, "percent": 0.5},
    "percent": {"percent": 1.0, "number": 0.3},
    "date": {"date": 1.0, "number": 0.5},   # "began in 911": three-digit years
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
class Logistic:
    """``sigmoid(intercept + coef . x)`` over named features."""
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def __post_init__(self) -> None:
        if len(self.features) != len(self.coef):
            raise ValueError(f"{len(self.features)} features but {len(self.coef)} weights")

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Probabilities for ``rows`` (shape ``(n, len(features))``)."""
        z = rows @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "coef": list(self.coef),
                "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict) -> "Logistic":
        return cls(tuple(d["features"]), tuple(float(c) for c in d["coef"]), float(d["intercept"]))


@dataclass(frozen=True)
class ReaderModel:
    sentence: Logistic     # over FEATURES
    confidence: Logistic   # over CONFIDENCE_FEATURES

    def to_dict(self) -> dict:
        return {"sentence": self.sentence.to_dict(), "confidence": self.confidence.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "ReaderModel":
        model = cls(Logistic.from_dict(d["sentence"]), Logistic.from_dict(d["confidence"]))
        if model.sentence.features != FEATURES or model.confidence.features != CONFIDENCE_FEATURES:
            raise ValueError("reader model features do not match this version of qa.read")
        return model


@lru_cache(maxsize=4)
def load_reader_model(path: Path = MODEL_PATH) -> ReaderModel:
    return ReaderModel.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Candidate:
    """One sentence with its best span and features (``FEATURES`` order)."""
    sentence: Sentence
    hit: Hit
    span: tuple[int, int] | None   # [start, end) in the document; None: the whole sentence
    features: tuple[float, ...]


def sentence_candidates(question: Question, query_vector: np.ndarray, hits: list[Hit],
                        index: Index) -> list[Candidate]:
    """Every sentence of ``hits`` (once, with its best-ranked passage) with its
    best span and its features. Empty when ``hits`` is empty."""
    seen: dict[int, tuple[Sentence, Hit, int]] = {}
    for rank, hit in enumerate(hits):
        for sentence in index.sentences_of(hit.chunk):
            seen.setdefault(sentence.sentence_id, (sentence, hit, rank))
    if not seen:
        return []
    ids = np.fromiter(seen, dtype=np.int64)
    dense = index.sentence_vectors[ids] @ np.asarray(query_vector, dtype=np.float32)
    idf = _idf_table(question, index)
    pairs = set(zip(question.terms, question.terms[1:]))
    entities = _question_entities(question.text)
    raw = [_sentence_features(question, sentence, rank, idf, pairs, entities, index.analysis)
           for sentence, _, rank in seen.values()]
    best_dense = float(dense.max())
    best_lexical = max(r[1] for r in raw)
    out = []
    for (sentence, hit, rank), d, (span, lexical, bigram, entity, span_score) in zip(
            seen.values(), dense, raw):
        typed = float(question.typed)
        features = (float(d), float(d) - best_dense, lexical, lexical - best_lexical, bigram,
                    entity, 1.0 / (1 + rank), span_score, typed * float(span_score == 0.0), typed)
        out.append(Candidate(sentence, hit, span, features))
    return out


def read_answers(question: Question, query_vector: np.ndarray, hits: list[Hit],
                 index: Index, *, max_answers: int = 5,
                 model: ReaderModel | None = None) -> list[Answer]:
    """Scored answers from the sentences of ``hits``, best first, at most one
    per sentence, overlapping spans removed. Empty when ``hits`` is empty."""
    candidates = sentence_candidates(question, query_vector, hits, index)
    if not candidates:
        return []
    model = model if model is not None else load_reader_model()
    x = np.array([c.features for c in candidates])
    p = model.sentence.predict(x)
    confidence = model.confidence.predict(confidence_features(p, x))
    order = np.argsort(-p, kind="stable")
    answers: list[Answer] = []
    for i in order:
        c = candidates[i]
        start, end = c.span if c.span else (c.sentence.start, c.sentence.end)
        if any(a.doc_id == c.sentence.doc_id and start < a.end and a.start < end for a in answers):
            continue
        doc = index.documents[c.sentence.doc_id]
        answers.append(Answer(
            text=doc.text[start:end], doc_id=doc.doc_id, title=doc.title, start=start, end=end,
            sentence=c.sentence.text, sentence_start=c.sentence.start,
            sentence_end=c.sentence.end, confidence=float(confidence[i]), kind=question.kind,
            hit=c.hit))
        if len(answers) == max_answers:
            break
    # The confidence model is monotone in p only for a fixed margin: keep the
    # order the sentence model chose, but never show a later answer as surer.
    for k in range(1, len(answers)):
        if answers[k].confidence > answers[k - 1].confidence:
            answers[k] = replace(answers[k], confidence=answers[k - 1].confidence)
    return answers


def confidence_features(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows of ``CONFIDENCE_FEATURES`` for candidates with sentence probabilities
    ``p`` and features ``x`` (rows of ``FEATURES``)."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    if len(p) > 1:
        top2 = np.sort(p)[-2:]
        other_best = np.where(p >= top2[1], top2[0], top2[1])
    else:
        other_best = np.zeros_like(p)
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    return np.column_stack([np.log(p / (1 - p)), p - other_best, col["span"], col["no_span"],
                            col["typed"]])


def _idf_table(question: Question, index: Index) -> dict[str, float]:
    n = len(index.sentences)
    return {t: math.log(1 + (n - index.sentence_df.get(t, 0) + 0.5) /
                        (index.sentence_df.get(t, 0) + 0.5)) for t in set(question.terms)}


def _question_entities(text: str) -> set[str]:
    """Terms of the question's capitalised words, its first word aside ("Normandy", "BSkyB")."""
    words = re.findall(r"[\w'’-]+", text)[1:]
    return {t for w in words if w[:1].isupper() for t in tokenize(w)}


def _sentence_features(question: Question, sentence: Sentence, rank: int,
                       idf: dict[str, float], pairs: set[tuple[str, str]], entities: set[str],
                       analysis: SentenceAnalysis):
    """``(span, lexical, bigram, entity, span_score)`` of one sentence; what does
    not depend on the question comes from the index's ``analysis``."""
    tokens = analysis.tokens(sentence.sentence_id)
    terms = [t for _, _, t in tokens]
    entity = len(entities & set(terms)) / len(entities) if entities else 0.0
    matched = [(s, e) for s, e, t in tokens if t in idf]
    total = sum(idf.values())
    lexical = sum(idf[t] for t in set(terms) & idf.keys()) / total if total else 0.0
    bigram = len(pairs & set(zip(terms, terms[1:]))) / len(pairs) if pairs else 0.0
    if question.typed:
        best = _best_span(question, sentence.text, tokens, matched, idf,
                          analysis.spans(sentence.sentence_id, sentence.text))
        span_score = best[0] if best else 0.0
        local = _shape_span(question, sentence.text, best[1]) if best else \
            _best_gap(question, sentence.text, analysis.words(sentence.sentence_id))
    else:
        span_score = 0.0
        local = None
        if question.kind in ("description", "reason"):
            local = _best_gap(question, sentence.text, analysis.words(sentence.sentence_id))
        if local is None:
            local = _best_clause(sentence.text, matched)
    span = (sentence.start + local[0], sentence.start + local[1]) if local else None
    return span, lexical, bigram, entity, span_score


def _best_span(question: Question, text: str, tokens, matched, idf: dict[str, float],
               spans: list[tuple[Span, tuple[str, ...]]]) -> tuple[float, Span] | None:
    """The best of ``spans`` (``text``'s spans with their terms) of the asked
    kind, with its score, or None."""
    fits = _KIND_FIT.get(question.kind, {})
    terms = set(question.terms)
    best: tuple[float, Span] | None = None
    cuts = None   # the sentence's clause breaks, found once for all its spans
    starts = [s for s, _, _ in tokens]
    ends = [e for _, e, _ in tokens]
    for span, span_terms in spans:
        fit = fits.get(span.kind, 0.0)
        if fit == 0.0:
            continue
        # The head noun inside a name is no repeat: "which region" -> "Xinjiang ... Region".
        head = stem(question.head) if question.head else None
        repeated = sum(t in terms and t != head for t in span_terms) / len(span_terms) \
            if span_terms else 0.0
        if span_terms and repeated == 1.0:
            continue  # only repeats the question: not an answer
        if span.kind == "name":
            fit *= _name_fit(question.kind, span.text) * _structure_fit(question, span, text, tokens)
        elif question.head and question.kind in ("number", "money", "percent"):
            # "How many enterprises" wants a number counting enterprises: the
            # head noun (or unit) should sit next to it ("51 enterprises").
            fit *= 1.0 if _near_head(span, tokens, stem(question.head)) else 0.5
        if span.kind == "number" and not any(ch.isdigit() for ch in span.text):
            fit *= 0.5  # "one of the longest": number words are often not counts
        if cuts is None:
            cuts = [0] + [m.end() for m in _SPAN_CLAUSE_BREAK.finditer(text)] + [len(text)]
        closeness = 0.5 * _proximity(span, starts, ends, matched) \
            + 0.5 * _clause_match(span, cuts, tokens, idf)
        score = fit * (1.0 - 0.6 * repeated) * (0.4 + 0.6 * closeness)
        if best is None or score > best[0]:
            best = (score, span)
    return best


_UNIT = re.compile(r"\s+(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|centuries|decades?"
                   r"|km|kilomet(?:er|re)s?|miles?|met(?:er|re)s?|feet|foot|kg|kilograms?|tonnes?"
                   r"|tons?)\b")
_YEAR = re.compile(r"\b(?:1[0-9]|20)\d\d\b|\b\d{3}\b")


def _shape_span(question: Question, text: str, span: Span) -> tuple[int, int]:
    """The span's offsets, fitted to what was asked: "how long" takes its unit
    ("380 years"); "what year" keeps only the year of a date ("1191", not "April 1191")."""
    start, end = span.start, span.end
    if re.search(r"\bhow (?:long|far|old|tall|wide|deep|heavy)\b", question.text, re.I):
        unit = _UNIT.match(text, end)
        if unit:
            end = unit.end()
    if span.kind == "date" and re.search(r"\b(?:what|which) year\b", question.text, re.I):
        year = _YEAR.search(text, start, end)
        if year:
            start, end = year.span()
    return start, end


def _clause_match(span: Span, cuts: list[int], tokens, idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's terms found in the span's own clause
    (outside the span): "the Silk Road Fund in the amount of 50 billion" holds
    "Silk Road Fund"; the clause before it, with "100 billion", does not."""
    total = sum(idf.values())
    if not total:
        return 0.0
    lo = max(c for c in cuts if c <= span.start)
    hi = min(c for c in cuts if c >= span.end)
    present = {t for s, e, t in tokens if lo <= s and e <= hi and (e <= span.start or s >= span.end)}
    return sum(idf[t] for t in present & idf.keys()) / total


def _near_head(span: Span, tokens, head: str, window: int = 3) -> bool:
    before = [t for s, _, t in tokens if s < span.start][-window:]
    after = [t for s, _, t in tokens if s >= span.end][:window]
    return head in before or head in after


def _structure_fit(question: Question, span: Span, text: str, tokens) -> float:
    """1.3 when the words before the span mirror the question's shape, else 1:
    the words before its wh-word ("According to [Kazakh Invest]", "between
    [the United States and China]"), a passive agent ("who published" ->
    "Published by [the Center]"), or its head noun in apposition ("another
    close neighbor – [Moscow]")."""
    before = text[max(0, span.start - 40):span.start].lower()
    before = re.sub(r"(?:\bthe\s+|[\s,–—-])+$", " ", before).rstrip()
    if question.lead and before.endswith(question.lead):
        return 1.3
    preceding = [t for s, _, t in tokens if s < span.start]
    # Passive agent: "who built ..." -> "was built in 1893 by the engineer [Tomas Reyes]".
    agent = re.search(r"\bby(?:\s+[\w'’-]+){0,3}$", before)
    if question.verb and agent and question.verb in preceding[-6:]:
        return 1.3
    if question.head and stem(question.head) in preceding[-2:]:
        return 1.3
    return 1.0


def _name_fit(kind: str, text: str) -> float:
    org_like = bool(_ORG_WORDS.search(text) or _ACRONYM.match(text))
    if kind == "organisation":
        return 1.0 if org_like else 0.5
    if kind in ("person", "place"):
        return 0.7 if org_like else 1.0
    return 1.0


def _proximity(span: Span, starts: list[int], ends: list[int], matched) -> float:
    """1 when a question word touches the span, falling with the number of words
    between. ``starts``/``ends``: the sentence's token offsets, in order."""
    if not matched:
        return 0.0
    before = bisect_left(starts, span.start)   # tokens starting before the span
    after = bisect_right(ends, span.end)       # tokens ending by its end
    gaps = []
    for s, e in matched:
        if e <= span.start:
            gaps.append(before - bisect_left(starts, e))
        elif s >= span.end:
            gaps.append(bisect_left(starts, s) - after)
    if not gaps:
        return 0.5  # the question's words are inside the span only
    return 1.0 / (1.0 + min(gaps) / 3.0)


_QUOTED = re.compile(r"[“\"«]([^”\"»]{2,120})[”\"»]")


def _best_gap(question: Question, text: str,
              words: list[tuple[int, int, bool, tuple[str, ...], int]]) -> tuple[int, int] | None:
    """For descriptive questions: the run of words the question does not
    contain that sits right next to the words it does, within one clause
    ("most of the HD material uses [the DVB-S2] standard"). Stop words are
    trimmed from its ends; when the question names a thing ("what
    consortium") and the run holds a capitalised name, the name is the answer.
    None when no run touches the question's words. ``words``: ``text``'s words
    (``index.analysis.sentence_words``)."""
    terms = set(question.terms)
    # (start, end, content, matched, clause)
    words = [(s, e, content, any(t in terms for t in word_terms), clause)
             for s, e, content, word_terms, clause in words]
    best, best_score = None, 0.0
    i = 0
    while i < len(words):
        if words[i][3]:
            i += 1
            continue
        j = i
        while j + 1 < len(words) and not words[j + 1][3] and words[j + 1][4] == words[i][4]:
            j += 1
        run = words[i:j + 1]
        touching = (i > 0 and words[i - 1][3] and words[i - 1][4] == words[i][4]) \
            + (j + 1 < len(words) and words[j + 1][3] and words[j + 1][4] == words[j][4])
        # Question words close by on either side (1/distance, same clause, 4 words).
        around = sum(1.0 / d for d in range(1, 5) for k in (i - d, j + d)
                     if 0 <= k < len(words) and words[k][3] and words[k][4] == words[i][4])
        while run and not run[0][2]:
            run = run[1:]
        while run and not run[-1][2]:
            run = run[:-1]
        # One plain word ("obvious", "concluded") is rarely the answer; a name
        # or a number may be.
        enough = run and (sum(w[2] for w in run) >= 2 or touching == 2 or any(
            text[w[0]].isupper() or any(ch.isdigit() for ch in text[w[0]:w[1]]) for w in run))
        if enough and touching:
            in_clause = sum(1 for w in words if w[3] and w[4] == words[i][4])
            score = touching + 0.5 * around + 0.25 * in_clause - 0.04 * len(run)
            if score > best_score:
                best, best_score = run, score
        i = j + 1
    # A quoted phrase next to the question's words is a strong candidate:
    # the strategy of “closeness of the agreements”, the project of “turning ...”.
    for m in _QUOTED.finditer(text):
        inner_s, inner_e = m.start(1), m.end(1)
        near = [w for w in words if w[3] and (0 <= inner_s - w[1] <= 12 or 0 <= w[0] - inner_e <= 12)]
        inner_terms = tokenize(text[inner_s:inner_e])
        new_words = [t for t in inner_terms if t not in terms]
        if near and new_words and len(inner_terms) <= 12:
            return inner_s, inner_e
    if best is None:
        return None
    if question.head:
        caps = [w for w in best if text[w[0]].isupper() and w[0] > 0]
        if caps:
            return caps[0][0], caps[-1][1]
    return best[0][0], best[-1][1]


def _best_clause(text: str, matched) -> tuple[int, int] | None:
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
