"""``python -m eval``: run a question set, write metrics, predictions and a report.

    python -m eval QUESTIONS [--docs PATH ...] [--out DIR] [--top-k K] [--threshold T]
                             [--index-dir DIR] [--calibrate] [-q]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from qa.cli import EXIT_USAGE, positive_int, setup_logging, unit_interval
from qa.config import DEFAULT_TOP_K

OUTPUTS = ("metrics.json", "predictions.jsonl", "report.html")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval",
        description="Evaluate docqa on a question set (JSONL or SQuAD v1.1/v2.0 JSON).")
    p.add_argument("questions", metavar="QUESTIONS",
                   help='JSONL ({"id", "question", "answers": [...]} a line) or a SQuAD JSON file')
    p.add_argument("--docs", nargs="+", metavar="PATH",
                   help="documents for a JSONL set (default: the bundled article); "
                        "a SQuAD file brings its own")
    p.add_argument("--out", metavar="DIR", help="output folder (default: eval-output/<file name>)")
    p.add_argument("--top-k", type=positive_int, default=DEFAULT_TOP_K, metavar="K",
                   help=f"passages read per question (default {DEFAULT_TOP_K})")
    p.add_argument("--threshold", type=unit_interval, metavar="T",
                   help="abstention threshold (default: the calibrated one, else the reader model's)")
    p.add_argument("--index-dir", metavar="DIR",
                   help="where the index lives (default: $QA_INDEX_DIR, else a per-user cache)")
    p.add_argument("--calibrate", action="store_true",
                   help="store the best threshold found with the index, for QA.load() to use")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(quiet=args.quiet)
    from eval.data import load_questions
    from eval.report import render_report
    from eval.run import evaluate
    from qa import QA, USER_ERRORS

    out = Path(args.out) if args.out else Path("eval-output") / Path(args.questions).stem
    try:
        qset = load_questions(args.questions)
        if qset.format == "squad" and args.docs:
            raise ValueError(f"--docs does not go with a SQuAD file: {args.questions} "
                             "brings its own articles as documents")
        check_output_folder(out)
        docs = [qset.write_documents(documents_root())] if qset.format == "squad" else args.docs
        bot = QA.load(docs, index_dir=args.index_dir, threshold=args.threshold,
                      progress=not args.quiet)
        result = evaluate(bot, qset, top_k=args.top_k, progress=not args.quiet)
        result.metrics["questions_file"] = {"path": str(qset.path), "format": qset.format,
                                            "sha256": qset.sha256}
        report = render_report(result, title=f"docqa evaluation: {qset.path.name}")
        write_outputs(out, {
            "metrics.json": json.dumps(result.metrics, indent=2, ensure_ascii=False) + "\n",
            "predictions.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                         for r in result.predictions),
            "report.html": report,
        })
        if args.calibrate:
            m = result.metrics
            bot.save_threshold(m["best_threshold"], details={
                "best_f1": m["best_f1"], "questions": m["questions"],
                "questions_file": m["questions_file"], "top_k": args.top_k,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    print(summary(result.metrics, out))
    if args.calibrate:
        print(f"Stored threshold {result.metrics['best_threshold']:.3f} with the index at "
              f"{bot.index.folder}; QA.load() on these documents uses it from now on.")
    return 0


def summary(m: dict, out: Path) -> str:
    """The one-screen summary printed after a run."""
    r = m["recall_at_k"]

    def f(x):
        return "  –  " if x is None else f"{x:.3f}"

    cats = ", ".join(f"{k} {v}" for k, v in m["categories"].items())
    return "\n".join([
        f"{m['questions_file']['path']}: {m['questions']} questions "
        f"({m['answerable']} answerable, {m['unanswerable']} unanswerable), top_k {m['top_k']}, "
        f"threshold {m['threshold']:.3f} ({m['threshold_source']})",
        f"  exact match        {f(m['exact_match'])}   F1               {f(m['f1'])}",
        f"  has-answer EM      {f(m['has_answer_exact_match'])}   has-answer F1    {f(m['has_answer_f1'])}",
        f"  sentence accuracy  {f(m['sentence_accuracy'])}   no-answer acc.   {f(m['no_answer_accuracy'])}",
        f"  false abstention   {f(m['false_abstention_rate'])}   ECE              {f(m['ece'])}",
        f"  recall@1/3/5/10    {f(r['1'])} / {f(r['3'])} / {f(r['5'])} / {f(r['10'])}   MRR {f(m['mrr'])}",
        f"  best threshold     {m['best_threshold']:.3f} (F1 {m['best_f1']:.3f})",
        f"  latency ms         p50 {m['latency_ms']['p50']:.1f}   p95 {m['latency_ms']['p95']:.1f}"
        f"   max {m['latency_ms']['max']:.1f}",
        f"  categories         {cats}",
        f"wrote {out / 'metrics.json'}, predictions.jsonl, report.html",
    ])


def check_output_folder(out: Path) -> None:
    """Refuse an output path that is a file, or a folder holding other files."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        if foreign:
            raise ValueError(f"refusing to write into {str(out)!r}: it holds other files "
                             f"({', '.join(foreign[:3])})")


def write_outputs(out: Path, files: dict[str, str]) -> None:
    """Write ``files`` into ``out`` atomically: a temp folder beside it, then renamed,
    so a crash leaves the previous results or none, never half of them."""
    check_output_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    old = None
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:
        if old is not None and not out.exists():
            os.rename(old, out)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def documents_root() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("docqa")) / "eval-documents"

