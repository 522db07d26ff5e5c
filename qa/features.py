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

``candidate_rows`` returns one row per candidate of a sentence, columns in
``SPAN_FEATURES``; ``candidate_rows_many`` does several sentences in one pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

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


# The words before a span, without a trailing "the" or punctuation; a passive
# agent ("... by [the engineer]") at their end. ``words_before`` matches their
# mirror images at the start of the reversed text instead: the same answers
# (tests/qa/test_features.py), 3.5x faster, as a pattern ending in "$" is tried
# at every position of the text.
TRAILING_THE = re.compile(r"(?:\bthe\s+|[\s,–—-])+$")
AGENT = re.compile(r"\bby(?:\s+[\w'’-]+){0,3}$")
_TRAILING_THE_REVERSED = re.compile(r"(?:\s+eht\b|[\s,–—-])+")
_AGENT_REVERSED = re.compile(r"(?:[\w'’-]+\s+){0,3}yb\b")
_YEAR = re.compile(r"\d{3,4}s?")


def words_before(text: str, start: int) -> tuple[str, bool]:
    """The (up to) 40 characters of ``text`` before ``start``, lower-cased,
    without what ``TRAILING_THE`` matches and trailing space; and whether
    they end in a passive agent (``AGENT``)."""
    before = text[max(0, start - 40):start].lower()
    backwards = before[::-1]
    cut = _TRAILING_THE_REVERSED.match(backwards)
    if cut:
        before, backwards = before[:len(before) - cut.end()], backwards[cut.end():]
    before = before.rstrip()
    backwards = backwards[len(backwards) - len(before):]
    return before, _AGENT_REVERSED.match(backwards) is not None


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
    return candidate_rows_many(view, [(text, sentence_id, sentence_row, prev_tokens)], analysis)[0]


def candidate_rows_many(view: QuestionView, sentences: list[tuple[str, int, list[float], list | None]],
                        analysis: SentenceAnalysis) -> list[tuple[list[Constituent], np.ndarray]]:
    """``candidate_rows`` of several sentences at once: ``sentences`` holds
    ``(text, sentence_id, sentence_row, prev_tokens)`` for each, and the result
    one ``(constituents, rows)`` per sentence, in order.

    The sentences' tokens are laid end to end, and most columns are computed
    for all their constituents together, from arrays of shape (constituents,
    tokens) such as "token j lies inside constituent i" (a constituent's
    words never reach another sentence's: masks keep each to its own)."""
    out: list = [None] * len(sentences)
    terms, idf = view.terms, view.idf
    total_idf = math.fsum(idf.values()) or 1.0
    question_terms = sorted(terms)
    q = len(question_terms)
    vocabulary = {t: i for i, t in enumerate(question_terms)}   # the question's terms first
    weight = np.array([idf.get(t, 0.0) for t in question_terms])
    vectors = analysis.vectors
    use_vectors = bool(len(view.vectors) and len(vectors)
                       and vectors.shape[1] == view.vectors.shape[1])
    hv = view.head_vector

    # Per sentence, in Python: its constituents, parse and terms. Token and
    # constituent indices below are into all the sentences' tokens, end to end.
    kept: list[int] = []                # the sentences that have constituents
    texts: list[str] = []
    cands: list[Constituent] = []
    cand_sentence: list[int] = []       # per constituent: its sentence, among ``kept``
    bounds = [0]                        # sentence i's constituents: cands[bounds[i]:bounds[i + 1]]
    tree_heads: list[list[int]] = []    # per sentence: its parse's heads, sentence-relative
    offsets: list[int] = []
    sizes: list[int] = []
    pos: list[str] = []
    deps: list[str] = []
    heads: list[int] = []               # -1 for a head outside the sentence
    clause_of: list[int] = []           # clause ids, never shared by two sentences
    holds_r: list[int] = []
    holds_c: list[int] = []
    sims: list[np.ndarray] = []
    head_sims: list[np.ndarray] = []
    bases: list[np.ndarray] = []
    clause = 0
    for k, (text, sentence_id, sentence_row, prev_tokens) in enumerate(sentences):
        these = analysis.constituents(sentence_id)
        if not these:
            out[k] = ([], np.zeros((0, len(SPAN_FEATURES))))
            continue
        starts, ends, s_pos, s_deps, s_heads, _, _ = analysis.parse(sentence_id)
        n, offset = len(starts), len(pos)
        # Which of our terms each parser token holds (by our terms' offsets).
        j0 = 0
        for s, e, t in analysis.tokens(sentence_id):
            while j0 < n and ends[j0] <= s:
                j0 += 1
            j = j0
            col = vocabulary.setdefault(t, len(vocabulary))
            while j < n and starts[j] < e:
                holds_r.append(offset + j)
                holds_c.append(col)
                j += 1
        # Clause boundaries for clause_match: punctuation tokens split clauses.
        clause += 1
        for i in range(n):
            if s_pos[i] == "PUNCT" and text[starts[i]:ends[i]] in ",;:()–—-":
                clause += 1
            clause_of.append(clause)
        # Similarity of each token's lemma to the nearest question word (-1: no
        # vector), and to the question's head noun (its first word's vector).
        token_sim = np.full(n, -1.0)
        head_sim = np.full(n, -np.inf)
        soft_cover = soft_min = -1.0
        if use_vectors:
            rows_v = analysis.token_vector_rows(sentence_id)
            have = np.flatnonzero(rows_v >= 0)
            if len(have):
                v = np.asarray(vectors[rows_v[have]], dtype=np.float32)
                word_sims = v @ view.vectors.T                 # (tokens with vectors, words)
                token_sim[have] = word_sims.max(axis=1)
                per_word = word_sims.max(axis=0)    # each question word's best match in the sentence
                soft_cover, soft_min = float(per_word.mean()), float(per_word.min())
                if hv is not None:
                    head_sim[have] = [float(row @ hv) for row in v]
        sims.append(token_sim)
        head_sims.append(head_sim)
        # The columns every constituent of the sentence shares.
        base = np.zeros(len(SPAN_FEATURES))
        for name, value in zip(SENTENCE_COLUMNS, sentence_row):
            base[_COL[name]] = value
        first_word = text[starts[0]:ends[0]].lower() if n else ""
        prev_lexical = 0.0
        if prev_tokens:
            present = {t for _, _, t in prev_tokens} & terms
            prev_lexical = math.fsum(idf.get(t, 0.0) for t in present) / total_idf
        base[_COL["s_prev_lexical"]] = prev_lexical
        base[_COL["s_pronoun_open"]] = float(first_word in _PRONOUN_OPENERS)
        base[_COL["s_tokens"]] = n
        base[_COL["s_soft_cover"]] = soft_cover
        base[_COL["s_soft_min"]] = soft_min
        base[_COL["candidates_in_sentence"]] = len(these)
        bases.append(base)
        pos += s_pos
        deps += s_deps
        heads += [offset + h if 0 <= h < n else -1 for h in s_heads]
        cand_sentence += [len(kept)] * len(these)
        cands += these
        bounds.append(len(cands))
        tree_heads.append(s_heads)
        kept.append(k)
        texts.append(text)
        offsets.append(offset)
        sizes.append(n)
    if not kept:
        return out

    n_all = len(pos)
    token = np.arange(n_all)
    token_sentence = np.repeat(np.arange(len(kept)), sizes)
    holds = np.zeros((n_all, len(vocabulary)), dtype=np.float32)
    holds[holds_r, holds_c] = 1.0
    matched = holds[:, :q].any(axis=1)
    token_sim = np.concatenate(sims)
    head_sims = np.concatenate(head_sims)
    soft = matched | (token_sim >= SOFT_MATCH)
    clause_of = np.array(clause_of)
    heads_arr = np.array(heads, dtype=np.intp)

    rows = np.stack(bases)[cand_sentence]
    rows[:, _COL[f"wh_{view.wh}"]] = 1
    rows[:, _COL[f"kind_{view.question.kind}"]] = 1
    rows[:, _COL["q_terms"]] = len(view.question.terms)
    rows[:, _COL["q_has_head"]] = float(view.head is not None)
    cols = rows.T        # a view: cols[k] is column k

    # What the candidate is.
    sentence = np.array(cand_sentence)
    offset = np.array(offsets)[sentence]
    size = np.array(sizes)[sentence]
    first = np.array([con.first for con in cands]) + offset
    last = np.array([con.last for con in cands]) + offset
    head = np.array([con.head for con in cands]) + offset
    head_list = head.tolist()
    labels = np.array([con.labels for con in cands])
    bits = (labels[:, None] >> np.arange(len(_LABEL_COLS))) & 1
    rows[:, _LABEL_COLS] = bits
    cols[_COL["label_count"]] = bits.sum(axis=1)
    head_of_head = heads_arr[head]
    every = np.arange(len(cands))
    rows[every, [_POS_COL.get(pos[h], _POS_OTHER) for h in head_list]] = 1
    rows[every, [_DEP_COL.get(deps[h], _DEP_OTHER) for h in head_list]] = 1
    rows[every, [_HDEP_COL.get(deps[hh], _HDEP_OTHER) if hh >= 0 else _HDEP_OTHER
                 for hh in head_of_head.tolist()]] = 1
    cols[_COL["n_tokens"]] = last - first
    cols[_COL["share_of_sentence"]] = (last - first) / size
    cols[_COL["position"]] = (first - offset) / size
    cols[_COL["starts_det"]] = [pos[f] == "DET" for f in first.tolist()]
    spans = [texts[k][con.start:con.end] for k, con in zip(cand_sentence, cands)]
    cols[_COL["n_chars"]] = [len(span) for span in spans]
    cols[_COL["has_digit"]] = [_DIGIT.search(span) is not None for span in spans]
    cols[_COL["is_year"]] = [_YEAR.fullmatch(span) is not None for span in spans]
    cap_share = []
    for span in spans:
        words = span.split()
        cap_share.append(len([w for w in words if w[:1].isupper()]) / len(words))
    cols[_COL["cap_share"]] = cap_share

    # Which of the question's terms it repeats, and those of its clause.
    own = token_sentence == sentence[:, None]           # (candidates, tokens): the same sentence
    inside = (token >= first[:, None]) & (token < last[:, None])
    inside_terms = (inside.astype(np.float32) @ holds) > 0      # (candidates, terms)
    n_inside = inside_terms.sum(axis=1)
    repeats = inside_terms[:, :q]
    n_repeats = repeats.sum(axis=1)
    cols[_COL["repeat_share"]] = np.where(n_inside > 0, n_repeats / np.maximum(n_inside, 1), 0.0)
    cols[_COL["repeat_count"]] = (repeats @ weight) / total_idf
    cols[_COL["all_repeat"]] = (n_inside > 0) & (n_repeats == n_inside)
    in_clauses = (clause_of >= clause_of[first][:, None]) & (clause_of <= clause_of[last - 1][:, None])
    clause_terms = ((in_clauses.astype(np.float32) @ holds[:, :q]) > 0) & ~repeats
    cols[_COL["clause_match"]] = (clause_terms @ weight) / total_idf
    head_col = vocabulary.get(view.head) if view.head else None
    if head_col is not None:
        cols[_COL["head_in"]] = inside_terms[:, head_col]
        window = own & (((token >= first[:, None] - 3) & (token < first[:, None]))
                        | ((token >= last[:, None]) & (token < last[:, None] + 3)))
        cols[_COL["head_near"]] = (window & (holds[:, head_col] > 0)).any(axis=1)

    # Where it sits: token gaps and tree distances to the question's words
    # outside it (in its own sentence).
    cols[_COL["inside_sim"]] = np.where(inside, token_sim, -np.inf).max(axis=1)
    cols[_COL["head_sim_max"]] = np.where((inside & (head_sims > -np.inf)).any(axis=1),
                                          np.where(inside, head_sims, -np.inf).max(axis=1), -1.0)
    cols[_COL["head_sim"]] = np.where(head_sims[head] > -np.inf, head_sims[head], -1.0)
    m = np.flatnonzero(matched)
    s = np.flatnonzero(soft)
    before = (m < first[:, None]) & own[:, m]
    after = (m >= last[:, None]) & own[:, m]
    outside = before | after
    gap_left = _least(np.where(before, first[:, None] - m, _FAR))
    gap_right = _least(np.where(after, m - last[:, None] + 1, _FAR))
    cols[_COL["gap_left"]] = gap_left
    cols[_COL["gap_right"]] = gap_right
    cols[_COL["gap_min"]] = np.minimum(gap_left, gap_right)
    # Tree distances from each softly matched token to each candidate's head
    # (breadth-first search over the undirected dependency tree, one sentence
    # at a time; 99 between sentences).
    soft_col = np.cumsum(soft) - 1                  # a soft token's column in to_head
    to_head = np.full((len(cands), len(s)), 99)
    for i, (o, n) in enumerate(zip(offsets, sizes)):
        sources = s[(s >= o) & (s < o + n)]
        if len(sources):
            dist = _distances((sources - o).tolist(), tree_heads[i])
            these = slice(bounds[i], bounds[i + 1])
            to_head[these, soft_col[sources]] = dist[:, head[these] - o].T
    cols[_COL["tree_dist"]] = _least(np.where(outside, to_head[:, soft_col[m]], _FAR))
    s_before = (s < first[:, None]) & own[:, s]
    s_after = (s >= last[:, None]) & own[:, s]
    cols[_COL["soft_tree_dist"]] = _least(np.where(s_before | s_after, to_head, _FAR))
    cols[_COL["soft_gap_min"]] = _least(np.where(s_before, first[:, None] - s,
                                                 np.where(s_after, s - last[:, None] + 1, _FAR)))
    near = np.minimum(np.abs(m - first[:, None]), np.abs(m - last[:, None] + 1))
    cols[_COL["matched_near5"]] = (outside & (near <= 5)).sum(axis=1)
    cols[_COL["matched_near10"]] = (outside & (near <= 10)).sum(axis=1)

    # The word the candidate hangs from ("[the new president of Kazakhstan],
    # [Tokayev]"), outside it, and that word's own head.
    parent = head_of_head
    has_parent = (parent >= 0) & (parent != head)
    parent = np.where(has_parent, parent, 0)
    has_parent &= (parent < first) | (parent >= last)
    score = matched.astype(np.float64) + soft
    cols[_COL["parent_match"]] = np.where(has_parent, score[parent], 0.0)
    cols[_COL["parent_sim"]] = np.where(has_parent, token_sim[parent], -1.0)
    appos = np.array([deps[h] == "appos" for h in head_list])
    cols[_COL["appos_match"]] = has_parent & appos & soft[parent]
    grand = heads_arr[parent]
    has_grand = has_parent & (grand >= 0) & (grand != parent)
    grand = np.where(has_grand, grand, 0)
    has_grand &= (grand < first) | (grand >= last)
    cols[_COL["grandparent_match"]] = np.where(has_grand, score[grand], 0.0)
    # The verb that governs the candidate: is it one of the question's words?
    verb_of: dict[int, int] = {}
    for h in head_list:
        if h not in verb_of:
            g, steps = h, 0
            while steps < 8 and pos[g] not in ("VERB", "AUX") and 0 <= heads[g] != g:
                g, steps = heads[g], steps + 1
            verb_of[h] = g
    verb = np.array([verb_of[h] for h in head_list])
    is_verb = np.array([pos[g] in ("VERB", "AUX") for g in verb.tolist()]) & (
        (verb < first) | (verb >= last))
    cols[_COL["verb_match"]] = is_verb & matched[verb]
    cols[_COL["verb_sim"]] = np.where(is_verb, token_sim[verb], -1.0)

    # The words before it: the question's own lead ("According to [...]"), a
    # passive agent ("by [...]"). Constituents often share a start.
    lead = view.question.lead
    before_of: dict[tuple[int, int], tuple[float, float]] = {}
    shapes = []
    for k, con in zip(cand_sentence, cands):
        shape = before_of.get((k, con.start))
        if shape is None:
            words, agent = words_before(texts[k], con.start)
            shape = before_of[k, con.start] = (float(bool(lead) and words.endswith(lead)),
                                               float(agent))
        shapes.append(shape)
    rows[:, [_COL["lead_before"], _COL["agent_before"]]] = shapes

    for i, k in enumerate(kept):
        out[k] = (cands[bounds[i]:bounds[i + 1]], rows[bounds[i]:bounds[i + 1]])
    return out


_FAR = 1 << 30      # "no such token", before it becomes the features' 99


def _least(values: np.ndarray) -> np.ndarray:
    """Each row's smallest value, or 99 for a row of ``_FAR`` (or no columns)."""
    least = values.min(axis=1, initial=_FAR)
    return np.where(least == _FAR, 99, least)


def _distances(sources: list[int], heads: list[int]) -> np.ndarray:
    """Edges of the dependency tree (``heads``: each token's head, itself at the
    root) from each of ``sources`` to every token: shape ``(sources, tokens)``,
    99 where unreachable."""
    n = len(heads)
    token = np.arange(n)
    head = np.asarray(heads, dtype=np.intp).reshape(n)
    linked = (head != token) & (head >= 0) & (head < n)
    edges = np.zeros((n, n), dtype=np.float32)
    edges[head[linked], token[linked]] = edges[token[linked], head[linked]] = 1.0
    dist = np.full((len(sources), n), 99, dtype=np.int64)
    frontier = np.zeros((len(sources), n), dtype=np.float32)
    frontier[np.arange(len(sources)), sources] = 1.0
    dist[frontier > 0] = 0
    step = 0
    while frontier.any():
        step += 1
        reached = ((frontier @ edges) > 0) & (dist == 99)
        dist[reached] = step
        frontier = reached.astype(np.float32)
    return dist
