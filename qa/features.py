"""Features of (question, candidate answer) pairs for the learned span ranker.

A candidate is a constituent of a sentence (``index.parse``), found at index
time. Its features describe how it relates to the question without naming
particular words, so a model fitted on one set of articles carries over to
others:

- what the question asks (its wh-word and answer kind, one-hot);
- what the candidate is (constituent labels, entity label, part of speech
  and dependency label of its head, length and shape);
- where it sits relative to the question's words: token distance, distance in
  the dependency tree, whether its governing verb is a question word, whether
  the question's head noun ("which *river*") is next to it or in it, how much
  of the question its clause holds, how much of it repeats the question;
- how good its sentence is (the sentence model's features and probability),
  and whether the sentence before it (for a sentence opening with a pronoun)
  holds the question's words.

``candidate_rows`` returns one row per candidate, columns in ``SPAN_FEATURES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from index.analysis import SentenceAnalysis
from index.lexical import STOPWORDS, stem
from index.parse import LABELS, Constituent
from qa.question import Question

WH_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how", "how_many",
            "how_much", "how_adj", "none")
KINDS = ("money", "number", "percent", "date", "person", "organisation", "place", "entity",
         "yesno", "reason", "description")
POS_TAGS = ("PROPN", "NOUN", "NUM", "VERB", "ADJ", "ADV", "ADP", "PRON", "DET", "AUX", "SYM",
            "X", "other")
DEPS = ("ROOT", "nsubj", "nsubjpass", "dobj", "pobj", "attr", "appos", "conj", "compound",
        "nummod", "npadvmod", "advcl", "advmod", "acl", "relcl", "amod", "poss", "xcomp",
        "ccomp", "prep", "agent", "oprd", "dative", "other")
_ENT_LABELS = tuple(label for label in LABELS if label.startswith("ENT_"))
_PRONOUN_OPENERS = frozenset("it he she they this these its his her their that such".split())
_DIGIT = re.compile(r"\d")
_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b")
_HOW_ADJ = re.compile(r"\bhow (?:long|far|old|tall|wide|deep|heavy|big|large|high|fast|often"
                      r"|early|late|small)\b")

SENTENCE_COLUMNS = ("s_dense", "s_dense_gap", "s_lexical", "s_lexical_gap", "s_bigram",
                    "s_entity", "s_rank", "s_span", "s_no_span", "s_typed", "s_logit",
                    "s_order", "s_prev_lexical", "s_pronoun_open", "s_tokens", "s_soft_cover",
                    "s_soft_min")
CANDIDATE_COLUMNS = (
    "n_tokens", "n_chars", "share_of_sentence", "has_digit", "cap_share", "starts_det",
    "repeat_share", "repeat_count", "all_repeat", "gap_left", "gap_right", "gap_min",
    "tree_dist", "matched_near5", "matched_near10", "clause_match", "verb_match",
    "head_in", "head_near", "lead_before", "agent_before", "position", "is_year",
    "candidates_in_sentence", "label_count", "head_sim", "head_sim_max", "verb_sim",
    "inside_sim", "soft_gap_min", "soft_tree_dist", "parent_match", "grandparent_match",
    "appos_match", "parent_sim")
SPAN_FEATURES = (
    tuple(f"wh_{w}" for w in WH_WORDS) + tuple(f"kind_{k}" for k in KINDS)
    + tuple(f"label_{label}" for label in LABELS) + tuple(f"pos_{p}" for p in POS_TAGS)
    + tuple(f"dep_{d}" for d in DEPS) + tuple(f"hdep_{d}" for d in DEPS)
    + SENTENCE_COLUMNS + CANDIDATE_COLUMNS + ("q_terms", "q_has_head"))
_COL = {name: i for i, name in enumerate(SPAN_FEATURES)}
_LABEL_COLS = tuple(_COL[f"label_{label}"] for label in LABELS)
_POS_COL = {p: _COL[f"pos_{p}"] for p in POS_TAGS}
_DEP_COL = {d: _COL[f"dep_{d}"] for d in DEPS}
_HDEP_COL = {d: _COL[f"hdep_{d}"] for d in DEPS}
_POS_OTHER, _DEP_OTHER, _HDEP_OTHER = _POS_COL["other"], _DEP_COL["other"], _HDEP_COL["other"]


@lru_cache(maxsize=1024)
def _label_cols(labels: int) -> list[int]:
    """The ``label_*`` columns of a constituent's label bits (``Constituent.labels``)."""
    return [col for i, col in enumerate(_LABEL_COLS) if labels >> i & 1]


# The words before a span, without a trailing "the" or punctuation; a passive
# agent ("... by [the engineer]") at their end. Also read by qa.read.
TRAILING_THE = re.compile(r"(?:\bthe\s+|[\s,–—-])+$")
AGENT = re.compile(r"\bby(?:\s+[\w'’-]+){0,3}$")
_YEAR = re.compile(r"\d{3,4}s?")


def wh_word(text: str) -> str:
    """The question's wh-word, with "how many", "how much" and "how long/far/..." apart."""
    low = text.lower()
    if "how many" in low:
        return "how_many"
    if "how much" in low:
        return "how_much"
    if _HOW_ADJ.search(low):
        return "how_adj"
    m = _WH.search(low)
    return m.group() if m else "none"


_WORD = re.compile(r"[A-Za-z][\w'’-]*|\d[\d,.]*")
_WH_WORDS = frozenset("who whom whose what which when where why how".split())
SOFT_MATCH = 0.7   # cosine at which a word of the sentence counts as one of the question's


def question_words(question: Question) -> list[str]:
    """The words of ``question`` whose vectors the features use: its head noun
    first (when it has one), then its other content words, each once."""
    words = [question.head] if question.head else []
    for w in _WORD.findall(question.text):
        low = w.lower()
        if low not in STOPWORDS and low not in _WH_WORDS and len(low) > 1 and low not in words:
            words.append(low)
    return words[:12]


def word_vectors(words: list[str], analysis: SentenceAnalysis, encode) -> np.ndarray | None:
    """Unit vectors of ``words``, one row each: a word that is one of the
    corpus' content lemmas takes its stored vector (no encoding at question
    time); the others are encoded with ``encode`` in one batch. None when there
    are no words, or no ``encode`` for those not stored."""
    if not words:
        return None
    found = [analysis.lemma_vector(w) for w in words]
    missing = [w for w, v in zip(words, found) if v is None]
    if missing:
        if encode is None:
            return None
        encoded = iter(np.asarray(encode(missing), dtype=np.float32))
        found = [v if v is not None else next(encoded) for v in found]
    dims = {len(v) for v in found}
    return np.vstack(found) if len(dims) == 1 else None


class WordEncoder:
    """``encode`` (a list of words -> unit vectors) that keeps the vectors of
    the last ``size`` words it encoded, so a word asked about again (the same
    user's questions share words: "year", "founded", a name) costs no
    model call. A call with a word not yet seen costs one call for all such
    words (~3 ms on this machine: small inputs spend it reading the model's
    weights). Safe to share between threads."""

    def __init__(self, encode, size: int = 4096) -> None:
        import threading
        from collections import OrderedDict

        self.encode = encode
        self.size = size
        self._kept: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, words: list[str]) -> np.ndarray:
        with self._lock:
            kept = {w: self._kept[w] for w in words if w in self._kept}
            for w in kept:
                self._kept.move_to_end(w)
        new = list(dict.fromkeys(w for w in words if w not in kept))
        if new:
            for w, v in zip(new, np.asarray(self.encode(new), dtype=np.float32)):
                kept[w] = v
            with self._lock:
                for w in new:
                    self._kept[w] = kept[w]
                    self._kept.move_to_end(w)
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return np.vstack([kept[w] for w in words]) if words else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class QuestionView:
    """What the features need of a question, worked out once per question."""
    question: Question
    wh: str
    terms: frozenset[str]
    idf: dict[str, float]
    head: str | None        # stem of the head noun
    vectors: np.ndarray     # (words, dim): unit vectors of question_words(question)
    head_vector: np.ndarray | None

    @classmethod
    def of(cls, question: Question, idf: dict[str, float], vectors: np.ndarray | None = None
           ) -> "QuestionView":
        """``vectors``: the rows of ``question_words(question)``; None or empty: no vectors."""
        vectors = np.zeros((0, 1), np.float32) if vectors is None else np.asarray(vectors, np.float32)
        head_vector = vectors[0] if question.head and len(vectors) else None
        return cls(question, wh_word(question.text), frozenset(question.terms), idf,
                   stem(question.head) if question.head else None, vectors, head_vector)


def candidate_rows(view: QuestionView, text: str, sentence_id: int, analysis: SentenceAnalysis,
                   sentence_row: list[float], prev_tokens: list | None
                   ) -> tuple[list[Constituent], np.ndarray]:
    """The constituents of one sentence (text ``text``, row ``sentence_id`` of
    ``analysis``) and their feature rows (``SPAN_FEATURES``).

    ``sentence_row``: the sentence's values for the first 12 ``SENTENCE_COLUMNS``
    (the sentence model's features, its logit and its order among the
    sentences read). ``prev_tokens``: ``analysis.tokens`` of the sentence
    before it in the same document, or None."""
    cands = analysis.constituents(sentence_id)
    if not cands:
        return [], np.zeros((0, len(SPAN_FEATURES)))
    starts, ends, pos, deps, heads, ents, lemmas = analysis.parse(sentence_id)
    tokens = analysis.tokens(sentence_id)       # our stemmed terms, for matching
    n = len(starts)
    terms, idf = view.terms, view.idf
    total_idf = sum(idf.values()) or 1.0

    # Which parser tokens hold a question term (by our terms' offsets).
    term_at = [set() for _ in range(n)]
    k = 0
    for s, e, t in tokens:
        while k < n and ends[k] <= s:
            k += 1
        j = k
        while j < n and starts[j] < e:
            term_at[j].add(t)
            j += 1
    matched = [bool(ts & terms) for ts in term_at]
    matched_idx = [i for i in range(n) if matched[i]]
    # Similarity of each token's lemma to the nearest question word (-1: no vector).
    rows_v = analysis.token_vector_rows(sentence_id)
    vectors = analysis.vectors
    token_sim = np.full(n, -1.0)
    token_vec: list[np.ndarray | None] = [None] * n
    soft_cover = soft_min = -1.0
    if len(view.vectors) and len(vectors) and vectors.shape[1] == view.vectors.shape[1]:
        have = np.flatnonzero(rows_v >= 0)
        if len(have):
            v = np.asarray(vectors[rows_v[have]], dtype=np.float32)
            sims = v @ view.vectors.T                      # (tokens with vectors, words)
            token_sim[have] = sims.max(axis=1)
            per_word = sims.max(axis=0)     # each question word's best match in the sentence
            soft_cover, soft_min = float(per_word.mean()), float(per_word.min())
            for j, i in enumerate(have.tolist()):
                token_vec[i] = v[j]
    soft_idx = [i for i in range(n) if matched[i] or token_sim[i] >= SOFT_MATCH]
    soft = set(soft_idx)
    sim_list = token_sim.tolist()
    # Each token's similarity to the question's head noun (its first word's vector).
    hv = view.head_vector
    head_sim = [None] * n
    if hv is not None:
        for i in range(n):
            if token_vec[i] is not None:
                head_sim[i] = float(token_vec[i] @ hv)
    # Tree distances from each matched token to every token (breadth-first search
    # over the undirected dependency tree).
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, h in enumerate(heads):
        if h != i and 0 <= h < n:
            neighbours[h].append(i)
            neighbours[i].append(h)
    dist_from = {i: _distances(i, neighbours) for i in soft_idx}
    # Clause boundaries for clause_match: punctuation tokens split clauses.
    clause_of, c = [], 0
    for i in range(n):
        if pos[i] == "PUNCT" and text[starts[i]:ends[i]] in ",;:()–—-":
            c += 1
        clause_of.append(c)
    clause_idf: dict[int, set[str]] = {}
    for i in range(n):
        clause_idf.setdefault(clause_of[i], set()).update(term_at[i] & terms)

    base = np.zeros(len(SPAN_FEATURES))
    base[_COL[f"wh_{view.wh}"]] = 1
    base[_COL[f"kind_{view.question.kind}"]] = 1
    for name, value in zip(SENTENCE_COLUMNS, sentence_row):
        base[_COL[name]] = value
    first_word = text[starts[0]:ends[0]].lower() if n else ""
    pronoun_open = float(first_word in _PRONOUN_OPENERS)
    prev_lexical = 0.0
    if prev_tokens:
        present = {t for _, _, t in prev_tokens} & terms
        prev_lexical = sum(idf.get(t, 0.0) for t in present) / total_idf
    base[_COL["s_prev_lexical"]] = prev_lexical
    base[_COL["s_pronoun_open"]] = pronoun_open
    base[_COL["s_tokens"]] = n
    base[_COL["s_soft_cover"]] = soft_cover
    base[_COL["s_soft_min"]] = soft_min
    base[_COL["q_terms"]] = len(view.question.terms)
    base[_COL["q_has_head"]] = float(view.head is not None)
    base[_COL["candidates_in_sentence"]] = len(cands)
    lead = view.question.lead
    low_text = text.lower()

    rows = np.tile(base, (len(cands), 1))
    before_of: dict[int, tuple[float, float]] = {}
    for r, con in enumerate(cands):
        row = rows[r]
        first, last, h = con.first, con.last, con.head
        label_cols = _label_cols(con.labels)
        row[label_cols] = 1
        row[_COL["label_count"]] = len(label_cols)
        row[_POS_COL.get(pos[h], _POS_OTHER)] = 1
        row[_DEP_COL.get(deps[h], _DEP_OTHER)] = 1
        hh = heads[h]
        row[_HDEP_COL.get(deps[hh], _HDEP_OTHER) if 0 <= hh < n else _HDEP_OTHER] = 1
        span_text = text[con.start:con.end]
        width = last - first
        row[_COL["n_tokens"]] = width
        row[_COL["n_chars"]] = len(span_text)
        row[_COL["share_of_sentence"]] = width / n
        row[_COL["has_digit"]] = float(bool(_DIGIT.search(span_text)))
        words = span_text.split()
        row[_COL["cap_share"]] = sum(w[:1].isupper() for w in words) / len(words)
        row[_COL["starts_det"]] = float(pos[first] == "DET")
        inside_terms = set().union(*term_at[first:last]) if width else set()
        repeats = inside_terms & terms
        row[_COL["repeat_share"]] = len(repeats) / len(inside_terms) if inside_terms else 0.0
        row[_COL["repeat_count"]] = sum(idf.get(t, 0.0) for t in repeats) / total_idf
        row[_COL["all_repeat"]] = float(bool(inside_terms) and repeats == inside_terms)
        left = [first - i for i in matched_idx if i < first]
        right = [i - last + 1 for i in matched_idx if i >= last]
        gl = min(left) if left else 99
        gr = min(right) if right else 99
        row[_COL["gap_left"]] = gl
        row[_COL["gap_right"]] = gr
        row[_COL["gap_min"]] = min(gl, gr)
        outside = [i for i in matched_idx if i < first or i >= last]
        row[_COL["tree_dist"]] = min((dist_from[i][h] for i in outside), default=99)
        soft_out = [i for i in soft_idx if i < first or i >= last]
        row[_COL["soft_tree_dist"]] = min((dist_from[i][h] for i in soft_out), default=99)
        row[_COL["soft_gap_min"]] = min((first - i if i < first else i - last + 1 for i in soft_out),
                                        default=99)
        row[_COL["inside_sim"]] = max(sim_list[first:last])
        # The word the candidate hangs from: "[the new president of Kazakhstan], [Tokayev]".
        parent = heads[h] if 0 <= heads[h] < n and heads[h] != h else None
        if parent is not None and not first <= parent < last:
            row[_COL["parent_match"]] = float(matched[parent]) + float(parent in soft)
            row[_COL["parent_sim"]] = float(token_sim[parent])
            row[_COL["appos_match"]] = float(deps[h] == "appos" and parent in soft)
            grand = heads[parent]
            if 0 <= grand < n and grand != parent and not first <= grand < last:
                row[_COL["grandparent_match"]] = float(matched[grand]) + float(grand in soft)
        else:
            row[_COL["parent_sim"]] = -1.0
        row[_COL["head_sim"]] = head_sim[h] if head_sim[h] is not None else -1.0
        row[_COL["head_sim_max"]] = max((v for v in head_sim[first:last] if v is not None),
                                        default=-1.0)
        row[_COL["matched_near5"]] = sum(1 for i in outside if min(abs(i - first), abs(i - last + 1)) <= 5)
        row[_COL["matched_near10"]] = sum(1 for i in outside if min(abs(i - first), abs(i - last + 1)) <= 10)
        clause_terms = set().union(*(clause_idf[c] for c in dict.fromkeys(clause_of[first:last]))) - repeats
        row[_COL["clause_match"]] = sum(idf.get(t, 0.0) for t in clause_terms) / total_idf
        # The verb that governs the candidate: is it one of the question's words?
        g, steps = h, 0
        while steps < 8 and pos[g] not in ("VERB", "AUX") and heads[g] != g:
            g, steps = heads[g], steps + 1
        row[_COL["verb_match"]] = float(pos[g] in ("VERB", "AUX") and not first <= g < last
                                        and bool(term_at[g] & terms))
        row[_COL["verb_sim"]] = float(token_sim[g]) if pos[g] in ("VERB", "AUX") \
            and not first <= g < last else -1.0
        if view.head:
            row[_COL["head_in"]] = float(view.head in inside_terms)
            window = set().union(*term_at[max(0, first - 3):first], *term_at[last:last + 3])
            row[_COL["head_near"]] = float(view.head in window)
        shape = before_of.get(con.start)
        if shape is None:   # constituents often share a start: "[the [new] president]"
            before = low_text[max(0, con.start - 40):con.start]
            before = TRAILING_THE.sub(" ", before).rstrip()
            shape = before_of[con.start] = (float(bool(lead) and before.endswith(lead)),
                                            float(bool(AGENT.search(before))))
        row[_COL["lead_before"]], row[_COL["agent_before"]] = shape
        row[_COL["position"]] = first / n
        row[_COL["is_year"]] = float(bool(_YEAR.fullmatch(span_text)))
    return cands, rows


def _distances(source: int, neighbours: list[list[int]]) -> list[int]:
    """Edges from ``source`` to every node of a tree (99 where unreachable)."""
    dist = [99] * len(neighbours)
    dist[source] = 0
    frontier = [source]
    while frontier:
        nxt = []
        for i in frontier:
            for j in neighbours[i]:
                if dist[j] == 99:
                    dist[j] = dist[i] + 1
                    nxt.append(j)
        frontier = nxt
    return dist
