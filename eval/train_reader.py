"""Fit the reader's logistic models (``qa/reader_model.json``) on SQuAD-format data.

    python -m eval.train_reader SQUAD.json [...] [--out qa/reader_model.json] [--fit-sentence] [--cross]

1. Every question is retrieved (top_k passages, as ``QA.ask`` does) and each
   candidate sentence gets its features (``qa.read.sentence_candidates``);
   a sentence is labelled by whether it contains a gold answer, and its
   span by whether its F1 with a gold answer is at least 0.5.
2. The sentence model is kept from ``--out`` (the shipped, hand-set one),
   or with ``--fit-sentence`` fitted on the answerable questions.
3. The confidence model is fitted on every question's best candidate
   (unanswerable ones included, always labelled wrong). When the sentence
   model is fitted too, the confidence model sees out-of-fold sentence
   probabilities, or it would learn the fitted model's over-confidence.
4. With ``--cross``, the fit is also repeated without each article and
   evaluated (``eval.evaluate``) on the article left out, so the weights are
   judged on data they were not fitted on.

The result overwrites ``--out``: point it elsewhere to experiment.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.data import EvalQuestion, load_questions
from eval.metrics import CORRECT_F1, contains_answer, f1
from qa import QA
from qa.config import DEFAULT_TOP_K
from qa.api import clean_question
from qa.question import analyze_question
from qa.read import (CONFIDENCE_FEATURES, FEATURES, MODEL_PATH, Logistic, ReaderModel,
                     confidence_features, load_reader_model, sentence_candidates)
from qa.retrieve import retrieve

FOLDS = 5
C = 1.0  # inverse L2 strength (scikit-learn's default); features are on similar scales


@dataclass(frozen=True)
class QuestionRows:
    question: EvalQuestion
    x: np.ndarray            # (candidates, len(FEATURES))
    holds_gold: np.ndarray   # (candidates,) bool: the sentence contains a gold answer
    right: np.ndarray        # (candidates,) bool: the candidate's span has F1 >= 0.5


def collect(bot: QA, questions: list[EvalQuestion], *, top_k: int = DEFAULT_TOP_K,
            progress: bool = True) -> list[QuestionRows]:
    from tqdm.auto import tqdm

    rows = []
    for q in tqdm(questions, desc="Features", unit="question", disable=not progress, leave=False):
        # As QA.ask does: clean, encode once, retrieve, then read.
        text = clean_question(q.question)
        vector = bot.encoder.embed_texts([text])[0]
        hits = retrieve(text, vector, bot.index, top_k=top_k)
        cands = sentence_candidates(analyze_question(text), vector, hits, bot.index)
        if not cands:
            continue
        texts = [bot.index.documents[c.sentence.doc_id].text[c.span[0]:c.span[1]] if c.span
                 else c.sentence.text for c in cands]
        rows.append(QuestionRows(
            q, np.array([c.features for c in cands]),
            np.array([bool(q.answers) and contains_answer(c.sentence.text, q.answers) for c in cands]),
            np.array([bool(q.answers) and f1(t, q.answers) >= CORRECT_F1 for t in texts])))
    return rows


def _fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        raise ValueError("training data has a single class; need right and wrong examples")
    lr = LogisticRegression(C=C, max_iter=2000).fit(x, y)
    return Logistic(names, tuple(float(c) for c in lr.coef_[0]), float(lr.intercept_[0]))


def _fit_sentence(rows: list[QuestionRows]) -> Logistic:
    answerable = [r for r in rows if r.question.answers]
    return _fit_logistic(np.vstack([r.x for r in answerable]),
                         np.concatenate([r.holds_gold for r in answerable]), FEATURES)


def fit_reader(rows: list[QuestionRows], *, prior: ReaderModel, fit_sentence: bool = False,
               folds: int = FOLDS, seed: int = 0) -> ReaderModel:
    """A reader model from ``rows`` (see the module docstring).

    Without ``fit_sentence`` the sentence model is ``prior``'s, and the
    confidence model is fitted on every question's best candidate under it.
    With it, the sentence model is fitted too, and the confidence model sees
    cross-fitted (out-of-fold) sentence probabilities."""
    order = np.random.default_rng(seed).permutation(len(rows))
    conf_x, conf_y = [], []
    for k in range(folds if fit_sentence else 1):
        held = set(order[k::folds].tolist()) if fit_sentence else set(range(len(rows)))
        model = _fit_sentence([r for i, r in enumerate(rows) if i not in held]) \
            if fit_sentence else prior.sentence
        for i in held:
            r = rows[i]
            p = model.predict(r.x)
            top = int(np.argmax(p))
            conf_x.append(confidence_features(p, r.x)[top])
            conf_y.append(bool(r.right[top]))
    sentence = _fit_sentence(rows) if fit_sentence else prior.sentence
    return ReaderModel(sentence, _fit_logistic(np.array(conf_x), np.array(conf_y),
                                               CONFIDENCE_FEATURES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.train_reader", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", metavar="SQUAD_JSON")
    parser.add_argument("--out", default=str(MODEL_PATH), help=f"default {MODEL_PATH}")
    parser.add_argument("--index-dir", metavar="DIR")
    parser.add_argument("--cross", action="store_true",
                        help="also fit on all articles but one and evaluate on that one")
    parser.add_argument("--cross-out", metavar="DIR", help="write each held-out evaluation here")
    parser.add_argument("--fit-sentence", action="store_true",
                        help="also fit the sentence model (default: keep the one in --out)")
    args = parser.parse_args(argv)
    from eval.cli import documents_root
    from eval.run import evaluate
    from qa.cli import setup_logging

    setup_logging(quiet=False)
    sets = [load_questions(f) for f in args.files]
    if any(s.format != "squad" for s in sets):
        raise SystemExit("error: train_reader takes SQuAD files (their articles are the documents)")
    folders = [s.write_documents(documents_root()) for s in sets]
    bot = QA.load(folders, index_dir=args.index_dir, progress=True)
    questions = [q for s in sets for q in s.questions]
    rows = collect(bot, questions)
    prior = load_reader_model(Path(args.out))
    model = fit_reader(rows, prior=prior, fit_sentence=args.fit_sentence)
    summary = {"trained_on": [str(s.path) for s in sets], "questions": len(rows),
               "sentence_model": "fitted" if args.fit_sentence else "kept from the previous file",
               "date": time.strftime("%Y-%m-%d"),
               "command": "python -m eval.train_reader " + " ".join(argv or sys.argv[1:])}
    Path(args.out).write_text(json.dumps({**model.to_dict(), "about": summary}, indent=2) + "\n",
                              encoding="utf-8")
    print(f"wrote {args.out}: sentence model over {len(FEATURES)} features, "
          f"confidence model over {len(CONFIDENCE_FEATURES)}, from {len(rows)} questions")
    if args.cross:
        groups = sorted({r.question.group for r in rows})
        for held in groups:
            train = [r for r in rows if r.question.group != held]
            test = [r.question for r in rows if r.question.group == held]
            bot.reader_model = fit_reader(train, prior=prior, fit_sentence=args.fit_sentence)
            result = evaluate(bot, test, progress=True)
            m = result.metrics
            print(f"\nfitted without {held!r}, evaluated on its {len(test)} questions:")
            print(json.dumps({k: m[k] for k in ("sentence_accuracy", "has_answer_exact_match",
                                                 "has_answer_f1", "no_answer_accuracy",
                                                 "false_abstention_rate", "best_threshold",
                                                 "best_f1", "ece", "categories")}))
            if args.cross_out:
                out = Path(args.cross_out) / held
                out.mkdir(parents=True, exist_ok=True)
                (out / "metrics.json").write_text(json.dumps(m, indent=2))
                (out / "predictions.jsonl").write_text(
                    "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.predictions))
        bot.reader_model = model
    return 0


if __name__ == "__main__":
    sys.exit(main())
