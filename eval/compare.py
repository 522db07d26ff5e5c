"""Compare two evaluation runs of the same questions (``python -m eval ... --out DIR``):
how many questions got the identical cited span (or abstained alike, with the
same best candidate), and how far apart each metric is. Used to check that two backends answer alike.

    python -m eval.compare eval-output/embedded eval-output/milvus
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from index.errors import InputError
from qa.cli import EXIT_USAGE, emit, error_line

METRICS = ("exact_match", "f1", "has_answer_exact_match", "has_answer_f1", "sentence_accuracy",
           "no_answer_accuracy", "false_abstention_rate", "mrr", "ece")


def read_run(folder: Path) -> tuple[dict, list[dict]]:
    """``(metrics, predictions)`` of the run in ``folder``; ``InputError`` naming
    the file when one is missing or not what ``python -m eval`` writes."""
    folder = Path(folder)
    current = folder / "metrics.json"
    try:
        metrics = json.loads(current.read_text(encoding="utf-8"))
        current = folder / "predictions.jsonl"
        predictions = [json.loads(line) for line in current.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
        if not isinstance(metrics, dict) or not all(isinstance(p, dict) and "id" in p for p in predictions):
            raise ValueError("not an evaluation run's file")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {str(current)!r}: {exc}") from None
    return metrics, predictions


def cited(p: dict) -> tuple:
    """What a prediction cites: ``(abstained, doc_id, start, end)``, the span
    being the best candidate's when it abstained (None when there was none)."""
    return (bool(p.get("abstained")), p.get("doc_id"), p.get("start"), p.get("end"))


def compare(a: Path, b: Path) -> dict:
    """Questions, identical citations and metric differences of runs ``a`` and ``b``."""
    metrics_a, preds_a = read_run(a)
    metrics_b, preds_b = read_run(b)
    by_id = {p["id"]: p for p in preds_b}
    if sorted(by_id) != sorted(p["id"] for p in preds_a):
        raise InputError(f"{str(a)!r} and {str(b)!r} are runs of different questions")
    same = [p["id"] for p in preds_a if cited(p) == cited(by_id[p["id"]])]
    same_confidence = sum(abs(p["confidence"] - by_id[p["id"]]["confidence"]) < 1e-4
                          for p in preds_a if p["id"] in set(same))
    deltas = {m: round(metrics_b[m] - metrics_a[m], 4) for m in METRICS
              if isinstance(metrics_a.get(m), (int, float)) and isinstance(metrics_b.get(m), (int, float))}
    return {"questions": len(preds_a), "identical_citations": len(same),
            "identical_share": round(len(same) / max(len(preds_a), 1), 4),
            "identical_confidence": same_confidence, "metric_deltas": deltas,
            "max_abs_delta": max((abs(d) for d in deltas.values()), default=0.0),
            "differ": [p["id"] for p in preds_a if p["id"] not in set(same)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("a", metavar="RUN_A", help="an output folder of python -m eval")
    p.add_argument("b", metavar="RUN_B", help="another, of the same questions")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = p.parse_args(argv)
    try:
        result = compare(Path(args.a), Path(args.b))
    except InputError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        emit(json.dumps(result, indent=2))
        return 0
    n = result["questions"]
    emit(f"{n} questions: {result['identical_citations']} identical citations (or abstentions) "
         f"({result['identical_share']:.1%}), {result['identical_confidence']} of them with the "
         f"same confidence (to 1e-4)")
    emit("metric differences (B - A): " + ", ".join(f"{k} {v:+.4f}" for k, v in result["metric_deltas"].items())
         + f"; largest {result['max_abs_delta']:.4f}")
    if result["differ"]:
        emit("differ: " + ", ".join(map(str, result["differ"][:20]))
             + (" ..." if len(result["differ"]) > 20 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
