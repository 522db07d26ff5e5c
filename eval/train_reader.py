"""Fit the reader's models (``qa/reader_model.json``) on SQuAD-format data.

    python -m eval.train_reader ../shared/data/qa-fit.json [--out qa/reader_model.json]

Every question is asked through the query pipeline, ``QA.ask_traced``, of
its own article (the set's articles are the documents: retrieve ``top_k``
passages, read their sentences); its ``Trace`` holds the sentences read, with
their features. The three models of ``qa.read`` are fitted on them in turn:

1. the sentence model (logistic) on every answerable question's sentences,
   labelled by whether the sentence contains a gold answer;
2. the span ranker (LightGBM, LambdaRank over each question's constituents,
   graded by their F1 with the gold answers) on the constituents of the
   sentences that model ranks best;
3. the confidence model (logistic) on each question's best answer, labelled
   right when its F1 is at least 0.5 (unanswerable questions: never right).

Folds are grouped by article (SQuAD's ``title``), so no article is both fitted
and judged. Each model is fitted on what the models before it predict out of
fold, and the figures printed and stored in the model file (``validation``)
come from out-of-fold predictions: no question's own answer was fitted on.
The abstention threshold that maximises the out-of-fold F1 is stored too,
and is the default of ``QA.load``.

The shipped models are the ones fitted without fold ``--hold-out`` (0), so
that fold's questions stay a test set the shipped reader never saw.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from eval.data import EvalQuestion, load_questions
from eval.metrics import CORRECT_F1, calibration_error, contains_answer, exact_match, f1
from qa import QA, InputError
from qa.config import DEFAULT_TOP_K
from qa.features import SPAN_FEATURES
from qa.forest import Forest
from qa.question import Question, analyze_question
from qa.read import (CONFIDENCE_FEATURES, FEATURES, MODEL_PATH, READ_SENTENCES, Logistic,
                     Reading, ReaderModel, best_per_sentence, confidence_features, read_spans)

FOLDS = 5
C = 1.0   # inverse L2 strength of the logistic models (scikit-learn's default)
SPAN_PARAMS = {   # LightGBM; depth is bounded so the numpy walk (qa.forest) stays short
    "objective": "lambdarank", "label_gain": [0, 1, 3, 7, 15, 31], "lambdarank_truncation_level": 10,
    "learning_rate": 0.05, "num_leaves": 31, "max_depth": 8, "min_data_in_leaf": 40,
    "feature_fraction": 0.8, "lambda_l2": 1.0, "verbose": -1, "num_threads": 2, "seed": 0,
    "deterministic": True,
}
GRADES = 5   # a constituent's F1 with the gold answers, in steps of 1/GRADES, is its relevance
SPAN_ROUNDS = 300


def source_of(question_id: str) -> str:
    """The data set a qa-fit question comes from, told by its id (shared/data/SOURCES.md)."""
    if question_id.startswith("english-"):
        return "tydi"
    return {25: "squad2", 24: "xquad"}.get(len(question_id), "other")


@dataclass
class Item:
    """One question with what the reader saw for it."""
    question: EvalQuestion
    fold: int
    source: str
    text: str
    candidates: list           # qa.types.Candidate
    x: np.ndarray              # (sentences, len(FEATURES))
    holds_gold: np.ndarray     # (sentences,) bool
    word_vectors: np.ndarray | None = None   # of qa.features.question_words
    question_analysis: Question | None = None   # of text (qa.question); None: analysed when needed
    reading: Reading | None = None
    labels: np.ndarray | None = None     # per span: F1 with the gold answers


def collect(bot: QA, questions: list[EvalQuestion], *, folds: int, top_k: int = DEFAULT_TOP_K,
            own: dict[str, set[str]] | None = None, progress: bool = True) -> list[Item]:
    """Ask every question, as ``QA.ask`` does, in one ``bot.ask_traced`` batch
    (each question encoded once) and keep what the reader read: its sentences
    with their features and its words' vectors (``Trace``). ``own`` maps an
    article title to its documents' ids; when given, each question is asked
    of its own article only (``within``), as a user asks questions of the
    document in front of them. A question whose passages hold no sentence
    is left out."""
    fold_of = assign_folds(questions, folds)
    within = None if own is None else [own[q.group] for q in questions]
    traced = bot.ask_traced([q.question for q in questions], top_k=top_k, depth=top_k,
                            within=within, candidates=True, progress=progress)
    items = []
    for q, (reply, trace) in zip(questions, traced):
        if not trace.candidates:
            continue
        cands = list(trace.candidates)
        items.append(Item(q, fold_of[q.group or q.id], source_of(q.id), reply.question, cands,
                          np.array([c.features for c in cands]),
                          np.array([bool(q.answers) and contains_answer(c.sentence.text, q.answers)
                                    for c in cands]),
                          trace.word_vectors, question_analysis=trace.question))
    return items


def assign_folds(questions: list[EvalQuestion], folds: int) -> dict[str, int]:
    """Article title -> fold, so every question of an article is in the same
    fold: each source's titles, sorted, are dealt round-robin, so every fold
    gets its share of each source (and of SQuAD 2.0's unanswerable questions)."""
    source: dict[str, str] = {}
    for q in questions:
        source.setdefault(q.group or q.id, source_of(q.id))
    if len(source) < folds:
        raise InputError(f"{len(source)} articles cannot make {folds} folds")
    out: dict[str, int] = {}
    for s in sorted(set(source.values())):
        for i, g in enumerate(sorted(g for g in source if source[g] == s)):
            out[g] = i % folds
    return out


def _fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:   # a tiny set: all right or all wrong; predict the base rate
        rate = min(max(float(np.mean(y)) if len(y) else 0.5, 0.01), 0.99)
        return Logistic(names, (0.0,) * len(names), math.log(rate / (1 - rate)))
    lr = LogisticRegression(C=C, max_iter=5000).fit(x, y)
    return Logistic(names, tuple(float(c) for c in lr.coef_[0]), float(lr.intercept_[0]))


def fit_sentence(items: list[Item]) -> Logistic:
    answerable = [it for it in items if it.question.answers]
    return _fit_logistic(np.vstack([it.x for it in answerable]),
                         np.concatenate([it.holds_gold for it in answerable]), FEATURES)


def add_spans(bot: QA, items: list[Item], sentence: Logistic, progress: bool = True) -> None:
    """Give each item its constituents (under ``sentence``) and their labels."""
    from tqdm.auto import tqdm

    for it in tqdm(items, desc="Constituents", unit="question", disable=not progress, leave=False):
        p = sentence.predict(it.x)
        question = it.question_analysis
        if question is None:
            question = analyze_question(it.text)
        it.reading = read_spans(question, it.candidates, p, bot.index, None,
                                word_vectors=it.word_vectors)
        docs = bot.index.documents
        it.labels = np.array([f1(docs[s.sentence.sentence.doc_id].text[s.start:s.end],
                                 it.question.answers) if it.question.answers else 0.0
                              for s in it.reading.spans])


def fit_span(items: list[Item], rounds: int = SPAN_ROUNDS) -> Forest:
    import lightgbm as lgb

    train = [it for it in items if it.question.answers and len(it.reading.spans)]
    x = np.vstack([np.array([s.row for s in it.reading.spans]) for it in train])
    y = np.round(np.concatenate([it.labels for it in train]) * GRADES).astype(int)
    data = lgb.Dataset(x, y, group=[len(it.reading.spans) for it in train], free_raw_data=True)
    booster = lgb.train(SPAN_PARAMS, data, num_boost_round=rounds)
    return Forest.from_lightgbm(booster.dump_model(), SPAN_FEATURES, link="identity")


def score_spans(items: list[Item], forest: Forest) -> None:
    for it in items:
        rows = np.array([s.row for s in it.reading.spans]).reshape(-1, len(SPAN_FEATURES))
        it.reading = Reading(it.reading.sentences, it.reading.p, it.reading.spans,
                             forest.raw(rows) if len(rows) else np.zeros(0), it.reading.context)


def top_answer(bot: QA, it: Item):
    """``(confidence features of the best answer, its text, its sentence)`` or None."""
    if not it.reading.spans:
        return None
    best = best_per_sentence(it.reading)
    span = it.reading.spans[best[0][0]]
    doc = bot.index.documents[span.sentence.sentence.doc_id]
    return confidence_features(it.reading, best)[0], doc.text[span.start:span.end], \
        span.sentence.sentence.text


def outcomes(bot: QA, items: list[Item]) -> list[dict]:
    rows = []
    for it in items:
        top = top_answer(bot, it)
        golds = it.question.answers
        if top is None:
            rows.append({"item": it, "x": None, "text": None, "em": 0.0, "f1": 0.0, "sentence": False})
            continue
        x, text, sentence = top
        rows.append({"item": it, "x": x, "text": text,
                     "em": exact_match(text, golds) if golds else 0.0,
                     "f1": f1(text, golds) if golds else 0.0,
                     "sentence": bool(golds) and contains_answer(sentence, golds)})
    return rows


def fit_confidence(rows: list[dict]) -> Logistic:
    use = [r for r in rows if r["x"] is not None]
    return _fit_logistic(np.array([r["x"] for r in use]),
                         np.array([r["f1"] >= CORRECT_F1 for r in use]), CONFIDENCE_FEATURES)


def figures(rows: list[dict], threshold: float) -> dict:
    """SQuAD v2 figures of out-of-fold rows (with ``conf`` set) at ``threshold``."""
    answerable = [r for r in rows if r["item"].question.answers]
    unanswerable = [r for r in rows if not r["item"].question.answers]

    def answered(r) -> bool:
        return r["x"] is not None and r["conf"] >= threshold

    def mean(values) -> float | None:
        values = list(values)
        return round(float(np.mean(values)), 4) if values else None

    overall = [(r["f1"] if answered(r) else 0.0) if r["item"].question.answers
               else float(not answered(r)) for r in rows]
    conf = np.array([r["conf"] for r in rows if r["x"] is not None])
    right = np.array([bool(r["item"].question.answers) and r["f1"] >= CORRECT_F1
                      for r in rows if r["x"] is not None])
    return {
        "questions": len(rows), "answerable": len(answerable),
        "has_answer_exact_match": mean(r["em"] if answered(r) else 0.0 for r in answerable),
        "has_answer_f1": mean(r["f1"] if answered(r) else 0.0 for r in answerable),
        "top_f1": mean(r["f1"] for r in answerable),
        "sentence_accuracy": mean(r["sentence"] for r in answerable),
        "no_answer_accuracy": mean(not answered(r) for r in unanswerable),
        "false_abstention_rate": mean(not answered(r) for r in answerable),
        "f1": mean(overall),
        "always_abstain_f1": round(len(unanswerable) / len(rows), 4) if rows else None,
        "ece": round(calibration_error(conf, right.astype(float)), 4),
    }


def choose_threshold(rows: list[dict]) -> float:
    """The threshold that maximises the out-of-fold overall F1 of ``rows``
    (ties: the one nearest 0.5)."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    return float(max(grid, key=lambda t: (figures(rows, t)["f1"], -abs(t - 0.5))))


def cross_fit(bot: QA, items: list[Item], folds: int, progress: bool = True):
    """Out-of-fold sentence, span and confidence predictions for every item.
    Returns the rows of ``outcomes`` (with ``conf`` set) and, per fold, the
    ``ReaderModel`` fitted without it."""
    sentences, forests, confidences = [], [], []
    for k in range(folds):
        held = [it for it in items if it.fold == k]
        sentences.append(fit_sentence([it for it in items if it.fold != k]))
        add_spans(bot, held, sentences[k], progress)
    for k in range(folds):
        log(f"span ranker, fold {k + 1} of {folds}")
        forests.append(fit_span([it for it in items if it.fold != k]))
        score_spans([it for it in items if it.fold == k], forests[k])
    rows = outcomes(bot, items)
    for k in range(folds):
        confidences.append(fit_confidence([r for r in rows if r["item"].fold != k]))
        held = [r for r in rows if r["item"].fold == k]
        x = np.array([r["x"] for r in held if r["x"] is not None])
        conf = iter(confidences[k].predict(x) if len(x) else [])
        for r in held:
            r["conf"] = next(conf) if r["x"] is not None else 0.0
    return rows, [ReaderModel(s, f, c) for s, f, c in zip(sentences, forests, confidences)]


def write_held_out(files: list[str], questions: list[EvalQuestion], folds: int, k: int,
                   out: Path) -> int:
    """Write the articles of fold ``k`` of ``files`` as one SQuAD file at ``out``."""
    from index.files import write_json_atomic

    fold_of = assign_folds(questions, folds)
    data = []
    for f in files:
        for a, article in enumerate(json.loads(Path(f).read_text(encoding="utf-8-sig"))["data"]):
            if fold_of.get(str(article.get("title") or f"article-{a + 1}")) == k:
                data.append(article)
    write_json_atomic(out, {"version": "v2.0", "data": data})
    n = sum(len(p["qas"]) for article in data for p in article["paragraphs"])
    print(f"wrote {out}: fold {k} of {folds}, {len(data)} articles, {n} questions")
    return 0


def articles(sets) -> dict[str, set[str]]:
    """Article title -> the doc_ids of its documents (``QuestionSet.documents``
    keeps the articles' order; a title may repeat)."""
    own: dict[str, set[str]] = {}
    for s in sets:
        data = json.loads(Path(s.path).read_text(encoding="utf-8-sig"))["data"]
        for a, (article, (name, _)) in enumerate(zip(data, s.documents)):
            title = str(article.get("title") or f"article-{a + 1}")
            own.setdefault(title, set()).add(name)
    return own


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.train_reader",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", metavar="SQUAD_JSON")
    parser.add_argument("--out", default=str(MODEL_PATH), help=f"default {MODEL_PATH}")
    parser.add_argument("--index-dir", metavar="DIR")
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--hold-out", type=int, default=0, metavar="K",
                        help="ship the models fitted without fold K (default 0)")
    parser.add_argument("--pooled", action="store_true",
                        help="ask each question of every article at once (default: of its own)")
    parser.add_argument("--write-held-out", metavar="FILE",
                        help="write the held-out fold's articles as a SQuAD file (for "
                             "python -m eval) and stop; fits nothing")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="use only the first N questions (a quick trial)")
    args = parser.parse_args(argv)
    from eval.cli import documents_root
    from qa.cli import setup_logging

    setup_logging(quiet=False)
    sets = [load_questions(f) for f in args.files]
    if any(s.format != "squad" for s in sets):
        raise SystemExit("error: train_reader takes SQuAD files (their articles are the documents)")
    if args.write_held_out:
        return write_held_out(args.files, [q for s in sets for q in s.questions], args.folds,
                              args.hold_out, Path(args.write_held_out))
    folders = [s.write_documents(documents_root()) for s in sets]
    bot = QA.load(folders, index_dir=args.index_dir, progress=True)
    questions = [q for s in sets for q in s.questions][:args.limit]
    log(f"{len(questions)} questions; reading their sentences")
    own = None if args.pooled else articles(sets)
    items = collect(bot, questions, folds=args.folds, own=own)
    rows, models = cross_fit(bot, items, args.folds)
    threshold = choose_threshold(rows)
    validation = {"threshold": threshold, "all": figures(rows, threshold)}
    for source in sorted({it.source for it in items}):
        validation[source] = figures([r for r in rows if r["item"].source == source], threshold)
    # The shipped models are those of one fold: fitted on every other fold, so
    # that fold stays a held-out test set (tests/eval/test_held_out.py).
    k = args.hold_out
    validation["held_out_fold"] = figures([r for r in rows if r["item"].fold == k], threshold)
    fold_of = assign_folds(questions, args.folds)
    held_ids = sorted(q.id for q in questions if fold_of[q.group or q.id] == k)
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in args.files)).hexdigest()
    about = {
        "trained_on": [{"file": Path(f).name, "sha256": hashlib.sha256(Path(f).read_bytes()).hexdigest()}
                       for f in args.files],
        "data_sha256": digest, "questions": len(items), "folds": args.folds,
        "held_out_fold": k, "held_out_questions": len(held_ids),
        "held_out_ids_sha256": hashlib.sha256("\n".join(held_ids).encode()).hexdigest(),
        "fold_groups": "article titles of each source, sorted, dealt round-robin", "read_sentences": READ_SENTENCES,
        "asked_of": "all articles at once" if args.pooled else "each question's own article",
        "span_params": {**SPAN_PARAMS, "rounds": SPAN_ROUNDS, "grades": GRADES},
        "command": "python -m eval.train_reader " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
    }
    model = replace(models[k], threshold=threshold)
    from index.files import write_json_atomic

    write_json_atomic(Path(args.out), {**model.to_dict(), "validation": validation,
                                       "about": about})
    print(json.dumps(validation, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
