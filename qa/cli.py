"""``python -m qa``: ask questions of documents, or build their index, from the shell.

    python -m qa ask "Who is the new president of Kazakhstan?"
    python -m qa ask "..." --docs notes.md docs/ --json
    python -m qa index notes.md docs/ --index-dir /tmp/idx
    python -m qa ask "..." --index-dir /tmp/idx      # answers from that index alone
    python -m qa info --index-dir /tmp/idx

Exit codes: 0 done; 2 bad input (one "error: ..." line on stderr); 130
interrupted; 141 the reader of the output went away (``... | head -1``): the
rest of the output is dropped quietly, as a process killed by SIGPIPE would
(128 + 13), so ``set -o pipefail`` scripts still see it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import textwrap
import time

from index.errors import InputError
from qa.config import BACKENDS, DEFAULT_MAX_FILE_MB, DEFAULT_TOP_K, MB

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`
OWN_LOGGERS = ("index", "qa", "eval", "ui")  # the project's packages: their INFO lines are shown


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qa",
        description="Ask questions of your documents; every answer is a verbatim, cited span.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{ask,index,info}")

    ask = sub.add_parser("ask", help="answer one question",
                         description="Answer a question from the documents (default: the bundled article).")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--docs", nargs="+", metavar="PATH",
                     help="documents (.pdf .html .htm .docx .epub .txt .md) or folders of them "
                          "(default: the bundled article, or with "
                          "--index-dir alone, the documents of that index)")
    ask.add_argument("--index-dir", metavar="DIR",
                     help="where the index lives; without --docs, answer from the index already "
                          "there, as it is (no source file is read) (default: $QA_INDEX_DIR, "
                          "else a per-user cache)")
    _quiet(ask)
    _max_file_mb(ask)
    backend_flags(ask)
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
    index.add_argument("paths", nargs="+", metavar="PATH",
                       help="documents (.pdf .html .htm .docx .epub .txt .md) or folders of them")
    index.add_argument("--index-dir", metavar="DIR",
                       help="where the index lives (default: $QA_INDEX_DIR, else a per-user cache)")
    _quiet(index)
    _max_file_mb(index)
    backend_flags(index)

    info = sub.add_parser("info", help="describe an index",
                          description="Describe an index: its documents, passages, model, "
                                      "settings and size on disk.")
    info.add_argument("--index-dir", metavar="DIR",
                      help="the index (default: $QA_INDEX_DIR, else the bundled article's cached index)")
    info.add_argument("--json", action="store_true", help="print the manifest and sizes as JSON")
    info.add_argument("--verify", action="store_true",
                      help="also check every file against the checksums in the manifest (opening "
                           "an index checks the files of up to 64 MB)")
    _quiet(info)
    return parser


def backend_flags(p: argparse.ArgumentParser) -> None:
    """``--backend``, ``--milvus-uri``, ``--milvus-collection`` (``backend_options``)."""
    p.add_argument("--backend", choices=BACKENDS, default="embedded",
                   help="where the passages are searched: 'embedded' (FAISS and BM25 in the index "
                        "folder; the default) or 'milvus' (the index is built as ever, uploaded to a "
                        "Milvus collection, only what it lacks, and searched there)")
    p.add_argument("--milvus-uri", metavar="URI", default=None,
                   help="the Milvus server (default http://127.0.0.1:19530; a token is read from "
                        "$DOCQA_MILVUS_TOKEN)")
    p.add_argument("--milvus-collection", metavar="NAME", default=None,
                   help="the collection's name (default 'docqa')")


def backend_options(args: argparse.Namespace) -> dict:
    """``QA.load``'s backend arguments from ``backend_flags``' flags."""
    if args.backend == "embedded":
        if args.milvus_uri is not None or args.milvus_collection is not None:
            raise InputError("--milvus-uri and --milvus-collection go with --backend milvus")
        return {}
    return {"backend": "milvus", "milvus_uri": args.milvus_uri,
            "milvus_collection": args.milvus_collection}


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines")


def _max_file_mb(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-file-mb", type=positive_number, default=None, metavar="MB",
                   help=f"refuse source files larger than MB megabytes (default: $QA_MAX_FILE_MB, "
                        f"else {DEFAULT_MAX_FILE_MB})")


def max_file_bytes(flag_mb: float | None) -> int:
    """The per-file size limit in bytes: ``--max-file-mb``, else
    ``$QA_MAX_FILE_MB``, else ``qa.config.DEFAULT_MAX_FILE_MB``. A bad
    ``$QA_MAX_FILE_MB`` raises ``ValueError`` naming it."""
    mb = flag_mb
    if mb is None and os.environ.get("QA_MAX_FILE_MB"):
        env = os.environ["QA_MAX_FILE_MB"]
        try:
            mb = positive_number(env)
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"QA_MAX_FILE_MB {exc}") from None
    return max(1, int((mb if mb is not None else DEFAULT_MAX_FILE_MB) * MB))


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
positive_number = bounded(float, lambda x: 0.0 < x < math.inf, "a number > 0")


def printable(text: str) -> str:
    """``text`` safe to print: lone surrogates (the undecodable bytes of a
    command-line argument or a file name) become ``\\udcff`` escapes instead
    of raising ``UnicodeEncodeError``. In JSON output such an escape is the
    same string again."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_line(exc: BaseException) -> str:
    """``"error: MESSAGE"``, printable and on one line."""
    return "error: " + re.sub(r"\s*\n\s*", " ", printable(str(exc)).strip())


def emit(text: str) -> None:
    """Print ``text`` to stdout and flush it at once, so a reader that went
    away (``BrokenPipeError``) shows here, where ``main`` handles it."""
    sys.stdout.write(printable(text) + "\n")
    sys.stdout.flush()


def stdout_closed() -> int:
    """After ``BrokenPipeError`` on stdout: point stdout at /dev/null, so the
    output still buffered is dropped instead of failing again at exit, and
    return ``EXIT_BROKEN_PIPE``. Nothing is printed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (captured in tests)
        pass
    return EXIT_BROKEN_PIPE


DOCQA_USAGE = """usage: docqa {ask,index,info,ui,eval} ...

  docqa ask "question" [--docs PATH ...] [--index-dir DIR] ...   answer one question
  docqa index PATH ... [--index-dir DIR]                         build or refresh an index
  docqa info [--index-dir DIR]                                   describe an index
  docqa ui [--docs PATH ...] [--port 7860] ...                   the web UI
  docqa eval QUESTIONS [--docs PATH ...] [--out DIR] ...         evaluate on a question set

Each is the same as python -m qa ask|index|info, python -m ui and python -m eval;
"docqa COMMAND --help" says more."""


def docqa(argv: list[str] | None = None) -> int:
    """The ``docqa`` command that ``pip install`` makes: one name for the
    command lines of ``qa``, ``ui`` and ``eval``."""
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(DOCQA_USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if command in ("ask", "index", "info"):
        return main(argv)
    if command in ("ui", "eval"):   # the edges' own command lines, as python -m runs them
        return importlib.import_module(f"{command}.__main__" if command == "ui" else "eval.cli").main(rest)
    print(f"docqa: unknown command {command!r}; use one of ask, index, info, ui, eval",
          file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except BrokenPipeError:
        return stdout_closed()


def run(argv: list[str] | None = None) -> int:
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
        if args.command == "info":
            return show_info(args.index_dir, as_json=args.json, check=args.verify)
        limit = max_file_bytes(args.max_file_mb)
        if args.command == "index":
            bot = QA.load(args.paths, index_dir=args.index_dir, progress=not args.quiet,
                          max_file_bytes=limit, **backend_options(args))
            m = bot.index.manifest.counts
            emit(f"Index ready at {bot.index.folder}: {m.documents} document(s), "
                 f"{m.chunks} chunks, {m.sentences} sentences.")
            if args.backend == "milvus":
                emit(f"Uploaded to Milvus collection {bot.index.settings.collection!r} at "
                     f"{bot.index.settings.uri}.")
            return 0
        from qa.api import clean_question

        clean_question(args.question)  # fail before loading anything
        t0 = time.perf_counter()
        backend = backend_options(args)
        if args.index_dir is not None and not args.docs and not backend:   # the index as it is
            bot = QA.open(args.index_dir, threshold=args.threshold)
        else:
            bot = QA.load(args.docs, index_dir=args.index_dir, threshold=args.threshold,
                          progress=not args.quiet, max_file_bytes=limit, **backend)
        t1 = time.perf_counter()
        if args.timings:  # load the question encoder now, to time it on its own
            bot.encoder.embed_texts(["warm up"])
        t2 = time.perf_counter()
        reply = bot.ask(args.question, top_k=args.top_k)
        t3 = time.perf_counter()
        timings.update(index_load_s=t1 - t0, model_load_s=t2 - t1, answer_s=t3 - t2,
                       total_s=t3 - started)
    except USER_ERRORS as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.timings:
        print("timings: " + json.dumps({k: round(v, 4) for k, v in timings.items()}),
              file=sys.stderr)
    if args.json:
        emit(json.dumps(reply.to_dict(), ensure_ascii=False, indent=2))
    else:
        emit(format_reply(reply, bot))
    return 0


def show_info(index_dir: str | None, *, as_json: bool, check: bool = False) -> int:
    """Print what the index in ``index_dir`` holds, from its manifest (the index
    itself is not loaded); with ``check``, first verify every file against the
    manifest's checksums. Raises ``IndexNotFoundError``/``IndexCorruptError``."""
    from pathlib import Path

    from index.errors import IndexNotFoundError
    from index.store import disk_usage, read_manifest
    from qa.api import BUNDLED
    from qa.storage import index_dir_for, no_index, read_calibration

    folder = Path(index_dir if index_dir is not None else index_dir_for([BUNDLED])).expanduser()
    try:
        manifest = read_manifest(folder)
    except IndexNotFoundError:
        raise no_index(folder) from None
    verified = None
    if check:
        from index.errors import IndexCorruptError
        from index.integrity import DamagedFile, verify

        try:
            verified = verify(folder, manifest.files, max_bytes=None)
        except DamagedFile as exc:
            raise IndexCorruptError(f"index at {str(folder)!r} is damaged: {exc.name}: {exc}; "
                                    "build it again") from None
    size = disk_usage(folder)
    calibration = read_calibration(folder)
    if as_json:
        emit(json.dumps({"folder": str(folder), "bytes": size, "calibration": calibration,
                         "manifest": manifest.to_dict()}, ensure_ascii=False, indent=2))
        return 0
    emit(format_info(folder, manifest, size, calibration))
    if check:
        emit(f"Verified: all {verified:,} files match the manifest's checksums." if verified else
             "Nothing to verify: this index was built before docqa kept checksums.")
    return 0


# FAISS index types in words (``python -m qa info``).
_DENSE = {"IndexFlatIP": "exact (IndexFlatIP)",
          "IndexHNSWFlat": "approximate, HNSW over float32 vectors (IndexHNSWFlat)",
          "IndexHNSWSQ": "approximate, HNSW over float16 vectors (IndexHNSWSQ)"}


def format_info(folder, manifest, size: int, calibration: dict | None) -> str:
    """The manifest (``index.manifest.Manifest``) in words (``python -m qa info``)."""
    from index.manifest import FORMAT_VERSION

    counts, config, docs = manifest.counts, manifest.config, manifest.documents
    lines = [f"Index at {folder}",
             f"  {counts.documents:,} document(s), {counts.chunks:,} passages, "
             f"{counts.sentences:,} sentences"
             + (f" ({counts.texts:,} distinct)" if manifest.format_version >= 3 else "")
             + f"; {size / MB:,.1f} MB on disk",
             f"  model: {manifest.model.name} ({manifest.model.dim} dimensions); "
             f"dense search: {_DENSE.get(manifest.faiss, manifest.faiss)}",
             f"  passages of {config.get('chunk_size', '?')} characters, "
             f"{config.get('chunk_overlap', '?')} overlapping; BM25 {config.get('bm25_method', '?')} "
             f"(k1 {config.get('bm25_k1', '?')}, b {config.get('bm25_b', '?')})",
             f"  built {manifest.created or '?'}; format {manifest.format_version}, "
             f"analysis {manifest.analysis}"
             + ("" if manifest.format_version == FORMAT_VERSION else
                f" (this docqa reads format {FORMAT_VERSION}: the next load rebuilds it, "
                "reusing its vectors)"),
             "  abstains below " + (f"{calibration['threshold']:.2f} (calibrated with python -m eval)"
                                     if calibration else "the reader model's threshold"),
             "Documents:"]
    shown = 20
    for d in docs[:shown]:
        lines.append(f"  {d.doc_id}: {d.title!r}, {d.size / 1000:,.1f} kB")
    if len(docs) > shown:
        lines.append(f"  ... and {len(docs) - shown:,} more (--json lists them all)")
    return "\n".join(lines)


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


CLI_SNIPPET_CHARS = 160


def format_reply(reply, bot) -> str:
    from qa.types import (ABSTENTION, citation, closest_passages, confidence_label, passage_place,
                          snippet)

    width = 88
    documents = bot.index.documents
    if reply.answer is None:
        lines = [ABSTENTION]
        if reply.passages:
            lines.append("Closest passages:")
        for i, hit in enumerate(closest_passages(reply), start=1):
            lines.append(f"  {i}. {passage_place(hit, documents)}: "
                         f"{snippet(hit.chunk.text, CLI_SNIPPET_CHARS)}")
        return "\n".join(lines)
    a = reply.answer
    quote = textwrap.fill(f"“{' '.join(a.sentence.split())}”", width=width,
                          initial_indent="  ", subsequent_indent="  ")
    return "\n".join([
        f"Answer: {a.text}",
        quote,
        f"Source: {citation(a, documents[a.doc_id].text)}",
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

    class Printable(logging.Formatter):  # a path may hold undecodable bytes
        def format(self, record: logging.LogRecord) -> str:
            return printable(super().format(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Printable("docqa: %(message)s"))
    handler.addFilter(keep)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
