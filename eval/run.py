"""Run a question set through a ``QA`` and collect per-question rows and metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass

from eval.data import EvalQuestion, QuestionSet
from eval.metrics import (RECALL_KS, Outcome, compute_metrics, contains_answer, error_category,
                          score, threshold_sweep)
from qa import QA, InputError
from qa.config import DEFAULT_TOP_K

WARM_UP = "What is this document about?"   # asked once before the timed questions


@dataclass(frozen=True)
class EvalResult:
    metrics: dict              # see eval.metrics.compute_metrics, plus "index" and "top_k"
    predictions: list[dict]    # one row per question, as written to predictions.jsonl
    sweep: list[tuple[float, float, float, float]]   # eval.metrics.threshold_sweep


def evaluate(bot: QA, questions: QuestionSet | list[EvalQuestion], *, top_k: int = DEFAULT_TOP_K,
             progress: bool = False) -> EvalResult:
    """Ask every question, score the replies and the retrieval.

    Retrieval is scored on the ranking to depth 10 (recall@1/3/5/10, MRR),
    independent of abstention; the answer on the ``top_k`` passages read. Both
    come from ``bot.ask_traced``: each question is encoded once. Latency is the
    wall time of that call, after one warm-up question.

    >>> result = evaluate(QA.load(), load_questions("dev.jsonl"))
    >>> result.metrics["has_answer_f1"]
    """
    items = list(questions.questions if isinstance(questions, QuestionSet) else questions)
    if not items:
        raise InputError("no questions to evaluate")
    if top_k <= 0:
        raise InputError(f"top_k must be > 0, got {top_k}")
    from tqdm.auto import tqdm

    bot.ask(WARM_UP, top_k=top_k)  # lazy model loads and caches, not timed (not a question of the set)
    rows, outcomes = [], []
    depth = max(max(RECALL_KS), top_k)
    for q in tqdm(items, desc="Answering", unit="question", disable=not progress, leave=False):
        t0 = time.perf_counter()
        # One encoding per question: the reply, and the ranking to ``depth`` for recall.
        (reply, trace), = bot.ask_traced([q.question], top_k=top_k, depth=depth)
        latency = (time.perf_counter() - t0) * 1000
        ranking = trace.ranking
        gold_rank = next((i for i, h in enumerate(ranking, start=1)
                          if q.answers and contains_answer(h.chunk.text, q.answers)), None)
        prediction = reply.answer.text if reply.answer else None
        em, f1_value = score(prediction, q.answers)
        top = reply.answers[0] if reply.answers else None
        top_em, top_f1 = score(top.text, q.answers) if (top and q.answers) else (0.0, 0.0)
        outcome = Outcome(
            answerable=q.answerable, abstained=reply.answer is None, em=em, f1=f1_value,
            top_confidence=top.confidence if top else None, top_em=top_em, top_f1=top_f1,
            sentence_has_gold=bool(top and q.answers and contains_answer(top.sentence, q.answers)),
            gold_rank=gold_rank, latency_ms=latency)
        outcomes.append(outcome)
        rows.append({
            "id": q.id, "question": q.question, "gold": list(q.answers),
            "prediction": prediction, "abstained": reply.answer is None,
            "confidence": round(top.confidence, 4) if top else None,
            "candidate": top.text if top else None,
            "sentence": top.sentence if top else None,
            "doc_id": top.doc_id if top else None,
            "start": top.start if top else None, "end": top.end if top else None,
            "sentence_start": top.sentence_start if top else None,
            "sentence_end": top.sentence_end if top else None,
            "page": top.page if top else None, "section": top.section if top else None,
            "kind": top.kind if top else None,
            "em": em, "f1": round(f1_value, 4),
            "category": error_category(outcome, top_k),
            "gold_rank": gold_rank,
            "passages": [{"doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id,
                          "start": h.chunk.start, "end": h.chunk.end, "score": round(h.score, 6)}
                         for h in reply.passages],
            "latency_ms": round(latency, 2),
        })
    metrics = compute_metrics(outcomes, threshold=bot.threshold)
    metrics["threshold_source"] = bot.threshold_source
    metrics["top_k"] = top_k
    categories: dict[str, int] = {}
    for row in rows:
        categories[row["category"]] = categories.get(row["category"], 0) + 1
    metrics["categories"] = dict(sorted(categories.items(), key=lambda kv: -kv[1]))
    manifest = bot.index.manifest
    metrics["index"] = {
        "format_version": manifest.format_version, "model": manifest.to_dict()["model"],
        "config": manifest.config,
        "documents": [{"doc_id": d.doc_id, "sha256": d.sha256} for d in manifest.documents],
    }
    return EvalResult(metrics, rows, threshold_sweep(outcomes))
