"""``python -m eval.stress``: a load test of the web UI over loopback HTTP.
A script that prints figures, not a test: nothing is asserted.

    python -m eval.stress [--quick] [--skip-upload] [--upload-delay S] [--json FILE]
                          [--port N] [--host 127.0.0.1]

It starts ``python -m ui --port PORT --state-dir TMP/state -q`` (a fresh
temporary folder, which also holds Gradio's copies of uploads and is deleted at
the end; the server is always stopped), waits for its
"docqa is ready at" line, asks one warm-up question, then runs, in this order:

1. ``baseline``: one client asks each of the first 25 dev questions once
   (``tests/data/china-kazakhstan.dev.jsonl``); its answers are the reference;
2. ``clients``: 8 clients x 25 questions, each client asking in turn;
3. ``many_clients``: 32 clients x 5 questions;
4. ``burst``: 300 questions submitted at once, past the UI's queue (64 waiting):
   refusals are expected and reported as a client sees them (HTTP status and
   ``detail``); one is "clear" when it says "try again";
5. ``upload``: 8 clients x 25 questions while a generated ~2 MB document is
   indexed, uploaded through the UI's own upload event as a browser does it
   (``/gradio_api/upload``, then the click of ``#docqa-use-files`` through
   ``/gradio_api/queue/join``, progress from ``/gradio_api/queue/data``). The
   questions start ``--upload-delay`` (2) s after the upload's progress first
   says "Embedding" (the worker has loaded its model and embeds); the indexing
   is not waited for, and the progress it reported when the questions started
   and ended is printed.
   Top-level ``p95_upload_over_clients`` = its p95 / the p95 of ``clients``.

``--quick``: the same scenarios, tiny (3 and 6 clients x 2 questions, a
burst of 80, over the first 4 questions): seconds once the server is up.

Questions go through the public API exactly as any HTTP client sends them
(``eval.ui_http``). Each scenario reports ``requests``, ``answered``,
``errors`` and ``error_messages`` (each distinct message, with its count),
``differ`` (answers whose text/start/end, or abstention, differ from the
baseline's for the same question; ``differing`` shows up to 5),
``latency_ms`` (``{"p50", "p95", "min", "max", "n"}`` as in ``eval.bench``,
submit to result, answered questions only), ``wall_s`` and ``rss_mb`` (the
server's after it). The burst adds ``refused``, ``refusal_messages`` and
``clear_refusals``; the upload adds ``upload`` (whether it was still indexing
when the questions ended, its progress then). ``memory``: the server
process's own VmRSS (MiB, not its children's: uploads are indexed in a
worker process) after the warm-up question and at the end, and the growth.

Bounded: every HTTP call has a timeout, every question 120 s, every scenario
``SCENARIO_CAP_S`` (questions not answered by then count as errors). Exit
status 0 when it ran (figures are figures), 1 when the server could not be
started or reached, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from eval.bench import free_port, stats
from eval.ui_http import Result, UIError, ask, start_upload
from index.errors import WriteError
from index.files import write_json_atomic
from qa.cli import EXIT_USAGE, bounded

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS_FILE = ROOT / "tests" / "data" / "china-kazakhstan.dev.jsonl"
N_QUESTIONS = 25               # the first 25 dev questions, in file order
LOOPBACK = "127.0.0.1"
SCHEMA = 1
EXIT_SERVER = 1
READY_TIMEOUT_S = 180          # the first start may build the bundled article's index
QUESTION_TIMEOUT_S = 120
SCENARIO_CAP_S = 900
UPLOAD_DELAY_S = 2.0           # questions start this long after the upload began embedding (default)
UPLOAD_START_TIMEOUT_S = 120   # until the upload's indexing starts
UPLOAD_EMBED_TIMEOUT_S = 120   # then until its worker has loaded its model and embeds
UPLOAD_BYTES = 2_000_000
UPLOAD_BUTTON = "docqa-use-files"
UPLOAD_NAME = "big.txt"
SEED = 20240611
# Connect fast; a read may wait for a server-sent event (heartbeats come every 15 s).
HTTP_TIMEOUT = dict(connect=10.0, read=60.0, write=60.0, pool=60.0)


@dataclass(frozen=True)
class Plan:
    """One scenario: ``clients`` each asking ``per_client`` questions in turn."""
    key: str
    title: str
    clients: int
    per_client: int


FULL = (Plan("baseline", "1. baseline, 1 client", 1, N_QUESTIONS),
        Plan("clients", "2. 8 clients x 25", 8, 25),
        Plan("many_clients", "3. 32 clients x 5", 32, 5),
        Plan("burst", "4. burst of 300 at once", 300, 1),
        Plan("upload", "5. 8 x 25 during an upload", 8, 25))
# The test's run: a few clients, 2 questions each; the burst still passes the queue (64).
QUICK = (Plan("baseline", "1. baseline, 1 client", 1, 4),
         Plan("clients", "2. 3 clients x 2", 3, 2),
         Plan("many_clients", "3. 6 clients x 2", 6, 2),
         Plan("burst", "4. burst of 80 at once", 80, 1),
         Plan("upload", "5. 3 x 2 during an upload", 3, 2))


class ServerError(RuntimeError):
    """The server could not be started or reached; the message says why."""


# ------------------------------------------------------------------ arguments

def _loopback(text: str) -> str:
    if text != LOOPBACK:
        raise argparse.ArgumentTypeError(f"must be {LOOPBACK} (the stress test never leaves "
                                         f"this machine), got {text!r}")
    return text


_port = bounded(int, lambda n: 0 < n < 65536, "a port number 1-65535")
_seconds = bounded(float, lambda x: 0 <= x <= 600, "a number of seconds 0-600")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.stress",
        description="Load-test the web UI on loopback: concurrent clients, a burst past the "
                    "queue, questions during an upload; latency, errors, answers, memory.")
    p.add_argument("--quick", action="store_true",
                   help="a tiny run (a few clients x 2 questions, a burst of 80): under a minute")
    p.add_argument("--skip-upload", action="store_true", help="leave out scenario 5 (the upload)")
    p.add_argument("--upload-delay", type=_seconds, default=UPLOAD_DELAY_S, metavar="S",
                   help=f"scenario 5 starts its questions S seconds after the indexing starts "
                        f"(default {UPLOAD_DELAY_S:g}; the worker loads its language model first, "
                        f"then embeds for minutes)")
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    p.add_argument("--port", type=_port, help="serve on this port (default: a free one)")
    p.add_argument("--host", type=_loopback, default=LOOPBACK,
                   help=f"address to serve on; only {LOOPBACK} is accepted")
    return p


def load_questions(path: Path = QUESTIONS_FILE, n: int = N_QUESTIONS) -> list[str]:
    """The first ``n`` questions of a JSONL file with a "question" key per line."""
    questions = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                questions.append(json.loads(line)["question"])
            if len(questions) == n:
                break
    return questions


def client_questions(questions: list[str], clients: int, per_client: int) -> list[list[str]]:
    """What each client asks: ``per_client`` consecutive questions (wrapping round),
    client ``c`` starting at ``c * len(questions) // clients``, so the clients are
    spread over the list rather than asking the same question at the same time."""
    n = len(questions)
    return [[questions[(c * n // clients + j) % n] for j in range(per_client)]
            for c in range(clients)]


# ------------------------------------------------------------------ the server

@dataclass
class Server:
    proc: subprocess.Popen
    url: str                     # no trailing slash
    ready_s: float
    log: list[str]


def ui_has_state_dir() -> bool:
    """Whether this checkout's ``python -m ui`` takes ``--state-dir``."""
    try:
        out = subprocess.run([sys.executable, "-m", "ui", "--help"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return "--state-dir" in out.stdout


def start_server(host: str, port: int, state_dir: Path | None, gradio_tmp: Path,
                 timeout: float = READY_TIMEOUT_S) -> Server:
    """Spawn ``python -m ui`` and wait for its ready line; Gradio keeps its copies
    of uploads in ``gradio_tmp``. Raises ``ServerError`` (after stopping it) when
    it exits or stays silent past ``timeout``."""
    cmd = [sys.executable, "-m", "ui", "--host", host, "--port", str(port), "-q"]
    if state_dir is not None:
        cmd += ["--state-dir", str(state_dir)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False",
               GRADIO_TEMP_DIR=str(gradio_tmp))
    t0 = time.perf_counter()
    # Its own session: a Ctrl+C here does not reach it; stop_server ends it.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True)
    log: list[str] = []
    ready = threading.Event()
    found: list[str] = []

    def read() -> None:   # drains the pipe for the server's whole life
        for line in proc.stdout:
            log.append(line.rstrip("\n"))
            m = re.search(r"docqa is ready at (http://\S+)", line)
            if m and not found:
                found.append(m.group(1).rstrip("/"))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    server = Server(proc, "", 0.0, log)
    if not ready.wait(timeout) or not found:
        stop_server(server)
        why = (f"exited with code {proc.returncode}" if proc.returncode is not None
               else f"did not say it was ready within {timeout:g} s")
        tail = " | ".join(line for line in log[-3:] if line.strip())
        raise ServerError(f"python -m ui {why}" + (f": {tail}" if tail else ""))
    server.url, server.ready_s = found[0], time.perf_counter() - t0
    if not server.url.startswith(f"http://{LOOPBACK}:"):
        stop_server(server)
        raise ServerError(f"python -m ui serves on {server.url}, not on {LOOPBACK}")
    return server


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group, SIGKILL when it lingers past 15 s."""
    proc = server.proc
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def rss_mb(pid: int) -> float | None:
    """VmRSS of process ``pid`` itself (not its children), in MiB; None when gone."""
    try:
        m = re.search(r"^VmRSS:\s+(\d+) kB$", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return None
    return round(int(m.group(1)) / 1024, 1) if m else None


# ------------------------------------------------------------------ a scenario

async def run_clients(client, url: str, jobs: list[list[str]], cap_s: float) -> tuple[list[Result], float]:
    """Every client of ``jobs`` at once, each asking its questions in turn; after
    ``cap_s`` the questions still unanswered count as errors. Returns the
    results and the wall time in seconds."""
    results: list[Result] = []

    async def one(questions: list[str]) -> None:
        for q in questions:
            try:
                results.append(await asyncio.wait_for(ask(client, url, q), QUESTION_TIMEOUT_S))
            except asyncio.TimeoutError:
                results.append(Result(q, error=f"no result within {QUESTION_TIMEOUT_S} s"))

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(one(qs)) for qs in jobs]
    _, pending = await asyncio.wait(tasks, timeout=cap_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - t0
    missing = sum(len(qs) for qs in jobs) - len(results)
    results += [Result("", error=f"not answered within the scenario's {cap_s:g} s cap")] * missing
    return results, wall


def summarise(plan: Plan, results: list[Result], wall_s: float,
              reference: dict[str, tuple | None]) -> dict:
    """A scenario's figures (see the module docstring)."""
    answered = [r for r in results if r.ms is not None]
    errors = [r for r in results if r.error is not None and not r.refused]
    refused = [r for r in results if r.refused]
    differing = [r for r in answered if r.question in reference and r.answer != reference[r.question]]
    out = {
        "title": plan.title, "clients": plan.clients, "questions_per_client": plan.per_client,
        "requests": len(results), "answered": len(answered),
        "errors": len(errors), "error_messages": dict(Counter(r.error for r in errors)),
        "differ": len(differing),
        "differing": [{"question": r.question, "got": r.answer, "baseline": reference[r.question]}
                      for r in differing[:5]],
        "latency_ms": stats(r.ms for r in answered),
        "wall_s": round(wall_s, 3),
    }
    if plan.key == "burst":
        out["refused"] = len(refused)
        out["refusal_messages"] = dict(Counter(r.error for r in refused))
        out["clear_refusals"] = sum("try again" in r.error.lower() for r in refused)
    return out


# ------------------------------------------------------------------ the upload

def make_document(n_bytes: int = UPLOAD_BYTES, seed: int = SEED) -> str:
    """Deterministic English prose of at least ``n_bytes`` (UTF-8): numbered
    sentences drawn from word lists, so they differ in their words, in
    paragraphs of 6 sentences."""
    rng = random.Random(seed)
    people = ("the harbour master", "a retired surveyor", "the village baker", "an orchard keeper",
              "the night nurse", "a young cartographer", "the ferry captain", "an old beekeeper",
              "the railway clerk", "a travelling tailor", "the lighthouse keeper", "a potter",
              "the school inspector", "a violin maker", "the mayor's cousin", "a glass blower")
    names = ("Amara", "Bogdan", "Chiara", "Dmitri", "Esperanza", "Farid", "Greta", "Hiroshi",
             "Ines", "Jonas", "Kalinda", "Lorenzo", "Mei", "Nikolai", "Olwen", "Pavel", "Quentin",
             "Rosalind", "Sanjay", "Tamsin", "Ulrich", "Valeria", "Wendell", "Xiomara", "Yusuf", "Zofia")
    verbs = ("repaired", "painted", "counted", "measured", "carried", "described", "sold",
             "borrowed", "planted", "photographed", "mended", "catalogued", "weighed", "restored",
             "delivered", "inspected", "sketched", "polished", "stacked", "labelled")
    adjectives = ("copper", "crooked", "painted", "salt-stained", "wooden", "narrow", "forgotten",
                  "heavy", "silver", "brittle", "green", "ancient", "borrowed", "striped", "quiet")
    things = ("lanterns", "barrels", "clocks", "fishing nets", "maps", "beehives", "windows",
              "bicycles", "ledgers", "chairs", "telescopes", "kettles", "sails", "fences",
              "bridges", "organ pipes", "saddles", "shutters", "looms", "wagons")
    places = ("near the old mill", "behind the granary", "on the northern pier", "in the chapel loft",
              "beside the canal", "at the market square", "under the viaduct", "in the walled garden",
              "on the salt flats", "by the quarry road", "inside the customs house",
              "along the river terrace")
    times = ("before dawn", "in the spring of", "during the long winter of", "after the floods of",
             "one August evening in", "throughout", "late in the autumn of", "at the start of")
    reasons = ("because the council had asked for it", "although nobody had paid for the work",
               "so that the festival could go ahead", "while the rain kept everyone indoors",
               "after a quarrel with the neighbours", "to settle an old wager",
               "for the museum's new catalogue", "as the guild's rules required")
    parts, size, n = [], 0, 0
    while size < n_bytes:
        sentences = []
        for _ in range(6):
            n += 1
            when = rng.choice(times)
            year = rng.randint(1820, 2019)
            when = f"{when} {year}" if when.endswith(("of", "in", "throughout")) else when
            s = (f"({n}) {rng.choice(names)}, {rng.choice(people)}, {rng.choice(verbs)} "
                 f"{rng.randint(2, 97)} {rng.choice(adjectives)} {rng.choice(things)} "
                 f"{rng.choice(places)} {when}, {rng.choice(reasons)}.")
            sentences.append(s)
        paragraph = " ".join(sentences) + "\n\n"
        parts.append(paragraph)
        size += len(paragraph.encode("utf-8"))
    return "".join(parts)


# ------------------------------------------------------------------ the run

def stage(message: str) -> None:
    print(f"stress: {message}", file=sys.stderr, flush=True)


COLUMNS = ("requests", "errors", "differ", "refused", "p50 ms", "p95 ms", "max ms", "wall s",
           "RSS MiB")


def table_header() -> str:
    return f"{'scenario':<30}" + "".join(f"{c:>9}" for c in COLUMNS)


def table_row(s: dict) -> str:
    """The scenario's row, then one indented line per distinct error or refusal."""
    lat = s["latency_ms"] or {}
    cells = [s["requests"], s["errors"], s["differ"], s.get("refused", "–"),
             *(f"{lat[k]:.0f}" if lat else "–" for k in ("p50", "p95", "max")), f"{s['wall_s']:.1f}",
             s["rss_mb"] if s["rss_mb"] is not None else "–"]
    lines = [f"{s['title']:<30}" + "".join(f"{c:>9}" for c in cells)]
    for msg, n in s["error_messages"].items():
        lines.append(f"    error x{n}: {msg}")
    for msg, n in s.get("refusal_messages", {}).items():
        lines.append(f"    refused x{n}: {msg}")
    if "refused" in s:
        lines.append(f"    clear refusals (say \"try again\"): {s['clear_refusals']} of {s['refused']}")
    for d in s["differing"]:
        lines.append(f"    differs: {d['question']!r}: {d['got']} vs baseline {d['baseline']}")
    return "\n".join(lines)


async def run_scenarios(server: Server, plans: tuple[Plan, ...], questions: list[str],
                        out: dict, skip_upload: bool, upload_delay: float) -> None:
    """Every scenario of ``plans`` in order, filling ``out`` as each finishes."""
    limits = httpx.Limits(max_connections=max(p.clients for p in plans) + 16,
                          max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=httpx.Timeout(**HTTP_TIMEOUT), limits=limits,
                                 trust_env=False) as client:   # no proxy: loopback only
        stage("warm-up question")
        warm = await ask(client, server.url, questions[0])
        if warm.ms is None:
            raise ServerError(f"the warm-up question failed: {warm.error}")
        memory = out["memory"] = {"warm_rss_mb": rss_mb(server.proc.pid)}
        scenarios = out["scenarios"]
        questions = questions[:plans[0].per_client]   # the baseline's: every answer has a reference
        reference: dict[str, tuple | None] = {}
        followers: list[asyncio.Task] = []
        print(table_header(), flush=True)
        for plan in plans:
            if plan.key == "upload" and skip_upload:
                continue
            upload = None
            if plan.key == "upload":
                stage("uploading a ~2 MB document and starting its indexing")
                document = make_document()
                try:
                    upload, follower = await start_upload(client, server.url, document,
                                                      file_name=UPLOAD_NAME, button_elem_id=UPLOAD_BUTTON)
                except (UIError, httpx.HTTPError, ValueError) as exc:
                    out["notes"].append(f"the upload scenario was skipped: the upload failed: {exc}")
                    continue
                followers.append(follower)   # keep a reference: the loop holds tasks only weakly
                try:
                    await asyncio.wait_for(upload.started.wait(), UPLOAD_START_TIMEOUT_S)
                except asyncio.TimeoutError:
                    pass
                # The questions start once the worker embeds (its model loaded), so they
                # meet the heavy part of indexing, not the start-up.
                deadline = asyncio.get_running_loop().time() + UPLOAD_EMBED_TIMEOUT_S
                while ("Embedding" not in (upload.last_progress or "") and upload.completed_s is None
                       and asyncio.get_running_loop().time() < deadline):
                    await asyncio.sleep(0.2)
                await asyncio.sleep(upload_delay)
                progress_at_start = upload.last_progress
            jobs = ([[q] for q in (questions * plan.clients)[:plan.clients]] if plan.key == "burst"
                    else client_questions(questions, plan.clients, plan.per_client))
            stage(f"{plan.title}: {sum(map(len, jobs))} questions")
            results, wall = await run_clients(client, server.url, jobs, SCENARIO_CAP_S)
            if plan.key == "baseline":
                reference = {r.question: r.answer for r in results if r.ms is not None}
            s = summarise(plan, results, wall, reference)
            s["rss_mb"] = rss_mb(server.proc.pid)
            if upload is not None:
                s["upload"] = {
                    "bytes": len(document.encode("utf-8")),
                    "started": "process_starts" in upload.messages,
                    "still_indexing_when_questions_ended": upload.completed_s is None,
                    "indexing_s": round(upload.completed_s, 1) if upload.completed_s else None,
                    "success": upload.success, "progress_at_questions_start": progress_at_start,
                    "progress_at_questions_end": upload.last_progress,
                    "messages": list(dict.fromkeys(upload.messages)), "stream_error": upload.error,
                    "output": upload.output}
            scenarios[plan.key] = s
            print(table_row(s), flush=True)
            if upload is not None:
                u = s["upload"]
                print(f"    upload: {u['bytes']:,} bytes, indexing "
                      + ("still running when the questions ended" if u["still_indexing_when_questions_ended"]
                         else f"finished after {u['indexing_s']} s (success: {u['success']})")
                      + f"\n    upload progress when the questions started: {u['progress_at_questions_start']}"
                      + f"\n    upload progress when the questions ended:   {u['progress_at_questions_end']}",
                      flush=True)
        last = rss_mb(server.proc.pid)
        memory["end_rss_mb"] = last
        memory["growth_mb"] = (round(last - memory["warm_rss_mb"], 1)
                               if last is not None and memory["warm_rss_mb"] is not None else None)
        before_upload = scenarios.get("burst", {}).get("rss_mb")
        memory["growth_before_upload_mb"] = (round(before_upload - memory["warm_rss_mb"], 1)
                                             if before_upload and memory["warm_rss_mb"] else None)
        a, b = scenarios.get("upload", {}).get("latency_ms"), scenarios.get("clients", {}).get("latency_ms")
        out["p95_upload_over_clients"] = round(a["p95"] / b["p95"], 2) if a and b and b["p95"] else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plans = QUICK if args.quick else FULL
    try:
        questions = load_questions()
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot read the questions in {QUESTIONS_FILE}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = {"schema": SCHEMA, "complete": False, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "command": "python -m eval.stress " + " ".join(argv if argv is not None else sys.argv[1:]),
           "settings": {"quick": args.quick, "skip_upload": args.skip_upload,
                        "questions": plans[0].per_client,
                        "plans": {p.key: [p.clients, p.per_client] for p in plans},
                        "upload_delay_s": args.upload_delay,
                        "scenario_cap_s": SCENARIO_CAP_S, "question_timeout_s": QUESTION_TIMEOUT_S},
           "server": None, "memory": None, "scenarios": {}, "notes": []}
    skip_upload = args.skip_upload
    scratch = Path(tempfile.mkdtemp(prefix="docqa-stress-"))   # the server's state and uploads
    state_dir = scratch / "state"
    server = None
    code = 0
    try:
        has_state_dir = ui_has_state_dir()
        if not has_state_dir and not skip_upload:
            skip_upload = True
            out["notes"].append("python -m ui has no --state-dir: the upload scenario was skipped "
                                "(it would write into the per-user cache)")
        port = args.port if args.port is not None else free_port()
        stage(f"starting python -m ui on {args.host}:{port}")
        server = start_server(args.host, port, state_dir if has_state_dir else None,
                              scratch / "gradio")
        out["server"] = {"url": server.url, "ready_s": round(server.ready_s, 1), "pid": server.proc.pid}
        stage(f"ready at {server.url} after {server.ready_s:.1f} s")
        asyncio.run(run_scenarios(server, plans, questions, out, skip_upload, args.upload_delay))
        out["complete"] = True
        if server.proc.poll() is not None:
            out["notes"].append(f"the server exited with code {server.proc.returncode} during the run: "
                                + " | ".join(server.log[-3:]))
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_SERVER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    finally:
        if server is not None:
            stage("stopping the server")
            stop_server(server)
        shutil.rmtree(scratch, ignore_errors=True)
    if out["complete"]:
        print_summary(out)
    for note in out["notes"]:
        print(f"note: {note}", flush=True)
    if args.json and (out["complete"] or out["scenarios"]):
        try:
            write_json_atomic(Path(args.json), out)
        except WriteError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return code or EXIT_USAGE
    return code


def print_summary(out: dict) -> None:
    m = out["memory"]
    if m["growth_mb"] is not None:
        print(f"server RSS: {m['warm_rss_mb']} MiB after the warm-up question, {m['end_rss_mb']} MiB "
              f"after all scenarios: {m['growth_mb']:+} MiB"
              + (f" ({m['growth_before_upload_mb']:+} MiB before the upload)"
                 if m["growth_before_upload_mb"] is not None and "upload" in out["scenarios"] else "")
              + " (done when within 50 MB)", flush=True)
    ratio = out["p95_upload_over_clients"]
    if ratio is not None:
        print(f"p95 of scenario 5 (during the upload) / p95 of scenario 2: {ratio:.2f} "
              f"(done when <= 2)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
