"""``python -m eval``: run a question set, write metrics, predictions and a report.

    python -m eval QUESTIONS [--docs PATH ...] [--out DIR] [--top-k K] [--threshold T]
                             [--index-dir DIR] [--max-file-mb MB] [--calibrate] [-q]

Exit codes as ``python -m qa``'s (``qa.cli``): 0, 2 bad input, 130, 141 the
reader of the output went away.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from index.errors import InputError, WriteError
from index.files import remove_tree, write_error
from qa.cli import (EXIT_USAGE, backend_flags, backend_options, emit, error_line, max_file_bytes,
                    positive_int, positive_number, setup_logging, stdout_closed, unit_interval)
from qa.config import DEFAULT_MAX_FILE_MB, DEFAULT_TOP_K

OUTPUTS = ("metrics.json", "predictions.jsonl", "report.html")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval",
        description="Evaluate docqa on a question set (JSONL or SQuAD v1.1/v2.0 JSON).")
    p.add_argument("questions", metavar="QUESTIONS",
                   help='JSONL ({"id", "question", "answers": [...]} a line) or a SQuAD JSON file')
    p.add_argument("--docs", nargs="+", metavar="PATH",
                   help="documents for a JSONL set (default: the bundled article, or with "
                        "--index-dir alone, that index's); a SQuAD file brings its own")
    p.add_argument("--out", metavar="DIR", help="output folder (default: eval-output/<file name>)")
    p.add_argument("--top-k", type=positive_int, default=DEFAULT_TOP_K, metavar="K",
                   help=f"passages read per question (default {DEFAULT_TOP_K})")
    p.add_argument("--threshold", type=unit_interval, metavar="T",
                   help="abstention threshold (default: the calibrated one, else the reader model's)")
    p.add_argument("--index-dir", metavar="DIR",
                   help="where the index lives; for a JSONL set without --docs, answer from the "
                        "index already there, as it is (default: $QA_INDEX_DIR, else a per-user cache)")
    p.add_argument("--max-file-mb", type=positive_number, default=None, metavar="MB",
                   help=f"refuse documents larger than MB megabytes (default: $QA_MAX_FILE_MB, "
                        f"else {DEFAULT_MAX_FILE_MB})")
    p.add_argument("--calibrate", action="store_true",
                   help="store the best threshold found with the index, for QA.load() to use")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines")
    backend_flags(p)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except BrokenPipeError:   # `python -m eval ... | head -1`: see qa.cli
        return stdout_closed()


def run(argv: list[str] | None = None) -> int:
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
            raise InputError(f"--docs does not go with a SQuAD file: {args.questions} "
                             "brings its own articles as documents")
        check_output_folder(out, probe=True)
        limit = max_file_bytes(args.max_file_mb)
        backend = backend_options(args)
        if qset.format != "squad" and args.index_dir is not None and not args.docs and not backend:
            bot = QA.open(args.index_dir, threshold=args.threshold)   # the index as it is
        else:
            docs = [qset.write_documents(documents_root())] if qset.format == "squad" else args.docs
            bot = QA.load(docs, index_dir=args.index_dir, threshold=args.threshold,
                          progress=not args.quiet, max_file_bytes=limit, **backend)
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
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    emit(summary(result.metrics, out))
    if args.calibrate:
        emit(f"Stored threshold {result.metrics['best_threshold']:.3f} with the index at "
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


def check_output_folder(out: Path, *, probe: bool = False) -> None:
    """Refuse an output path that is a file, or a folder holding other files,
    or (``WriteError``) a path under a file. With ``probe``, also make and
    delete an empty folder where the report will be written, so that before
    a long run an unwritable place (a read-only disk, ``/proc``) is a
    ``WriteError`` too; nothing is left behind."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file, not a folder")
    above = next((p for p in out.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise WriteError(f"cannot write the evaluation report at {str(out)!r}: "
                         f"{str(above)!r} is a file, not a folder")
    if probe and above is not None:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=above))
        except OSError as exc:
            raise write_error("the evaluation report", out, exc) from None
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        if foreign:
            raise InputError(f"refusing to write into {str(out)!r}: it holds other files "
                             f"({', '.join(foreign[:3])})")


def write_outputs(out: Path, files: dict[str, str]) -> None:
    """Write ``files`` into ``out`` atomically: a temp folder beside it, then renamed,
    so a crash leaves the previous results or none, never half of them. A
    failure to write raises ``WriteError`` naming ``out`` and the reason, and
    leaves no temporary folder."""
    check_output_folder(out)
    old = tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8", errors="backslashreplace")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException as exc:
        if old is not None and not out.exists():
            with suppress(OSError):   # put the previous results back
                os.rename(old, out)
            old = None
        if tmp is not None:
            remove_tree(tmp)
        if isinstance(exc, OSError):
            raise write_error("the evaluation report", out, exc) from None
        raise
    if old is not None:
        remove_tree(old)


def documents_root() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("docqa")) / "eval-documents"

