"""``python -m qa``: ask questions of documents, or build their index, from the shell.

    python -m qa ask "Who is the new president of Kazakhstan?"
    python -m qa ask "..." --docs notes.md docs/ --json
    python -m qa index notes.md docs/ --index-dir /tmp/idx
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import time

from qa.config import DEFAULT_TOP_K

EXIT_USAGE = 2
OWN_LOGGERS = ("index", "qa", "eval", "ui")  # the project's packages: their INFO lines are shown


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qa",
        description="Ask questions of your documents; every answer is a verbatim, cited span.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{ask,index}")

    ask = sub.add_parser("ask", help="answer one question",
                         description="Answer a question from the documents (default: the bundled article).")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--docs", nargs="+", metavar="PATH",
                     help=".txt/.md files or folders (default: the bundled article)")
    _common(ask)
    ask.add_argument("--top-k", type=positive_int, default=DEFAULT_TOP_K, metavar="K",
                     help=f"passages to retrieve and read (default {DEFAULT_TOP_K})")
    ask.add_argument("--threshold", type=unit_interval, default=None, metavar="T",
                     help="abstain below this confidence (default: the calibrated one, else the "
                          "reader model's)")
    ask.add_argument("--json", action="store_true", help="print the reply as JSON")
    ask.add_argument("--timings", action="store_true",
                     help="also print where the time went, as one 'timings: {json}' line on stderr")

    index = sub.add_parser("index", help="build or refresh the index of documents",
                           description="Build or refresh the index of the given documents.")
    index.add_argument("paths", nargs="+", metavar="PATH", help=".txt/.md files or folders")
    _common(index)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", metavar="DIR",
                   help="where the index lives (default: $QA_INDEX_DIR, else a per-user cache)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines")


def bounded(convert, check, what: str):
    """An argparse ``type=``: ``convert`` the text, then require ``check``; else
    "must be <what>, got '<value>'"."""
    def parse(value: str):
        try:
            x = convert(value)
        except ValueError:
            x = None
        if x is None or not check(x):
            raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}")
        return x
    return parse


positive_int = bounded(int, lambda n: n >= 1, "a whole number >= 1")
unit_interval = bounded(float, lambda x: 0.0 <= x <= 1.0, "a number in [0, 1]")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(quiet=args.quiet)
    # Imported after argument parsing, so --help and usage errors are instant.
    from qa import QA, USER_ERRORS
    from qa.api import import_runtime

    import_runtime()
    # Seconds since the process started (interpreter start-up and imports);
    # ``time.perf_counter()`` now stands for that moment.
    started = time.perf_counter() - process_age()
    timings = {"imports_s": time.perf_counter() - started}

    try:
        if args.command == "index":
            bot = QA.load(args.paths, index_dir=args.index_dir, progress=not args.quiet)
            m = bot.index.manifest["counts"]
            print(f"Index ready at {bot.index.folder}: {m['documents']} document(s), "
                  f"{m['chunks']} chunks, {m['sentences']} sentences.")
            return 0
        from qa.api import clean_question

        clean_question(args.question)  # fail before loading anything
        t0 = time.perf_counter()
        bot = QA.load(args.docs, index_dir=args.index_dir, threshold=args.threshold,
                      progress=not args.quiet)
        t1 = time.perf_counter()
        if args.timings:  # load the question encoder now, to time it on its own
            bot.encoder.embed_texts(["warm up"])
        t2 = time.perf_counter()
        reply = bot.ask(args.question, top_k=args.top_k)
        t3 = time.perf_counter()
        timings.update(index_load_s=t1 - t0, model_load_s=t2 - t1, answer_s=t3 - t2,
                       total_s=t3 - started)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.timings:
        print("timings: " + json.dumps({k: round(v, 4) for k, v in timings.items()}),
              file=sys.stderr)
    if args.json:
        print(json.dumps(reply.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_reply(reply, bot))
    return 0


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc, to 10 ms); elsewhere
    0.0 (imports are then timed from here)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def format_reply(reply, bot) -> str:
    from qa.types import ABSTENTION, confidence_label, paragraph_number

    width = 88
    if reply.answer is None:
        lines = [ABSTENTION]
        if reply.passages:
            lines.append("Closest passages:")
        for i, hit in enumerate(reply.passages[:3], start=1):
            c = hit.chunk
            title = bot.index.documents[c.doc_id].title
            snippet = " ".join(c.text.split())
            snippet = snippet if len(snippet) <= 160 else snippet[:157] + "..."
            lines.append(f"  {i}. {title}, characters {c.start}-{c.end}: {snippet}")
        return "\n".join(lines)
    a = reply.answer
    doc_text = bot.index.documents[a.doc_id].text
    quote = textwrap.fill(f"“{' '.join(a.sentence.split())}”", width=width,
                          initial_indent="  ", subsequent_indent="  ")
    return "\n".join([
        f"Answer: {a.text}",
        quote,
        f"Source: {a.title}, paragraph {paragraph_number(doc_text, a.start)}, "
        f"characters {a.start}-{a.end}",
        f"Confidence: {confidence_label(a.confidence)} ({a.confidence:.2f})",
    ])


def setup_logging(*, quiet: bool) -> None:
    """Our own INFO lines (index reuse, rebuild reasons) to stderr; only warnings
    from libraries. A handler filter, because bm25s sets its logger to DEBUG
    when it is imported, after this runs."""
    own_level = logging.WARNING if quiet else logging.INFO

    def keep(record: logging.LogRecord) -> bool:
        own = record.name.split(".")[0] in OWN_LOGGERS
        return record.levelno >= (own_level if own else logging.WARNING)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("docqa: %(message)s"))
    handler.addFilter(keep)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
