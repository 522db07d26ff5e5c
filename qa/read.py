"""The extractive reader: from retrieved passages to scored, cited answers.

Every sentence of the retrieved passages is a candidate, with the features
in ``FEATURES``:

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

Three models, fitted by ``python -m eval.train_reader`` on
``shared/data/qa-fit.json`` and stored in ``reader_model.json`` beside this
file, turn them into an answer:

1. the *sentence model* (logistic, over ``FEATURES``) gives ``p``, the
   probability that a sentence holds the answer; the ``READ_SENTENCES`` best
   sentences go on;
2. the *span ranker* (gradient-boosted trees, ``qa.forest``, over
   ``qa.features.SPAN_FEATURES``; LambdaRank, graded by F1 with the gold
   answers) ranks the constituents of those sentences (``index.parse``:
   entities, noun phrases, numbers with their units, prepositional objects,
   clauses); each sentence's best constituent is its answer;
3. the *confidence model* (logistic, over ``CONFIDENCE_FEATURES``) gives
   ``confidence``, the probability that the answer is right (F1 >= 0.5 with
   a gold answer). It is fitted on out-of-fold predictions of the two models
   above, unanswerable questions included, so it is calibrated and low when
   the documents do not say.

A sentence without constituents (a heading, a title line) is never an answer.
Answers are cut from the document by offsets, so ``doc.text[a.start:a.end] == a.text``.
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
from qa.features import SPAN_FEATURES, QuestionView, candidate_rows_many, words_before
from qa.forest import Forest
from qa.question import NAME_KINDS, Question
from qa.types import Answer, Candidate

FEATURES = ("dense", "dense_gap", "lexical", "lexical_gap", "bigram", "entity", "rank", "span",
            "no_span", "typed")
CONFIDENCE_FEATURES = ("span_score", "span_margin", "sentence_logit", "sentence_margin",
                       "lexical", "dense", "entity", "bigram", "context_lexical",
                       "missing_idf", "typed", "no_span", "soft_cover", "soft_min")
READ_SENTENCES = 3   # sentences whose constituents the span ranker scores
_SOFT_COVER, _SOFT_MIN = SPAN_FEATURES.index("s_soft_cover"), SPAN_FEATURES.index("s_soft_min")
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
    span: Forest           # over SPAN_FEATURES
    confidence: Logistic   # over CONFIDENCE_FEATURES
    threshold: float = 0.5  # abstain below this confidence (chosen on held-out folds)

    def to_dict(self) -> dict:
        return {"sentence": self.sentence.to_dict(), "span": self.span.to_dict(),
                "confidence": self.confidence.to_dict(), "threshold": self.threshold}

    @classmethod
    def from_dict(cls, d: dict) -> "ReaderModel":
        model = cls(Logistic.from_dict(d["sentence"]), Forest.from_dict(d["span"]),
                    Logistic.from_dict(d["confidence"]), float(d.get("threshold", 0.5)))
        if (model.sentence.features != FEATURES or model.span.features != SPAN_FEATURES
                or model.confidence.features != CONFIDENCE_FEATURES):
            raise ValueError("reader model features do not match this version of qa.read")
        return model


@lru_cache(maxsize=4)
def load_reader_model(path: Path = MODEL_PATH) -> ReaderModel:
    return ReaderModel.from_dict(_model_file(path))


@lru_cache(maxsize=4)
def _model_file(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def model_threshold(path: Path = MODEL_PATH) -> float:
    """The abstention threshold stored in the reader model file (0.5 when none)."""
    return float(_model_file(path).get("threshold", 0.5))


def sentence_candidates(question: Question, query_vector: np.ndarray, hits: list[Hit],
                        index: Index) -> list[Candidate]:
    """Every sentence of ``hits`` (once, with its best-ranked passage) with its
    features. Empty when ``hits`` is empty."""
    seen: dict[int, tuple[Sentence, Hit, int]] = {}
    for rank, hit in enumerate(hits):
        for sentence in index.sentences_of(hit.chunk):
            seen.setdefault(sentence.sentence_id, (sentence, hit, rank))
    if not seen:
        return []
    ids = np.fromiter(seen, dtype=np.int64)
    dense = index.sentence_vectors_of(ids) @ np.asarray(query_vector, dtype=np.float32)
    idf = _idf_table(question, index)
    pairs = set(zip(question.terms, question.terms[1:]))
    entities = _question_entities(question.text)
    raw = [_sentence_features(question, sentence, rank, idf, pairs, entities, index.analysis)
           for sentence, _, rank in seen.values()]
    best_dense = float(dense.max())
    best_lexical = max(r[1] for r in raw)
    out = []
    for (sentence, hit, rank), d, (lexical, bigram, entity, span_score) in zip(
            seen.values(), dense, raw):
        typed = float(question.typed)
        features = (float(d), float(d) - best_dense, lexical, lexical - best_lexical, bigram,
                    entity, 1.0 / (1 + rank), span_score, typed * float(span_score == 0.0), typed)
        out.append(Candidate(sentence, hit, features))
    return out


@dataclass(frozen=True)
class SpanCandidate:
    """One constituent of a sentence that was read, with its features."""
    sentence: Candidate
    start: int            # [start, end) in the document
    end: int
    row: np.ndarray       # SPAN_FEATURES


@dataclass(frozen=True)
class Reading:
    """Everything the reader worked out for one question (training reads it too)."""
    sentences: list[Candidate]
    p: np.ndarray                 # sentence probabilities, one per sentence
    spans: list[SpanCandidate]    # the constituents of the best sentences
    span_scores: np.ndarray       # one per span: the span ranker's raw score (log-odds)
    context: dict[int, tuple[float, float]]   # sentence_id -> (context_lexical, missing_idf)


def read(question: Question, cands: list[Candidate], index: Index, *, model: ReaderModel,
         word_vectors: np.ndarray | None = None,
         read_sentences: int = READ_SENTENCES) -> Reading | None:
    """Stages 1 and 2 of the module docstring on ``sentence_candidates``'
    output; None when ``cands`` is empty. ``word_vectors``: the vectors of
    ``qa.features.question_words(question)``."""
    if not cands:
        return None
    p = model.sentence.predict(np.array([c.features for c in cands]))
    return read_spans(question, cands, p, index, model.span, word_vectors=word_vectors,
                      read_sentences=read_sentences)


def read_spans(question: Question, cands: list[Candidate], p: np.ndarray, index: Index,
               span_model: Forest | None, *, word_vectors: np.ndarray | None = None,
               read_sentences: int = READ_SENTENCES) -> Reading:
    """Stage 2: the constituents of the ``read_sentences`` sentences with the
    highest ``p`` (one per entry of ``cands``), scored by ``span_model`` (raw
    scores; zeros when it is None, as when fitting it)."""
    order = np.argsort(-p, kind="stable")
    view = QuestionView.of(question, _idf_table(question, index), word_vectors)
    analysis = index.analysis
    context = {}
    logits = _logit(p)
    picked = [cands[i] for i in order[:read_sentences]]
    inputs = []
    for rank, (i, c) in enumerate(zip(order, picked)):
        sid = c.sentence.sentence_id
        prev = index.previous_sentence(sid)
        prev_tokens = analysis.tokens(prev) if prev is not None else None
        inputs.append((c.sentence.text, sid, list(c.features) + [float(logits[i]), float(rank)],
                       prev_tokens))
        context[sid] = _context(view, analysis.tokens(sid), prev_tokens)
    found = candidate_rows_many(view, inputs, analysis)
    spans = [SpanCandidate(c, c.sentence.start + con.start, c.sentence.start + con.end, row)
             for c, (cons, crow) in zip(picked, found) for con, row in zip(cons, crow)]
    x = np.concatenate([crow for _, crow in found]) if found else np.zeros((0, len(SPAN_FEATURES)))
    scores = span_model.raw(x) if span_model is not None and spans else np.zeros(len(spans))
    return Reading(cands, p, spans, scores, context)


def read_answers(question: Question, cands: list[Candidate], index: Index, *,
                 word_vectors: np.ndarray | None = None, max_answers: int = 5,
                 model: ReaderModel | None = None) -> list[Answer]:
    """Scored answers from ``cands`` (``sentence_candidates`` of the passages
    read), best first, at most one per sentence. Empty when ``cands`` is empty
    or no sentence holds a constituent. ``word_vectors``: the vectors of
    ``qa.features.question_words(question)`` (``qa.features.word_vectors``;
    without them, the features that use them are left out)."""
    model = model if model is not None else load_reader_model()
    reading = read(question, cands, index, model=model, word_vectors=word_vectors)
    if reading is None or not reading.spans:
        return []
    best = best_per_sentence(reading)
    confidence = model.confidence.predict(confidence_features(reading, best))
    answers: list[Answer] = []
    for k, (i, _) in enumerate(best[:max_answers]):
        span = reading.spans[i]
        sentence = span.sentence.sentence
        doc = index.documents[sentence.doc_id]
        answers.append(Answer(
            text=doc.text[span.start:span.end], doc_id=doc.doc_id, title=doc.title,
            start=span.start, end=span.end, sentence=sentence.text,
            sentence_start=sentence.start, sentence_end=sentence.end,
            confidence=float(confidence[k]), kind=question.kind, hit=span.sentence.hit,
            page=doc.page_of(span.start), section=doc.section_of(span.start)))
    # Keep the order the span ranker chose, but never show a later answer as surer.
    for k in range(1, len(answers)):
        if answers[k].confidence > answers[k - 1].confidence:
            answers[k] = replace(answers[k], confidence=answers[k - 1].confidence)
    return answers


def best_per_sentence(reading: Reading) -> list[tuple[int, float]]:
    """``(span index, score)`` of each sentence's best span, best first."""
    best: dict[int, tuple[int, float]] = {}
    for i, (span, score) in enumerate(zip(reading.spans, reading.span_scores)):
        sid = span.sentence.sentence.sentence_id
        if sid not in best or score > best[sid][1]:
            best[sid] = (i, float(score))
    return sorted(best.values(), key=lambda t: -t[1])


def confidence_features(reading: Reading, best: list[tuple[int, float]]) -> np.ndarray:
    """Rows of ``CONFIDENCE_FEATURES``, one per entry of ``best``
    (``best_per_sentence(reading)``)."""
    p_of = {c.sentence.sentence_id: float(pi) for c, pi in zip(reading.sentences, reading.p)}
    rows = []
    for k, (i, score) in enumerate(best):
        span = reading.spans[i]
        c = span.sentence
        sid = c.sentence.sentence_id
        other = max((s for j, (_, s) in enumerate(best) if j != k), default=score - 5.0)
        p = p_of[sid]
        other_p = max((v for s, v in p_of.items() if s != sid), default=0.0)
        f = dict(zip(FEATURES, c.features))
        context_lexical, missing = reading.context[sid]
        rows.append([score, score - other, float(_logit(p)), p - other_p, f["lexical"], f["dense"],
                     f["entity"], f["bigram"], context_lexical, missing, f["typed"], f["no_span"],
                     span.row[_SOFT_COVER], span.row[_SOFT_MIN]])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(CONFIDENCE_FEATURES))


def _logit(p):
    """log(p / (1 - p)), with p kept inside [1e-6, 1 - 1e-6]."""
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def _context(view: QuestionView, tokens, prev_tokens) -> tuple[float, float]:
    """``(context_lexical, missing_idf)``: the IDF share of the question's
    terms found in the sentence or the one before it, and the IDF of the
    rarest question term found in neither, over the rarest term's IDF."""
    idf = view.idf
    present = {t for _, _, t in tokens} | ({t for _, _, t in prev_tokens} if prev_tokens else set())
    total = math.fsum(idf.values())
    if not total:
        return 0.0, 0.0
    found = math.fsum(v for t, v in idf.items() if t in present)
    missing = max((v for t, v in idf.items() if t not in present), default=0.0)
    return found / total, missing / max(idf.values())


def _idf_table(question: Question, index: Index) -> dict[str, float]:
    n = index.sentence_count
    return {t: math.log(1 + (n - index.sentence_df.get(t, 0) + 0.5) /
                        (index.sentence_df.get(t, 0) + 0.5)) for t in dict.fromkeys(question.terms)}


def _question_entities(text: str) -> set[str]:
    """Terms of the question's capitalised words, its first word aside ("Normandy", "BSkyB")."""
    words = re.findall(r"[\w'’-]+", text)[1:]
    return {t for w in words if w[:1].isupper() for t in tokenize(w)}


def _sentence_features(question: Question, sentence: Sentence, rank: int,
                       idf: dict[str, float], pairs: set[tuple[str, str]], entities: set[str],
                       analysis: SentenceAnalysis):
    """``(lexical, bigram, entity, span_score)`` of one sentence; what does
    not depend on the question comes from the index's ``analysis``."""
    tokens = analysis.tokens(sentence.sentence_id)
    terms = [t for _, _, t in tokens]
    entity = len(entities & set(terms)) / len(entities) if entities else 0.0
    matched = [(s, e) for s, e, t in tokens if t in idf]
    total = math.fsum(idf.values())
    lexical = math.fsum(idf[t] for t in set(terms) & idf.keys()) / total if total else 0.0
    bigram = len(pairs & set(zip(terms, terms[1:]))) / len(pairs) if pairs else 0.0
    span_score = 0.0
    if question.typed:
        best = _best_span(question, sentence.text, tokens, matched, idf,
                          analysis.spans(sentence.sentence_id, sentence.text))
        span_score = best[0] if best else 0.0
    return lexical, bigram, entity, span_score


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
            fit *= _name_fit(question.kind, span.text) * _structure_fit(question, span, text,
                                                                        tokens, starts)
        elif question.head and question.kind in ("number", "money", "percent"):
            # "How many enterprises" wants a number counting enterprises: the
            # head noun (or unit) should sit next to it ("51 enterprises").
            fit *= 1.0 if _near_head(span, tokens, starts, stem(question.head)) else 0.5
        if span.kind == "number" and not any(ch.isdigit() for ch in span.text):
            fit *= 0.5  # "one of the longest": number words are often not counts
        if cuts is None:
            cuts = [0] + [m.end() for m in _SPAN_CLAUSE_BREAK.finditer(text)] + [len(text)]
        closeness = 0.5 * _proximity(span, starts, ends, matched) \
            + 0.5 * _clause_match(span, cuts, tokens, starts, idf)
        score = fit * (1.0 - 0.6 * repeated) * (0.4 + 0.6 * closeness)
        if best is None or score > best[0]:
            best = (score, span)
    return best


def _clause_match(span: Span, cuts: list[int], tokens, starts: list[int],
                  idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's terms found in the span's own clause
    (outside the span): "the Silk Road Fund in the amount of 50 billion" holds
    "Silk Road Fund"; the clause before it, with "100 billion", does not."""
    total = math.fsum(idf.values())
    if not total:
        return 0.0
    # ``cuts`` and the tokens are in order, and tokens do not overlap.
    lo = cuts[bisect_right(cuts, span.start) - 1]
    hi = cuts[bisect_left(cuts, span.end)]
    present = {t for s, e, t in tokens[bisect_left(starts, lo):bisect_right(starts, hi)]
               if e <= hi and (e <= span.start or s >= span.end)}
    return math.fsum(idf[t] for t in present & idf.keys()) / total


def _near_head(span: Span, tokens, starts: list[int], head: str, window: int = 3) -> bool:
    """Whether ``head`` is among the ``window`` terms before or after ``span``
    (``starts``: the tokens' start offsets, in order)."""
    at = bisect_left(starts, span.start)
    before = [t for _, _, t in tokens[max(0, at - window):at]]
    at = bisect_left(starts, span.end)
    after = [t for _, _, t in tokens[at:at + window]]
    return head in before or head in after


def _structure_fit(question: Question, span: Span, text: str, tokens, starts: list[int]) -> float:
    """1.3 when the words before the span mirror the question's shape, else 1:
    the words before its wh-word ("According to [Kazakh Invest]", "between
    [the United States and China]"), a passive agent ("who published" ->
    "Published by [the Center]"), or its head noun in apposition ("another
    close neighbor – [Moscow]")."""
    before, agent = words_before(text, span.start)
    if question.lead and before.endswith(question.lead):
        return 1.3
    at = bisect_left(starts, span.start)            # the tokens before the span
    preceding = [t for _, _, t in tokens[max(0, at - 6):at]]
    # Passive agent: "who built ..." -> "was built in 1893 by the engineer [Tomas Reyes]".
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
