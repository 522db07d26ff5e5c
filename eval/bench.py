"""``python -m eval.bench``: how fast docqa starts, answers, builds and scales, and how
much memory it takes. A script that prints figures, not a test: nothing is asserted.

    python -m eval.bench [--out DIR] [--docs PATH ...] [--questions FILE]
                         [--sizes 1x,10x,100x,50000 | --quick] [--rounds N] [--cold-runs N]
                         [--build-runs N] [--recall-sentences N] [--ui-timeout S]
                         [--skip-cold] [--skip-warm] [--skip-build] [--skip-ui]
                         [--skip-scaling] [--skip-formats] [--skip-concurrency] [--pdf-pages N]
                         [--clients 1,4,8] [--concurrency-questions N] [--backend embedded|milvus]
                         [--milvus-uri URI] [--milvus-collection NAME] [-q]

It prints a summary table to stdout as each section finishes and one progress
line per stage to stderr, and writes into ``DIR`` (default ``bench-out``):

- ``bench.json``, rewritten atomically after every section (``"complete"`` is
  false until the end, so an interrupted run keeps what it measured);
- ``scaling.png``: build time, index size, warm query p50/p95 and peak RSS
  against chunk count, log-log;
- ``corpora/size-<chunks>/`` and ``indexes/``: the scaling series' corpora,
  and the indexes it builds (``docs`` for ``--docs``, ``size-<chunks>`` for
  the series). A re-run reuses every up-to-date one, so an interrupted series
  does not rebuild the sizes it finished (and an interrupted build resumes).

Sections (each a key of bench.json; null when skipped):

1. ``cold_start``: ``--cold-runs`` fresh ``python -m qa ask QUESTION --quiet
   --timings --index-dir DIR`` processes over the already built index of
   ``--docs``, after one untimed run (so the OS file cache is warm for every
   timed one). ``wall_s`` is timed from outside (spawn to exit);
   ``total_s``, ``imports_s``, ``index_load_s``, ``model_load_s``, ``answer_s``
   come from the process's own ``timings: {...}`` line (null when the CLI does
   not print one); ``peak_rss_mb`` is that process's own ``ru_maxrss``, or the
   highest sampled sum of its RSS and its child processes' when larger. The
   outside figures are taken by a small wrapper process that spawns the CLI
   and ``os.wait4``s it: a child of the bench itself would inherit the bench's
   peak RSS.
2. ``warm``: one in-process ``QA`` over ``--docs``; every question of
   ``--questions`` is asked once to warm up, then ``--rounds`` times. ``e2e_ms``
   is the wall time of ``bot.ask``; ``encode_ms``/``retrieve_ms``/``read_ms``
   come from ``reply.timings`` (null when absent). The floor, measured in the
   same loop, is the bare query encode (``bot.encoder.embed_texts([q])``, else
   ``bot.embedder``) plus one dense search of the retriever's pool size
   (``floor_ms = floor_encode_ms + floor_search_ms`` per question);
   ``e2e_over_floor`` = p50 of ``e2e_ms`` / p50 of ``floor_ms``.
3. ``build``: ``--build-runs`` fresh builds of ``--docs`` into temporary folders
   (``QA.load``, the model already loaded, so model loading is not counted),
   then the raw encode of the same texts the build embeds (every chunk and
   sentence, ``bot.embedder.embed_texts`` in batches of 256) as often.
   ``build_over_raw_throughput`` = raw encode p50 / build p50 (1.0: the build
   costs nothing beyond embedding).
4. ``memory``: ``cli_peak_rss_mb`` (section 1's process); ``ui``: a
   ``python -m ui`` server on a free 127.0.0.1 port over the same index,
   asked one question through ``gradio_client``, then ``VmHWM``
   (``peak_rss_mb``) and ``VmRSS`` from ``/proc/PID/status``; then stopped
   with SIGINT. ``ready_s``: spawn to the first HTTP 200.
5. ``scaling``: for each ``--sizes`` entry (``Nx``: N times the chunks of
   ``--docs``; a plain N: N chunks), a corpus of at least that many chunks
   (``eval.corpus``): the documents of ``--docs``, then the docstrings of the
   installed Python modules, one document per module (``corpus`` says
   exactly). Real, varied English text that every machine has offline; the
   questions' answers are in every size's corpus. Each size lists ``size``,
   ``target_chunks``, ``chunks``, ``sentences``,
   ``documents``, ``text_mb``, ``build_s`` (the wall time of ``python -m qa
   index`` in a child process, models loaded included; and ``build_measured``:
   "this run", "previous run <date>" from an earlier bench.json for the same
   index, or null), ``build_partial_s`` (set instead of ``build_s`` when this run
   resumed an interrupted build or refreshed a stale index, reusing vectors
   already made, so it is not a full build time), ``build_peak_rss_mb`` (that
   process's peak RSS, its embedding process's included), ``load_s`` (``QA.load`` of the finished index, in
   process), ``index_bytes`` (files on
   disk), ``query_ms`` (warm ``bot.ask`` as in section 2), ``cli`` (a separate
   ``python -m qa ask`` over that index: ``wall_s``, ``peak_rss_mb``,
   ``timings``), ``faiss`` (the manifest's index type) and ``recall_at_10``: for
   an approximate index, the mean share of the exact top 10 that
   ``index.search`` returns, over the questions and ``--recall-sentences``
   sentences of the corpus as queries (null for an exact index).
6. ``formats``: a ``--pdf-pages``-page PDF of running text (the installed
   modules' docstrings, as in section 5, none repeated; made with fpdf2): ``convert_s`` and
   ``convert_pages_per_s``, its conversion to text with pypdfium2
   (``--build-runs`` times), and ``index_s``/``index_pages_per_s``, one
   ``QA.load`` of it into a fresh index (conversion, chunks, vectors, parse;
   models already loaded).
7. ``concurrency``: warm question answering by ``--clients`` threads sharing
   one ``QA`` (as the web UI's request threads do), for each backend:
   ``embedded``, and with ``--backend milvus`` also ``milvus`` (the index of
   ``--docs`` uploaded to ``--milvus-collection``, default ``docqa_bench``,
   at ``--milvus-uri``, default http://127.0.0.1:19530, and answered from
   Milvus alone). Every question is first asked once, serially: the warm-up,
   and each question's reference answer (``reference_answers``). Then, per
   client count, ``--rounds`` rounds of ``--concurrency-questions``
   questions (the question list cycled, dealt round robin to the threads);
   each thread asks one untimed question, then all start together.
   ``latency_ms``: each answered question's ``bot.ask`` wall time, all rounds
   together; ``questions_per_s``: one figure per round (answered questions /
   the round's wall time), p50 the median round; ``errors``: exceptions
   ``ask`` raised, counted, not raised (``error_samples``,
   ``first_traceback``); ``answers_differing``: replies whose answer text
   is not the question's reference answer; per backend,
   ``answers_unlike_embedded``: questions whose reference answer is not
   the embedded backend's. ``caveat`` (set when Milvus is measured) says
   what milvus-lite figures are not. The Milvus server runs on the same
   machine, sharing its CPUs. ``--backend`` only adds this section's Milvus
   run: every other section measures the embedded backend.

Every distribution is ``{"p50", "p95", "min", "max", "n"}`` (p50 is the
median; seconds in ``*_s`` keys, milliseconds in ``*_ms``, MiB in ``*_mb``).
Top level: ``schema``, ``complete``, ``date``, ``command``, ``machine`` (CPUs,
Python, platform, library versions, torch threads, the thread environment
variables, load average at start, git commit), ``settings`` and the sections.

Thread settings are the product's own (``$QA_TORCH_THREADS``, else 1): the
bench never overrides them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.files import write_json_atomic
from index.milvus import DEFAULT_URI as DEFAULT_MILVUS_URI
from index.milvus import TOKEN_ENV
from qa import InputError
from qa.cli import EXIT_USAGE, backend_options, bounded, positive_int, setup_logging
from qa.config import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = ROOT / "tests" / "data" / "china-kazakhstan.dev.jsonl"
DEFAULT_OUT = "bench-out"
DEFAULT_SIZES = ("1x", "10x", "100x", "50000")   # the issue asks for >= 50,000 chunks
QUICK_SIZES = ("1x", "10x")
SCHEMA = 1
ENCODE_BATCH = 256           # texts per embed_texts call, as index.build.EMBED_BATCH
RECALL_K = 10
SEED = 20240601              # the recall sentences
SUBPROCESS_TIMEOUT_S = 1800  # a CLI loading a 50,000-chunk index takes well under this
BUILD_TIMEOUT_S = 6 * 3600   # python -m qa index over 50,000 chunks: about 1.5-3 h on 2 cores
DEFAULT_CLIENTS = (1, 4, 8)   # section 7
CONCURRENCY_QUESTIONS = 80   # per round and client count: ~1-3 s a round on 2 cores
BENCH_COLLECTION = "docqa_bench"   # never the product's "docqa": the upload would empty it of its documents
MILVUS_CAVEAT = ("milvus-lite is a pure-Python re-implementation of the Milvus API used as the test "
                 "server, not the Milvus engine; its figures are not those of a Milvus cluster.")
ERROR_SAMPLES = 3            # distinct error messages kept per client count
THREAD_ENV = ("QA_TORCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM")
_TIMINGS_LINE = re.compile(r"^timings: (\{.*\})$", re.MULTILINE)


class BenchError(RuntimeError):
    """A measurement could not be made (a child process failed); the message says why."""


# ------------------------------------------------------------------ arguments

def _size_list(text: str) -> list[str]:
    """``"1x,10x,50000"`` -> ``["1x", "10x", "50000"]``: multiples of the base
    chunk count (``Nx``) or chunk counts (``N``), each a whole number >= 1."""
    sizes = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        try:
            n = positive_int(part.removesuffix("x"))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"must be sizes like 10x (times the chunks of --docs) or 50000 (chunks), "
                f"separated by commas, got {text!r}") from None
        sizes.append(f"{n}x" if part.endswith("x") else str(n))
    if not sizes:
        raise argparse.ArgumentTypeError(f"must be sizes like 10x or 50000, separated by commas, "
                                         f"got {text!r}")
    return list(dict.fromkeys(sizes))


def target_chunks(size: str, base: int) -> int:
    """The chunk count a ``--sizes`` entry asks for, with ``base`` chunks in --docs."""
    return int(size[:-1]) * base if size.endswith("x") else int(size)


def _client_list(text: str) -> list[int]:
    """``"1,4,8"`` -> ``[1, 4, 8]``: client counts, each a whole number >= 1,
    in the order given, without repeats."""
    try:
        counts = [positive_int(part.strip()) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError:
        counts = []
    if not counts:
        raise argparse.ArgumentTypeError(f"must be client counts like 1,4,8 (whole numbers >= 1), "
                                         f"got {text!r}")
    return list(dict.fromkeys(counts))


_seconds = bounded(float, lambda x: x > 0, "a number of seconds > 0")
_count = bounded(int, lambda n: n >= 0, "a whole number >= 0")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.bench",
        description="Measure docqa's cold start, warm latency, index build, memory, scaling and "
                    "concurrent clients; write DIR/bench.json and DIR/scaling.png.")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"output folder; also keeps the indexes for re-runs (default {DEFAULT_OUT})")
    p.add_argument("--docs", nargs="+", metavar="PATH",
                   help="documents (.pdf .html .htm .docx .epub .txt .md) or folders of them "
                             "(default: the bundled article)")
    p.add_argument("--questions", metavar="FILE", default=str(DEFAULT_QUESTIONS),
                   help="JSONL question file asked in the warm and scaling sections "
                        "(default: the dev set, tests/data/china-kazakhstan.dev.jsonl)")
    sizes = p.add_mutually_exclusive_group()
    sizes.add_argument("--sizes", type=_size_list, metavar="SIZE,...",
                       help="scaling series: corpus sizes, Nx (N times the chunks of --docs) or N "
                            f"(chunks) (default {','.join(DEFAULT_SIZES)}; 50,000 chunks take about "
                            "two hours to build on 2 cores, once: the index is kept in --out)")
    sizes.add_argument("--quick", action="store_true",
                       help=f"scaling sizes {','.join(QUICK_SIZES)} only: a run of minutes")
    p.add_argument("--rounds", type=positive_int, default=3, metavar="N",
                   help="timed rounds over the questions, after one warm-up round; in section 7, "
                        "rounds per client count (default 3)")
    p.add_argument("--cold-runs", type=positive_int, default=5, metavar="N",
                   help="timed cold-start processes, after one untimed (default 5)")
    p.add_argument("--build-runs", type=positive_int, default=3, metavar="N",
                   help="fresh builds of --docs, and raw encodes of its texts (default 3)")
    p.add_argument("--recall-sentences", type=_count, default=200, metavar="N",
                   help="corpus sentences used as extra queries for recall@10 (default 200)")
    p.add_argument("--pdf-pages", type=positive_int, default=100, metavar="N",
                   help="pages of the PDF section 6 converts and indexes (default 100)")
    p.add_argument("--ui-timeout", type=_seconds, default=120.0, metavar="S",
                   help="how long the UI server may take to start (default 120)")
    p.add_argument("--clients", type=_client_list, default=list(DEFAULT_CLIENTS), metavar="N,...",
                   help="concurrent clients (threads sharing one QA) of section 7 (default "
                        f"{','.join(map(str, DEFAULT_CLIENTS))})")
    p.add_argument("--concurrency-questions", type=positive_int, default=CONCURRENCY_QUESTIONS,
                   metavar="N", help="questions per round and client count in section 7, at least "
                                     f"the largest --clients (default {CONCURRENCY_QUESTIONS})")
    p.add_argument("--backend", choices=BACKENDS, default="embedded",
                   help="'milvus': section 7 also measures the Milvus backend, beside the embedded "
                        "one (the other sections always measure the embedded backend)")
    p.add_argument("--milvus-uri", metavar="URI", default=None,
                   help=f"the Milvus server of --backend milvus (default {DEFAULT_MILVUS_URI}; a token "
                        "is read from $DOCQA_MILVUS_TOKEN)")
    p.add_argument("--milvus-collection", metavar="NAME", default=None,
                   help=f"the collection the bench uploads --docs to (default {BENCH_COLLECTION!r}, not "
                        "the product's 'docqa': the upload makes a collection hold exactly --docs, "
                        "deleting any other document)")
    for name, what in (("cold", "the cold-start processes (section 1)"),
                       ("warm", "the warm latency (section 2)"),
                       ("build", "the fresh builds and raw encode (section 3)"),
                       ("ui", "the UI server's memory (section 4)"),
                       ("scaling", "the scaling series and its plot (section 5)"),
                       ("formats", "the PDF conversion and indexing (section 6)"),
                       ("concurrency", "the concurrent clients (section 7)")):
        p.add_argument(f"--skip-{name}", action="store_true", help=f"skip {what}")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no embedding progress bars or docqa log lines (stage lines still show)")
    return p


# ----------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    setup_logging(quiet=args.quiet)
    from eval.data import load_questions
    from qa import QA, USER_ERRORS

    sizes = list(QUICK_SIZES) if args.quick else args.sizes or list(DEFAULT_SIZES)
    out = Path(args.out).expanduser().resolve()
    try:
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {str(out)!r} is a file, not a folder")
        milvus = milvus_options(args)   # bad flags fail before anything loads
        if not args.skip_concurrency and args.concurrency_questions < max(args.clients):
            raise InputError(f"--concurrency-questions must be at least the largest --clients "
                             f"({max(args.clients)}), got {args.concurrency_questions}")
        questions = [q.question for q in load_questions(args.questions).questions]
        docs = [str(Path(d).expanduser().resolve()) for d in args.docs] if args.docs else None
        server = milvus_server_version(milvus["milvus_uri"]) if milvus and not args.skip_concurrency else None
        previous = _read_previous(out / "bench.json")
        results = {
            "schema": SCHEMA, "complete": False, "date": _now(),
            "command": [Path(sys.executable).name, "-m", "eval.bench", *argv],
            "machine": machine_facts(),
            "settings": {"docs": docs or "bundled article", "questions": str(Path(args.questions)),
                         "n_questions": len(questions), "rounds": args.rounds,
                         "cold_runs": args.cold_runs, "build_runs": args.build_runs,
                         "sizes": sizes, "recall_sentences": args.recall_sentences,
                         "clients": args.clients, "concurrency_questions": args.concurrency_questions,
                         "backend": args.backend, **milvus, "milvus_server_version": server},
        }
        stage("loading the index of --docs (built once, then reused)")
        bot = QA.load(docs, index_dir=out / "indexes" / "docs", progress=not args.quiet)
        out.mkdir(parents=True, exist_ok=True)   # now that the input is known to be good
        bot.embedder.embed_texts(["warm up"])   # sections 3 and 5 embed with it
        bot.encoder.embed_texts(["warm up"])
        results["settings"].update(model=bot.index.model_name, index_config=bot.index.manifest.config,
                                   base_chunks=len(bot.index.chunks))
        results["machine"].update(thread_facts(bot))
        bots = {"embedded": bot}
        if milvus and not args.skip_concurrency:   # now: an upload that fails fails at once
            bots["milvus"] = load_milvus(bot, docs, bot.index.folder, milvus, progress=not args.quiet)
        cli = CliRunner()

        def section(key: str, skip: bool, run) -> None:
            results[key] = None if skip else run()
            write_json_atomic(out / "bench.json", results)

        section("cold_start", args.skip_cold,
                lambda: bench_cold_start(cli, questions[0], bot.index.folder, docs, args.cold_runs))
        section("warm", args.skip_warm, lambda: bench_warm(bot, questions, args.rounds))
        section("build", args.skip_build, lambda: bench_build(bot, docs, args.build_runs))
        section("memory", False, lambda: bench_memory(
            results["cold_start"], None if args.skip_ui else
            lambda: bench_ui(questions[0], bot.index.folder, docs, args.ui_timeout)))

        def save_scaling(partial: dict) -> None:
            results["scaling"] = partial
            write_json_atomic(out / "bench.json", results)

        section("scaling", args.skip_scaling, lambda: bench_scaling(
            bot, cli, questions, sizes, out, previous, args, save=save_scaling))
        section("formats", args.skip_formats,
                lambda: bench_formats(bot, args.pdf_pages, args.build_runs))
        section("concurrency", args.skip_concurrency, lambda: bench_concurrency(
            bots, questions, args.clients, args.concurrency_questions, args.rounds))
        results["machine"].update(thread_facts(bot))  # torch may have loaded since
        results["complete"] = True
        write_json_atomic(out / "bench.json", results)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {out / 'bench.json'} holds the sections finished so far",
              file=sys.stderr)
        return 130
    written = [out / "bench.json"] + ([out / "scaling.png"] if (out / "scaling.png").is_file()
                                      and results.get("scaling") else [])
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def stage(message: str) -> None:
    """One progress line on stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def report(text: str) -> None:
    """A block of the summary table on stdout, as soon as its section is done."""
    print(text, flush=True)


# --------------------------------------------------------------- 1. cold start

@dataclass
class ProcResult:
    code: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str


# Linux keeps a process's peak RSS across exec, and a child forked from this
# process starts with this one's pages (model and indexes loaded): its
# ru_maxrss would be ours. So a command runs under this small wrapper, and the
# ru_maxrss of the wrapper's own child (os.wait4) is the command's alone.
# That is the peak of one process: a command that runs part of its work in
# child processes (a large build embeds in one: index.embed_worker) gets the
# larger of one process's peak, so the wrapper also sums the RSS of the
# command and all its descendants every 0.1 s and keeps the highest sum.
_WRAPPER = """
import json, os, subprocess, sys, threading, time
result, cmd = sys.argv[1], sys.argv[2:]

def tree_kb(root):
    children = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(pid))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                total += sum(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (OSError, ValueError):
            pass
    return total

t0 = time.perf_counter()
proc = subprocess.Popen(cmd)
peak, done = [0], threading.Event()

def sample():
    while not done.wait(0.1):
        peak[0] = max(peak[0], tree_kb(proc.pid))

threading.Thread(target=sample, daemon=True).start()
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - t0
done.set()
with open(result, "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "wall_s": wall,
               "maxrss": max(usage.ru_maxrss, peak[0])}, f)
"""


def run_measured(cmd: list[str], *, timeout: float = SUBPROCESS_TIMEOUT_S) -> ProcResult:
    """Run ``cmd`` from the repository root. Its wall time from spawn to exit and its
    peak RSS (the larger of ``ru_maxrss`` of that process alone and the highest
    sampled sum over it and its child processes) are taken by a small wrapper
    process; on a timeout or Ctrl+C both are killed."""
    with tempfile.TemporaryDirectory(prefix="docqa-bench-run-") as tmp:
        out_path, err_path, result_path = (Path(tmp) / n for n in ("stdout", "stderr", "result.json"))
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen([sys.executable, "-S", "-c", _WRAPPER, str(result_path), *cmd],
                                    cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)   # its own group, to kill both
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise BenchError(f"{_command_name(cmd)} did not finish within {timeout:g} s") from None
            except BaseException:
                _kill_group(proc)
                raise
        stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
        try:
            result = json.loads(result_path.read_text())
        except (OSError, ValueError):
            raise BenchError(f"could not run {_command_name(cmd)}: {_tail(stderr)}") from None
    return ProcResult(result["code"], result["wall_s"], _maxrss_mb(result["maxrss"]), stdout, stderr)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _command_name(cmd: list[str]) -> str:
    return " ".join([Path(cmd[0]).name, *cmd[1:4]]) + (" ..." if len(cmd) > 4 else "")


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


def _maxrss_mb(maxrss: int) -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    return maxrss / (2**20 if sys.platform == "darwin" else 2**10)


class CliRunner:
    """``python -m qa ask ... --timings`` and ``python -m qa index`` in a child process."""

    def index(self, paths: list[str], index_dir: Path) -> ProcResult:
        """Build or refresh the index of ``paths`` (only load it when it is up
        to date), as a user does: its wall time and peak RSS are the build's."""
        cmd = [sys.executable, "-m", "qa", "index", *paths, "--index-dir", str(index_dir), "--quiet"]
        return _checked(run_measured(cmd, timeout=BUILD_TIMEOUT_S), cmd)

    def ask(self, question: str, index_dir: Path, docs: list[str] | None) -> tuple[ProcResult, dict | None]:
        cmd = [sys.executable, "-m", "qa", "ask", question, "--index-dir", str(index_dir),
               "--quiet", "--timings"]
        if docs:
            cmd += ["--docs", *docs]
        result = _checked(run_measured(cmd), cmd)
        return result, parse_timings(result.stderr)


def _checked(result: ProcResult, cmd: list[str]) -> ProcResult:
    if result.code != 0:
        raise BenchError(f"{_command_name(cmd)} exited with code {result.code}: {_tail(result.stderr)}")
    return result


def parse_timings(stderr: str) -> dict | None:
    """The ``timings: {json}`` line of ``python -m qa ask --timings``, or None."""
    found = _TIMINGS_LINE.findall(stderr)
    if not found:
        return None
    try:
        data = json.loads(found[-1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


COLD_PARTS = ("total_s", "imports_s", "model_load_s", "index_load_s", "answer_s")


def bench_cold_start(cli: CliRunner, question: str, index_dir: Path, docs: list[str] | None,
                     runs: int) -> dict:
    stage("cold start: one untimed run (warms the OS file cache)")
    cli.ask(question, index_dir, docs)
    results = []
    for i in range(runs):
        stage(f"cold start: run {i + 1}/{runs}")
        results.append(cli.ask(question, index_dir, docs))
    timings = [t or {} for _, t in results]
    out = {"question": question, "runs": runs,
           "wall_s": stats([r.wall_s for r, _ in results]),
           **{k: stats([_number(t.get(k)) for t in timings]) for k in COLD_PARTS},
           "peak_rss_mb": stats([r.peak_rss_mb for r, _ in results])}
    report("\n".join([
        f"cold start: python -m qa ask --quiet, {runs} fresh processes (OS file cache warm)",
        _header("median", "min", "max"),
        _row("wall time, from outside", out["wall_s"], "s"),
        _row("total, from inside", out["total_s"], "s"),
        _row("  imports", out["imports_s"], "s"),
        _row("  model load", out["model_load_s"], "s"),
        _row("  index load", out["index_load_s"], "s"),
        _row("  answer", out["answer_s"], "s"),
        _row("peak RSS", out["peak_rss_mb"], "MB"),
    ]))
    return out


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


# ------------------------------------------------------------- 2. warm latency

def measure_warm(bot, questions: list[str], rounds: int, *, label: str) -> dict:
    """Ask every question once (warm-up), then ``rounds`` times; see the module doc, section 2."""
    from qa.retrieve import POOL

    encoder = bot.encoder
    for q in questions:
        bot.ask(q)
    samples: dict[str, list] = {k: [] for k in ("e2e_ms", "encode_ms", "retrieve_ms", "read_ms",
                                                "floor_encode_ms", "floor_search_ms", "floor_ms")}
    for r in range(rounds):
        stage(f"{label}: round {r + 1}/{rounds} ({len(questions)} questions)")
        for q in questions:
            t0 = time.perf_counter()
            reply = bot.ask(q)
            samples["e2e_ms"].append((time.perf_counter() - t0) * 1000)
            split = reply.timings
            for k in ("encode_ms", "retrieve_ms", "read_ms"):
                samples[k].append(_number(split.get(k)))
            t0 = time.perf_counter()
            vector = encoder.embed_texts([q])[0]
            t1 = time.perf_counter()
            bot.index.search(vector, POOL)
            t2 = time.perf_counter()
            samples["floor_encode_ms"].append((t1 - t0) * 1000)
            samples["floor_search_ms"].append((t2 - t1) * 1000)
            samples["floor_ms"].append((t2 - t0) * 1000)
    out = {k: stats(v) for k, v in samples.items()}
    out["e2e_over_floor"] = _ratio(out["e2e_ms"], out["floor_ms"])
    return out


def bench_warm(bot, questions: list[str], rounds: int) -> dict:
    out = {"questions": len(questions), "rounds": rounds, "encoder": type(bot.encoder).__name__,
           **measure_warm(bot, questions, rounds, label="warm latency")}
    ratio = out["e2e_over_floor"]
    report("\n".join([
        f"warm latency: {len(questions)} questions x {rounds} rounds of bot.ask, after one warm-up round",
        _header("p50", "p95", "min", "max"),
        _row("end to end", out["e2e_ms"], "ms", p95=True),
        _row("  encode (reply.timings)", out["encode_ms"], "ms", p95=True),
        _row("  retrieve", out["retrieve_ms"], "ms", p95=True),
        _row("  read", out["read_ms"], "ms", p95=True),
        _row(f"floor: bare encode ({out['encoder']})", out["floor_encode_ms"], "ms", p95=True),
        _row("floor: dense search", out["floor_search_ms"], "ms", p95=True),
        _row("floor: encode + search", out["floor_ms"], "ms", p95=True),
        f"  {'end to end / floor (p50)':<{LABEL}}{_fmt(ratio, 'x'):>9}",
    ]))
    return out


# ------------------------------------------------------------ 3. index build

def shared_models(bot) -> dict:
    """Keyword arguments for ``QA.load`` that reuse ``bot``'s loaded models, so
    timed builds and loads do not count model loading."""
    return {"embedder": bot.embedder, "encoder": bot.encoder}


def bench_build(bot, docs: list[str] | None, runs: int) -> dict:
    from qa import QA

    build_s, encode_s, built = [], [], None
    with tempfile.TemporaryDirectory(prefix="docqa-bench-build-") as tmp:
        for i in range(runs):
            stage(f"index build: fresh build {i + 1}/{runs}")
            t0 = time.perf_counter()
            built = QA.load(docs, index_dir=Path(tmp) / f"run-{i}", progress=False, **shared_models(bot))
            build_s.append(time.perf_counter() - t0)
    texts = [c.text for c in built.index.chunks] + [s.text for s in built.index.sentences]
    for i in range(runs):
        stage(f"index build: raw encode {i + 1}/{runs} ({len(texts)} texts)")
        t0 = time.perf_counter()
        for j in range(0, len(texts), ENCODE_BATCH):
            bot.embedder.embed_texts(texts[j:j + ENCODE_BATCH])
        encode_s.append(time.perf_counter() - t0)
    chunks, sentences = len(built.index.chunks), len(built.index.sentences)
    mb = _text_mb(built.index)
    b, e = stats(build_s), stats(encode_s)
    out = {"runs": runs, "documents": len(built.index.documents), "chunks": chunks,
           "sentences": sentences, "text_mb": round(mb, 4), "build_s": b, "raw_encode_s": e,
           "build_chunks_per_s": _per(chunks, b), "build_texts_per_s": _per(chunks + sentences, b),
           "build_text_mb_per_s": _per(mb, b), "raw_encode_texts_per_s": _per(chunks + sentences, e),
           "build_over_raw_throughput": _ratio(e, b)}
    del built
    gc.collect()
    report("\n".join([
        f"index build: {chunks} chunks + {sentences} sentences, {mb:.3f} MB of text, "
        f"{runs} fresh build(s)",
        _header("median", "min", "max"),
        _row("build (model already loaded)", b, "s"),
        _row("raw encode of the same texts", e, "s"),
        f"  build: {_fmt(out['build_chunks_per_s'], 'chunks/s')}, {_fmt(out['build_texts_per_s'], 'texts/s')}, "
        f"{_fmt(out['build_text_mb_per_s'], 'MB/s')}; raw encode: {_fmt(out['raw_encode_texts_per_s'], 'texts/s')}",
        f"  build throughput / raw encode throughput: {_fmt(out['build_over_raw_throughput'], '')}",
    ]))
    return out


def sample_pdf(pages: int) -> bytes:
    """A PDF of ``pages`` A4 pages of running text, about 2,500 characters a
    page, none repeated (a repeated text would be embedded once): the
    docstrings of the installed modules (``eval.corpus``), made with fpdf2."""
    import matplotlib
    from fpdf import FPDF

    from eval.corpus import module_texts

    paragraphs = (p.strip() for _, text in module_texts() for p in text.split("\n\n") if p.strip())
    doc = FPDF(format="A4")
    doc.set_auto_page_break(False)
    doc.add_font("dejavu", fname=str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"))
    doc.set_font("dejavu", size=9)
    for _ in range(pages):
        doc.add_page()
        text = ""
        for paragraph in paragraphs:
            text += " ".join(paragraph.split())[:1200] + "\n\n"
            if len(text) >= 2500:
                break
        doc.multi_cell(0, 4.5, text[:2700].strip())
    return bytes(doc.output())


def bench_formats(bot, pages: int, runs: int) -> dict:
    """Section 6: converting a ``pages``-page PDF to text (``runs`` times), and
    indexing it end to end (conversion, chunks, vectors, parse; models loaded)."""
    from index.formats.pdf import convert_pdf
    from qa import QA

    stage(f"formats: making a {pages}-page PDF")
    data = sample_pdf(pages)
    convert_s = []
    for i in range(runs):
        stage(f"formats: converting it {i + 1}/{runs}")
        t0 = time.perf_counter()
        converted = convert_pdf(data)
        convert_s.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory(prefix="docqa-bench-pdf-") as tmp:
        path = Path(tmp) / f"sample-{pages}-pages.pdf"
        path.write_bytes(data)
        stage("formats: indexing it end to end")
        t0 = time.perf_counter()
        built = QA.load([path], index_dir=Path(tmp) / "index", progress=False, **shared_models(bot))
        index_s = time.perf_counter() - t0
        chunks, sentences = len(built.index.chunks), len(built.index.sentences)
        del built
    gc.collect()
    c = stats(convert_s)
    out = {"pages": pages, "pdf_bytes": len(data), "chars": len(converted.text), "runs": runs,
           "convert_s": c, "convert_pages_per_s": _per(pages, c), "index_s": round(index_s, 4),
           "index_pages_per_s": round(pages / index_s, 3), "chunks": chunks, "sentences": sentences}
    report("\n".join([
        f"formats: a {pages}-page PDF ({len(data) / 1e6:.2f} MB, {len(converted.text):,} characters)",
        _header("median", "min", "max"),
        _row("convert to text (pypdfium2)", c, "s"),
        f"  conversion: {_fmt(out['convert_pages_per_s'], 'pages/s')}; indexing end to end: "
        f"{index_s:.1f} s, {out['index_pages_per_s']:.2f} pages/s ({chunks} chunks, {sentences} sentences)",
    ]))
    return out


def _text_mb(index) -> float:
    return sum(len(d.text.encode("utf-8")) for d in index.documents.values()) / 2**20


# ----------------------------------------------------------------- 4. memory

def bench_memory(cold: dict | None, run_ui) -> dict:
    out = {"cli_peak_rss_mb": cold["peak_rss_mb"] if cold else None,
           "ui": run_ui() if run_ui else None}
    lines = ["memory", _header("median", "min", "max"),
             _row("python -m qa ask, peak RSS", out["cli_peak_rss_mb"], "MB")]
    ui = out["ui"]
    if ui:
        lines.append(f"  python -m ui, after one question: peak RSS (VmHWM) {_fmt(ui['peak_rss_mb'], 'MB')}, "
                     f"RSS now {_fmt(ui['rss_mb'], 'MB')}; ready after {_fmt(ui['ready_s'], 's')}, "
                     f"one /ask through gradio_client {_fmt(ui['ask_ms'], 'ms')}")
    report("\n".join(lines))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_ui(question: str, index_dir: Path, docs: list[str] | None, timeout: float) -> dict:
    """Start ``python -m ui`` on a free loopback port, ask one question, read its
    memory; the server is always stopped."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "ui", "--index-dir", str(index_dir), "--port", str(port), "-q"]
    if docs:
        cmd += ["--docs", *docs]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    stage(f"memory: starting python -m ui on {url}")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_http(url, proc, log, timeout)
            ready_s = time.perf_counter() - t0
            stage("memory: asking one question through gradio_client")
            from gradio_client import Client

            client = Client(url, verbose=False, download_files=False)
            t1 = time.perf_counter()
            reply = client.predict(question, api_name="/ask")
            ask_ms = (time.perf_counter() - t1) * 1000
            if not isinstance(reply, dict) or "passages" not in reply:
                raise BenchError(f"/ask returned {type(reply).__name__}, not a reply")
            status = _proc_status(proc.pid)
        finally:
            _stop(proc)
    return {"port": port, "ready_s": _round(ready_s), "ask_ms": _round(ask_ms),
            "peak_rss_mb": status.get("VmHWM"), "rss_mb": status.get("VmRSS"),
            "exit_code": proc.returncode}


def _wait_for_http(url: str, proc: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise BenchError(f"python -m ui exited with code {proc.returncode}: {_tail(log.read())}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise BenchError(f"python -m ui did not answer on {url} within {timeout:g} s")


def _proc_status(pid: int) -> dict[str, float]:
    """``VmHWM``/``VmRSS`` of ``pid`` in MiB, from /proc (empty where there is none)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB$", text, re.MULTILINE)
    return {k: round(int(v) / 1024, 1) for k, v in found}


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server as Ctrl+C does; kill it when it does not stop within 30 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------- 5. scaling

def bench_scaling(bot, cli: CliRunner, questions: list[str], sizes: list[str], out: Path,
                  previous: dict, args, *, save) -> dict:
    """The series, smallest first. After each size its row is printed, the plot
    redrawn and ``save(result so far)`` called, so an interrupted run keeps it."""
    from eval.corpus import SOURCE

    base = len(bot.index.chunks)
    result = {"corpus": SOURCE, "base_chunks": base, "sizes": []}
    previous_sizes = {s.get("target_chunks"): s
                      for s in (previous.get("scaling") or {}).get("sizes", [])}
    report("size      chunks   build s build MB   load s  index MB  query p50/p95 ms  "
           "CLI peak RSS MB  CLI total s  faiss / recall@10")
    for size in sorted(sizes, key=lambda x: target_chunks(x, base)):
        target = target_chunks(size, base)
        entry = bench_size(bot, cli, questions, size, target, out, previous_sizes.get(target), args)
        result["sizes"].append(entry)
        report(_scaling_row(entry))
        _write_plot(out / "scaling.png", result["sizes"], bot)
        save(result)
        stage(f"scaling {size}: done; wrote {out / 'scaling.png'} and bench.json")
    report("  (* build time of a previous run, from bench.json; + a partial build, resumed or "
           "refreshed, not a full build time;\n   – not measured; recall@10 only for an approximate index)")
    return result


def bench_size(bot, cli: CliRunner, questions: list[str], size: str, target: int, out: Path,
               before: dict | None, args) -> dict:
    from eval.corpus import write_corpus
    from qa import QA

    corpus = out / "corpora" / f"size-{target}"
    index_dir = out / "indexes" / f"size-{target}"
    stage(f"scaling {size}: writing a corpus of >= {target:,} chunks to {corpus}")
    info = write_corpus(corpus, target, first=[Path(d.path) for d in bot.index.documents.values()])
    created_before = _manifest_created(index_dir)
    # index.build keeps an interrupted build's finished batches beside the folder.
    resuming = any(index_dir.parent.glob(f".{index_dir.name}.build-*"))
    stage(f"scaling {size}: {info['documents']:,} document(s), {info['chunks']:,} chunks; "
          f"{'reusing the index' if created_before else 'building the index (embedding shows progress)'}")
    # Built (or refreshed, or only checked) by python -m qa index in a child
    # process, as a user builds it: its wall time and peak RSS are the build's.
    build = cli.index([str(corpus)], index_dir)
    t0 = time.perf_counter()
    scaled = QA.load([corpus], index_dir=index_dir, progress=not args.quiet, **shared_models(bot))
    elapsed = time.perf_counter() - t0
    created = scaled.index.manifest.created
    built = created != created_before or created is None
    # Resuming an interrupted build, or refreshing an index the product finds
    # stale, reuses vectors already made: only a build from nothing is timed as one.
    full = built and created_before is None and not resuming
    entry = {"size": size, "target_chunks": target, "documents": len(scaled.index.documents),
             "chunks": len(scaled.index.chunks), "sentences": len(scaled.index.sentences),
             "text_mb": round(_text_mb(scaled.index), 4), "index_created": created,
             "built_this_run": built, "build_s": _round(build.wall_s) if full else None,
             "build_measured": "this run" if full else None,
             "build_partial_s": _round(build.wall_s) if built and not full else None,
             "build_peak_rss_mb": _round(build.peak_rss_mb) if built else None,
             "load_s": _round(elapsed),
             "index_bytes": _folder_bytes(index_dir)}
    if not built and before and before.get("index_created") == created and before.get("build_s"):
        entry["build_s"] = before["build_s"]
        entry["build_peak_rss_mb"] = before.get("build_peak_rss_mb")
        entry["build_measured"] = (before["build_measured"] if before.get("build_measured") != "this run"
                                   else f"previous run {before.get('date') or '(date unknown)'}")
    entry["build_chunks_per_s"] = _per(entry["chunks"], entry["build_s"])
    entry["date"] = _now()
    entry["query_ms"] = measure_warm(scaled, questions, args.rounds,
                                     label=f"scaling {size}: warm queries")["e2e_ms"]
    entry["faiss"] = scaled.index.manifest.faiss
    entry["recall_at_10"] = None
    if entry["faiss"] not in (None, "IndexFlatIP", "IndexFlatL2"):
        stage(f"scaling {size}: recall@{RECALL_K} of {entry['faiss']} against exact search")
        entry["recall_at_10"] = _round(recall_at_k(scaled.index, recall_queries(
            scaled, questions, args.recall_sentences), RECALL_K))
    del scaled
    gc.collect()
    stage(f"scaling {size}: a python -m qa ask process over this index (peak RSS)")
    proc, timings = cli.ask(questions[0], index_dir, [str(corpus)])
    entry["cli"] = {"wall_s": _round(proc.wall_s), "peak_rss_mb": _round(proc.peak_rss_mb),
                    "timings": timings}
    return entry


def _manifest_created(folder: Path) -> str | None:
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("created")
    except (OSError, ValueError, AttributeError):
        return None


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def recall_queries(bot, questions: list[str], n_sentences: int) -> np.ndarray:
    """Query vectors for recall: the questions, plus ``n_sentences`` of the
    corpus's sentences (a fixed-seed sample), encoded as questions are."""
    sentences = bot.index.sentences
    picked = random.Random(SEED).sample(range(len(sentences)), min(n_sentences, len(sentences)))
    texts = list(questions) + [sentences[i].text for i in picked]
    encoder = bot.encoder
    return np.concatenate([encoder.embed_texts(texts[i:i + ENCODE_BATCH])
                           for i in range(0, len(texts), ENCODE_BATCH)])


def exact_top_k(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, scores)``, each ``(len(queries), k)``: the exact top ``k`` chunks by
    inner product, best first (``index.search_exact``)."""
    rows = [index.search_exact(q, k) for q in queries]
    return (np.array([[h.chunk.chunk_id for h in r] for r in rows]),
            np.array([[h.score for h in r] for r in rows], dtype=np.float32))


def recall_at_k(index, queries: np.ndarray, k: int = RECALL_K) -> float:
    """Mean over ``queries`` of the share of the exact top ``k`` that
    ``index.search(q, k)`` returns. A hit scoring at least the exact k-th score
    (less 1e-5) counts as found too: chunks with the same text tie, and either
    one is right."""
    k = min(k, len(index.chunks))
    ids, scores = exact_top_k(index, queries, k)
    shares = []
    for query, exact_ids, exact_scores in zip(queries, ids, scores):
        wanted = set(exact_ids.tolist())
        found = sum(1 for h in index.search(query, k)
                    if h.chunk.chunk_id in wanted or h.score >= exact_scores[-1] - 1e-5)
        shares.append(min(found, k) / k)
    return float(np.mean(shares)) if shares else float("nan")


def _scaling_row(e: dict) -> str:
    q = e["query_ms"]
    if e["build_partial_s"] is not None:
        build = _fmt(e["build_partial_s"], "") + "+"
    else:
        build = _fmt(e["build_s"], "") + ("*" if e["build_s"] is not None and not e["built_this_run"] else "")
    total = (e["cli"]["timings"] or {}).get("total_s")
    recall = "–" if e["recall_at_10"] is None else f"{e['recall_at_10']:.3f}"
    return (f"{e['size']:>7} {e['chunks']:>8,} {build:>9} {_fmt(e.get('build_peak_rss_mb'), ''):>8} "
            f"{_fmt(e['load_s'], ''):>8} "
            f"{e['index_bytes'] / 2**20:>9.1f} {_fmt(q['p50'], ''):>8}/{_fmt(q['p95'], ''):<8} "
            f"{_fmt(e['cli']['peak_rss_mb'], ''):>15} {_fmt(total, ''):>12}  {e['faiss']} / {recall}")


def _write_plot(path: Path, sizes: list[dict], bot) -> None:
    """scaling.png: four log-log panels against chunk count, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    def series(get):
        pts = [(e["chunks"], get(e)) for e in sizes]
        pts = [(x, y) for x, y in pts if isinstance(y, (int, float)) and y > 0]
        return [x for x, _ in pts], [y for _, y in pts]

    panels = [
        ("index build time (s)", [("build", lambda e: e["build_s"])]),
        ("index size on disk (MB)", [("index", lambda e: e["index_bytes"] / 2**20)]),
        ("warm query latency (ms)", [("p50", lambda e: e["query_ms"]["p50"]),
                                     ("p95", lambda e: e["query_ms"]["p95"])]),
        ("peak RSS (MB)", [("python -m qa ask", lambda e: e["cli"]["peak_rss_mb"]),
                           ("python -m qa index", lambda e: e.get("build_peak_rss_mb"))]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for ax, (title, lines) in zip(axes.flat, panels):
        for label, get in lines:
            xs, ys = series(get)
            if xs:
                ax.plot(xs, ys, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Ticks at the measured sizes, and plain numbers, not powers of ten.
        ax.set_xticks([e["chunks"] for e in sizes], [f"{e['chunks']:,}" for e in sizes])
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        plain = ticker.FuncFormatter(lambda y, _: f"{y:g}")
        low, high = ax.get_ylim()
        ax.yaxis.set_major_formatter(plain)
        # Minor ticks get labels only when the axis spans too little for major ones.
        ax.yaxis.set_minor_formatter(plain if high < 20 * low else ticker.NullFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("chunks")
        ax.grid(True, which="both", alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(f"docqa scaling ({bot.index.model_name}; {os.cpu_count()} CPUs; {_now()})", fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------- 7. concurrency

def milvus_options(args) -> dict:
    """``QA.load``'s backend arguments for the Milvus run of section 7, with
    the URI and collection filled in (``{}`` for ``--backend embedded``). The
    flags are checked by ``qa.cli.backend_options``, as every edge's are
    (``--milvus-uri`` without ``--backend milvus`` is an ``InputError``)."""
    options = backend_options(args)
    if not options:
        return {}
    uri = options["milvus_uri"]
    collection = options["milvus_collection"]
    return {"backend": "milvus",
            "milvus_uri": uri if uri is not None else DEFAULT_MILVUS_URI,
            "milvus_collection": collection if collection is not None else BENCH_COLLECTION}


def milvus_server_version(uri: str) -> str | None:
    """The version the Milvus server at ``uri`` reports ("milvus_lite-3.2.2"
    for the test server); ``BackendError`` saying how to start one when none
    answers."""
    from index.milvus import MilvusSettings, connect
    from qa import BackendError

    try:
        client = connect(MilvusSettings(uri, token=os.environ.get(TOKEN_ENV) or None, timeout=10))
    except BackendError as exc:
        raise BackendError(f"{exc}: start one (milvus-lite server --data-dir DIR --host 127.0.0.1 "
                           "--port 19530) or pass --milvus-uri") from None
    version = client.get_server_version()
    client.close()
    return str(version) if version else None


def load_milvus(bot, docs: list[str] | None, index_dir: Path, options: dict, *, progress: bool):
    """A ``QA`` answering from Milvus: the index of ``docs`` in ``index_dir``
    (already built: only loaded), uploaded to the collection (what it lacks),
    with ``bot``'s models."""
    from qa import QA

    stage(f"concurrency: uploading the index of --docs to Milvus collection "
          f"{options['milvus_collection']!r} at {options['milvus_uri']} (what it lacks)")
    return QA.load(docs, index_dir=index_dir, progress=progress, **options, **shared_models(bot))


@dataclass(frozen=True)
class ClientRound:
    """One timed round of section 7: every answered question's latency, the
    round's wall time (all clients start together; it ends with the last),
    the exceptions ``ask`` raised (``"Type: message"``) and how many replies'
    answers differed from the question's reference answer."""
    latencies_ms: tuple[float, ...]
    wall_s: float
    errors: tuple[str, ...] = ()
    differing: int = 0
    traceback: str | None = None   # of the first error


def deal_questions(questions: list[str], clients: int, count: int, offset: int = 0) -> list[list[str]]:
    """``count`` questions, from ``questions[offset % len]`` on, cycling, dealt
    round robin to ``clients`` lists (their lengths differ by one at most).

    >>> deal_questions(["a", "b", "c"], 2, 5, offset=1)
    [['b', 'a', 'c'], ['c', 'b']]
    """
    if not questions:
        raise InputError("no questions to ask")
    dealt: list[list[str]] = [[] for _ in range(clients)]
    for k in range(count):
        dealt[k % clients].append(questions[(offset + k) % len(questions)])
    return dealt


def answer_text(reply) -> str | None:
    """What a reply answers (None when it abstains): replies are compared by it."""
    return reply.answer.text if reply.answer is not None else None


def run_clients(bot, dealt: list[list[str]], reference: dict[str, str | None], warmup: str) -> ClientRound:
    """One round: a thread per list of ``dealt``, all sharing ``bot``; each asks
    ``warmup`` untimed, then, once all are ready, its questions one after the
    other. An exception is counted, not raised (the bench is an edge, and
    errors under concurrency are a finding); a reply is compared with
    ``reference[question]``."""
    ready = threading.Barrier(len(dealt) + 1)
    latencies: list[float] = []
    errors: list[str] = []
    tracebacks: list[str] = []
    differing = [0]
    lock = threading.Lock()

    def failed(exc: BaseException) -> None:
        with lock:
            errors.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            tracebacks.append(traceback.format_exc())

    def client(mine: list[str]) -> None:
        try:
            bot.ask(warmup)
        except Exception as exc:   # noqa: BLE001 - counted, see the docstring
            failed(exc)
        finally:
            ready.wait()
        for question in mine:
            t0 = time.perf_counter()
            try:
                reply = bot.ask(question)
            except Exception as exc:   # noqa: BLE001
                failed(exc)
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(elapsed)
                differing[0] += answer_text(reply) != reference.get(question)

    threads = [threading.Thread(target=client, args=(mine,), daemon=True) for mine in dealt]
    for t in threads:
        t.start()
    ready.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall_s = time.perf_counter() - t0
    return ClientRound(tuple(latencies), wall_s, tuple(errors), differing[0],
                       tracebacks[0] if tracebacks else None)


def summarize_clients(clients: int, rounds: list[ClientRound]) -> dict:
    """Section 7's figures for one client count: ``latency_ms`` (stats of every
    answered question's latency, all rounds together), ``questions_per_s``
    (stats of each round's answered questions / its wall time: p50 is the
    median round), ``answered``, ``errors`` (warm-up questions' included) and
    ``error_samples`` (the first ``ERROR_SAMPLES`` distinct messages),
    ``first_traceback``, ``answers_differing``.

    >>> summarize_clients(2, [ClientRound((10.0, 30.0), 0.5)])["questions_per_s"]["p50"]
    4.0
    """
    errors = [e for r in rounds for e in r.errors]
    return {"clients": clients, "rounds": len(rounds),
            "answered": sum(len(r.latencies_ms) for r in rounds),
            "latency_ms": stats(x for r in rounds for x in r.latencies_ms),
            "questions_per_s": stats(len(r.latencies_ms) / r.wall_s for r in rounds if r.wall_s > 0),
            "errors": len(errors), "error_samples": list(dict.fromkeys(errors))[:ERROR_SAMPLES],
            "first_traceback": next((r.traceback for r in rounds if r.traceback), None),
            "answers_differing": sum(r.differing for r in rounds)}


def measure_concurrency(bot, questions: list[str], clients: list[int], per_round: int, rounds: int,
                        *, label: str) -> dict:
    """Section 7 for one backend: every question asked once, serially (the
    warm-up, and each question's reference answer), then for each client
    count ``rounds`` rounds of ``per_round`` questions (``deal_questions``,
    each round going on where the last stopped)."""
    stage(f"{label}: warm-up, every question once ({len(questions)})")
    reference = {q: answer_text(bot.ask(q)) for q in dict.fromkeys(questions)}
    runs = []
    for n in clients:
        done = []
        for r in range(rounds):
            stage(f"{label}: {n} client(s), round {r + 1}/{rounds} ({per_round} questions)")
            dealt = deal_questions(questions, n, per_round, offset=r * per_round)
            done.append(run_clients(bot, dealt, reference, warmup=questions[r % len(questions)]))
        runs.append(summarize_clients(n, done))
    return {"reference_answers": reference, "runs": runs}


def backend_facts(bot) -> dict:
    """Which backend ``bot`` answers from, and where (for the JSON)."""
    from index.milvus import MilvusIndex

    if not isinstance(bot.index, MilvusIndex):
        return {"index": f"embedded ({bot.index.manifest.faiss} + bm25s)", "folder": str(bot.index.folder)}
    settings = bot.index.settings
    return {"index": "MilvusIndex", "uri": settings.uri, "collection": settings.collection}


def bench_concurrency(bots: dict, questions: list[str], clients: list[int], per_round: int,
                      rounds: int) -> dict:
    """Section 7, for each backend of ``bots`` (``{"embedded": QA, "milvus": QA}``)."""
    out = {"questions": len(questions), "clients": clients, "questions_per_round": per_round,
           "rounds": rounds, "caveat": MILVUS_CAVEAT if "milvus" in bots else None, "backends": {}}
    for name, bot in bots.items():
        measured = measure_concurrency(bot, questions, clients, per_round, rounds,
                                       label=f"concurrency {name}")
        out["backends"][name] = {**backend_facts(bot), **measured}
    embedded = out["backends"]["embedded"]["reference_answers"]
    for name, backend in out["backends"].items():
        backend["answers_unlike_embedded"] = sum(a != embedded.get(q) for q, a in
                                                 backend["reference_answers"].items())
    report(_concurrency_table(out))
    return out


def _concurrency_table(out: dict) -> str:
    lines = [f"concurrency: N threads sharing one QA, {out['rounds']} round(s) of "
             f"{out['questions_per_round']} questions per client count, after a warm-up",
             f"  {'backend':<10}{'clients':>8}{'p50 ms':>9}{'p95 ms':>9}{'q/s':>9}"
             f"{'errors':>8}{'differing':>11}"]
    for name, backend in out["backends"].items():
        for run in backend["runs"]:
            lat, qps = run["latency_ms"] or {}, run["questions_per_s"] or {}
            lines.append(f"  {name:<10}{run['clients']:>8}{_fmt(lat.get('p50'), ''):>9}"
                         f"{_fmt(lat.get('p95'), ''):>9}{_fmt(qps.get('p50'), ''):>9}"
                         f"{run['errors']:>8}{run['answers_differing']:>11}")
            lines += [f"    error: {e}" for e in run["error_samples"]]
    lines.append("  (latency: each question's bot.ask, all rounds; q/s: answered questions per "
                 "second, median round;\n   differing: replies whose answer is not the one asked "
                 "alone in the warm-up)")
    for name, backend in out["backends"].items():
        if name != "embedded":
            lines.append(f"  {name}: {backend['answers_unlike_embedded']} of {len(backend['reference_answers'])} "
                         f"questions answered otherwise than by the embedded backend")
    if out["caveat"]:
        lines.append(f"  caveat: {out['caveat']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ helpers

def stats(samples) -> dict | None:
    """``{"p50", "p95", "min", "max", "n"}`` of the numbers in ``samples`` (None
    entries dropped); None when there are none."""
    xs = np.asarray([x for x in samples if x is not None], dtype=float)
    if xs.size == 0:
        return None
    return {"p50": _round(float(np.median(xs))), "p95": _round(float(np.percentile(xs, 95))),
            "min": _round(float(xs.min())), "max": _round(float(xs.max())), "n": int(xs.size)}


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")


def _ratio(a: dict | None, b: dict | None) -> float | None:
    if not a or not b or not b["p50"]:
        return None
    return _round(a["p50"] / b["p50"])


def _per(amount: float, seconds) -> float | None:
    """``amount`` per second, for a duration given as a number or a stats dict."""
    s = seconds["p50"] if isinstance(seconds, dict) else seconds
    return _round(amount / s) if s else None


def _fmt(x, unit: str) -> str:
    if x is None:
        return "–"
    text = f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return f"{text} {unit}".rstrip()


LABEL = 44   # width of a table's first column


def _header(*columns: str) -> str:
    return f"  {'':<{LABEL}}" + "".join(f"{c:>9}" for c in columns)


def _row(label: str, s: dict | None, unit: str, *, p95: bool = False) -> str:
    """One table line: median (or p50 and p95), min, max; dashes when not measured."""
    keys = ["p50"] + (["p95"] if p95 else []) + ["min", "max"]
    cols = [_fmt(s[k], "") if s else "–" for k in keys]
    return f"  {label:<{LABEL}}" + "".join(f"{c:>9}" for c in cols) + f" {unit}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _read_previous(path: Path) -> dict:
    """An earlier run's bench.json (for build times of indexes it built), or {}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def machine_facts() -> dict:
    def version(module: str) -> str | None:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        try:
            return dist_version(module)
        except PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "env": {k: os.environ.get(k) for k in THREAD_ENV},
        "versions": {m: version(m) for m in ("torch", "sentence-transformers", "faiss-cpu", "numpy",
                                             "onnxruntime", "bm25s", "gradio")},
        "git_commit": commit,
    }


def thread_facts(bot) -> dict:
    """Threads as the product set them (never changed here)."""
    torch = sys.modules.get("torch")
    encoder = bot.encoder
    return {"embedder_threads": bot.embedder.threads,
            "encoder": type(encoder).__name__, "encoder_threads": getattr(encoder, "threads", None),
            "torch_threads": torch.get_num_threads() if torch else None}


if __name__ == "__main__":
    sys.exit(main())
