"""``python -m eval.bench``: it runs, writes bench.json and scaling.png, and its
parts compute what they say. Structure only: no timing is asserted.

The end-to-end runs use the real model on tiny settings (scaling sizes 1x and
2x, one round, three questions); the rest is offline with the fake embedder.
"""

from __future__ import annotations

import io
import json
import math
import sys
import threading
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from eval import bench
from index.config import IndexConfig
from qa import QA

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "china-kazakhstan.dev.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STATS_KEYS = {"p50", "p95", "min", "max", "n"}


def numbers(data, path="$"):
    """Every number in a JSON value, with where it is."""
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return
    if isinstance(data, (int, float)):
        yield path, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from numbers(v, f"{path}.{k}")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from numbers(v, f"{path}[{i}]")


def assert_stats(s, *, nullable: bool = False):
    if s is None and nullable:
        return
    assert isinstance(s, dict) and set(s) == STATS_KEYS, s
    assert s["n"] >= 1 and s["min"] <= s["p50"] <= s["max"] and s["p95"] <= s["max"], s


@pytest.fixture(scope="module")
def three_questions(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench-questions") / "three.jsonl"
    lines = DEV_SET.read_text(encoding="utf-8").splitlines(keepends=True)[:3]
    path.write_text("".join(lines), encoding="utf-8")
    return path


@dataclass
class Run:
    code: int
    out: Path
    cache: Path     # the XDG cache the run used (the query encoder's export lives there)
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, three_questions) -> Run:
    """One tiny run of every section but the UI."""
    root = tmp_path_factory.mktemp("bench")
    # A module fixture runs before the per-test isolation of tests/conftest.py:
    # keep the child processes' caches out of the real home here too.
    env = pytest.MonkeyPatch()
    env.setenv("XDG_CACHE_HOME", str(root / "cache"))
    env.delenv("QA_INDEX_DIR", raising=False)
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = bench.main(["--sizes", "1x,2x", "--rounds", "1", "--cold-runs", "1",
                               "--build-runs", "1", "--recall-sentences", "5", "--pdf-pages", "3",
                               "--clients", "1,2", "--concurrency-questions", "4",
                               "--questions", str(three_questions), "--skip-ui", "-q",
                               "--out", str(root / "out")])
    finally:
        env.undo()
    return Run(code, root / "out", root / "cache", stdout.getvalue(), stderr.getvalue())


# ------------------------------------------------------------ end to end (real model)

@pytest.mark.slow
def test_a_tiny_run_writes_every_section(bench_run):
    out, stdout, stderr = bench_run.out, bench_run.stdout, bench_run.stderr
    assert bench_run.code == 0, stderr[-2000:]
    data = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert data["complete"] is True and data["schema"] == bench.SCHEMA
    assert data["command"][1:3] == ["-m", "eval.bench"]
    assert {"nproc", "python", "platform", "env", "embedder_threads", "torch_threads",
            "versions"} <= set(data["machine"])
    assert "QA_TORCH_THREADS" in data["machine"]["env"]
    assert data["settings"]["sizes"] == ["1x", "2x"] and data["settings"]["n_questions"] == 3

    cold = data["cold_start"]
    assert cold["runs"] == 1
    for key in ("wall_s", "peak_rss_mb"):
        assert_stats(cold[key])
    for key in bench.COLD_PARTS:
        assert_stats(cold[key])

    warm = data["warm"]
    for key in ("e2e_ms", "floor_encode_ms", "floor_search_ms", "floor_ms"):
        assert_stats(warm[key])
        assert warm[key]["n"] == 3
    for key in ("encode_ms", "retrieve_ms", "read_ms"):
        assert_stats(warm[key])
    assert warm["e2e_over_floor"] > 0

    build = data["build"]
    assert build["chunks"] > 0 and build["sentences"] > 0
    assert_stats(build["build_s"])
    assert_stats(build["raw_encode_s"])
    for key in ("build_chunks_per_s", "build_text_mb_per_s", "raw_encode_texts_per_s",
                "build_over_raw_throughput"):
        assert build[key] > 0

    formats = data["formats"]
    assert formats["pages"] == 3 and formats["pdf_bytes"] > 0 and formats["chars"] > 5000
    assert_stats(formats["convert_s"])
    assert formats["convert_pages_per_s"] > 0 and formats["index_pages_per_s"] > 0
    assert formats["chunks"] > 0 and formats["sentences"] > 0

    assert data["memory"]["cli_peak_rss_mb"] == cold["peak_rss_mb"]
    assert data["memory"]["ui"] is None   # --skip-ui

    concurrency = data["concurrency"]
    assert concurrency["caveat"] is None and list(concurrency["backends"]) == ["embedded"]
    runs = concurrency["backends"]["embedded"]["runs"]
    assert [r["clients"] for r in runs] == [1, 2]
    for run in runs:
        assert run["answered"] == 4 and run["errors"] == 0 and run["answers_differing"] == 0
        assert_stats(run["latency_ms"])
        assert_stats(run["questions_per_s"])

    scaling = data["scaling"]
    assert "docstrings" in scaling["corpus"]
    sizes = scaling["sizes"]
    assert [s["size"] for s in sizes] == ["1x", "2x"]
    assert [s["target_chunks"] for s in sizes] == [build["chunks"], 2 * build["chunks"]]
    assert sizes[0]["chunks"] == build["chunks"] == scaling["base_chunks"]
    assert sizes[1]["chunks"] >= 2 * sizes[0]["chunks"]
    for s in sizes:
        assert s["built_this_run"] and s["build_measured"] == "this run" and s["build_s"] > 0
        assert s["build_peak_rss_mb"] > 0 and s["load_s"] > 0   # python -m qa index, then a load
        assert s["index_bytes"] > 0 and s["faiss"]
        assert_stats(s["query_ms"])
        assert s["cli"]["peak_rss_mb"] > 0 and s["cli"]["wall_s"] > 0
        assert (out / "indexes" / f"size-{s['target_chunks']}" / "manifest.json").is_file()

    for where, x in numbers(data):
        assert math.isfinite(x) and x >= 0, where
    assert (out / "scaling.png").read_bytes()[:8] == PNG_MAGIC
    assert not list(out.glob(".*tmp*")), "temporary files left behind"

    for title in ("cold start", "warm latency", "index build", "memory", "scaling", "formats: a 3-page PDF",
                  "concurrency: N threads"):
        assert title in stdout
    assert "bench: cold start: run 1/1" in stderr


@pytest.mark.slow
def test_the_ui_memory_path_and_index_reuse(bench_run, three_questions, monkeypatch):
    """Only the UI section, in the same folder and cache: the --docs index is
    reused, the server answers one question and is stopped."""
    assert bench_run.code == 0
    out = bench_run.out
    monkeypatch.setenv("XDG_CACHE_HOME", str(bench_run.cache))
    assert bench.main(["--skip-cold", "--skip-warm", "--skip-build", "--skip-scaling", "--skip-formats",
                       "--skip-concurrency", "-q", "--questions", str(three_questions), "--out", str(out)]) == 0
    data = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert data["complete"] is True
    assert data["cold_start"] is data["warm"] is data["build"] is data["scaling"] is None
    assert data["formats"] is data["concurrency"] is None
    ui = data["memory"]["ui"]
    for key in ("peak_rss_mb", "rss_mb", "ready_s", "ask_ms"):
        assert isinstance(ui[key], (int, float)) and math.isfinite(ui[key]) and ui[key] > 0, key
    assert ui["exit_code"] == 0   # stopped cleanly by SIGINT


# --------------------------------------------------------------- bad input, offline

def test_missing_docs_is_a_one_line_error(tmp_path, capsys):
    code = bench.main(["--docs", str(tmp_path / "missing.md"), "--out", str(tmp_path / "out"), "-q"])
    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == \
        f"error: no such file or folder: {str(tmp_path / 'missing.md')!r}"


def test_a_bad_questions_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "q.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    assert bench.main(["--questions", str(bad), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}:1:"), err


def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("x", encoding="utf-8")
    assert bench.main(["--out", str(tmp_path / "f"), "-q"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--sizes", "1,0"], ["--sizes", "x"], ["--sizes", ","],
                                  ["--sizes", "2y"], ["--sizes", "0x"],
                                  ["--rounds", "0"], ["--ui-timeout", "-1"],
                                  ["--quick", "--sizes", "1"], ["--clients", "0"],
                                  ["--clients", ","], ["--clients", "4,x"],
                                  ["--concurrency-questions", "0"], ["--backend", "faiss"]])
def test_bad_flags_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(args)
    assert info.value.code == 2
    assert "python -m eval.bench: error: argument" in capsys.readouterr().err


def test_client_counts_are_deduplicated_in_order():
    assert bench.build_parser().parse_args([]).clients == [1, 4, 8]
    assert bench.build_parser().parse_args(["--clients", "8, 1,8,"]).clients == [8, 1]


def test_milvus_options_fill_in_the_server_and_the_bench_s_own_collection():
    parse = bench.build_parser().parse_args
    assert bench.milvus_options(parse([])) == {}
    assert bench.milvus_options(parse(["--backend", "milvus"])) == {
        "backend": "milvus", "milvus_uri": "http://127.0.0.1:19530", "milvus_collection": "docqa_bench"}
    given = parse(["--backend", "milvus", "--milvus-uri", "http://h:1", "--milvus-collection", "c"])
    assert bench.milvus_options(given) == {"backend": "milvus", "milvus_uri": "http://h:1",
                                           "milvus_collection": "c"}


@pytest.mark.parametrize("args, message", [
    (["--milvus-uri", "http://127.0.0.1:1"], "error: --milvus-uri and --milvus-collection go with "
                                             "--backend milvus"),
    (["--clients", "4,8", "--concurrency-questions", "5"],
     "error: --concurrency-questions must be at least the largest --clients (8), got 5"),
])
def test_bad_concurrency_settings_are_one_line_errors_before_anything_loads(args, message, tmp_path, capsys):
    assert bench.main([*args, "--out", str(tmp_path / "out"), "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == [message]
    assert not (tmp_path / "out").exists()


def test_no_milvus_server_is_a_one_line_error_saying_how_to_start_one(tmp_path, capsys):
    uri = f"http://127.0.0.1:{bench.free_port()}"   # nothing listens there
    assert bench.main(["--backend", "milvus", "--milvus-uri", uri, "--out", str(tmp_path / "out"),
                       "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot reach Milvus at {uri!r}"), err
    assert "milvus-lite server --data-dir DIR" in err[0] and "--milvus-uri" in err[0]


def test_sizes_are_deduplicated_and_resolved():
    args = bench.build_parser().parse_args(["--sizes", "10x, 1X,10x,500"])
    assert args.sizes == ["10x", "1x", "500"]
    assert [bench.target_chunks(x, 24) for x in args.sizes] == [240, 24, 500]


# -------------------------------------------------------------- parts, offline

@pytest.fixture
def fake_bot(corpus_dir, tmp_path, fake_embedder):
    config = IndexConfig(model_name=fake_embedder.name, chunk_size=200, chunk_overlap=40)
    return QA.load([corpus_dir], index_dir=tmp_path / "idx", config=config,
                   embedder=fake_embedder, progress=False)


def test_recall_is_one_for_exact_search(fake_bot):
    index = fake_bot.index
    queries = fake_bot.embedder.embed_texts([s.text for s in index.sentences[:12]])
    assert bench.recall_at_k(index, queries, 10) == 1.0
    ids, scores = bench.exact_top_k(index, queries, 5)
    brute = queries @ index.faiss_index.reconstruct_n(0, index.faiss_index.ntotal).T
    np.testing.assert_allclose(scores, -np.sort(-brute, axis=1)[:, :5], rtol=1e-5, atol=1e-6)


def test_recall_counts_what_a_worse_search_misses(fake_bot):
    index = fake_bot.index
    queries = fake_bot.embedder.embed_texts([s.text for s in index.sentences[:12]])

    class Worse:   # returns the 5th..14th best instead of the top 10
        chunks, faiss_index, search_exact = index.chunks, index.faiss_index, index.search_exact

        def search(self, q, k):
            return index.search(q, k + 4)[4:]

    recall = bench.recall_at_k(Worse(), queries, 10)
    assert 0.0 <= recall < 1.0


def test_recall_on_an_hnsw_index(corpus_dir, tmp_path, fake_embedder):
    config = IndexConfig(model_name=fake_embedder.name, chunk_size=200, chunk_overlap=40,
                         ann_min_chunks=2)
    bot = QA.load([corpus_dir], index_dir=tmp_path / "hnsw", config=config,
                  embedder=fake_embedder, progress=False)
    assert bot.index.manifest.faiss != "IndexFlatIP"
    queries = bench.recall_queries(bot, ["umbrella in London", "railway funding"], 10)
    assert queries.shape == (12, fake_embedder.dim)
    assert 0.0 <= bench.recall_at_k(bot.index, queries, 10) <= 1.0


def test_warm_measurement_has_every_figure(fake_bot):
    out = bench.measure_warm(fake_bot, ["Which city has the Met Office?", "Who is Mr. Smith?"],
                             2, label="test")
    for key in ("e2e_ms", "floor_encode_ms", "floor_search_ms", "floor_ms"):
        assert_stats(out[key])
        assert out[key]["n"] == 4
    for key in ("encode_ms", "retrieve_ms", "read_ms"):
        assert_stats(out[key])
    assert out["e2e_over_floor"] > 0


def test_a_child_s_peak_rss_is_its_own(tmp_path):
    ballast = b"\x01" * (400 << 20)   # this process holds 400 MB more than the child
    result = bench.run_measured([sys.executable, "-c", "print('hi')"])
    assert ballast[-1] == 1
    assert result.code == 0 and result.stdout == "hi\n"
    assert 0 < result.peak_rss_mb < 200, result.peak_rss_mb


def test_a_command_s_peak_rss_counts_its_children_running_beside_it():
    # Two children of 150 MB each, alive together for a second: one process's
    # ru_maxrss would say ~150 MB; the sampled sum over the tree says ~300.
    hold = "b = b'\\x01' * (150 << 20); import time; time.sleep(1.5)"
    script = (f"import subprocess, sys; ps = [subprocess.Popen([sys.executable, '-c', {hold!r}]) "
              "for _ in range(2)]; [p.wait() for p in ps]")
    result = bench.run_measured([sys.executable, "-c", script])
    assert result.code == 0, result.stderr
    assert result.peak_rss_mb > 290, result.peak_rss_mb


def test_a_failing_child_is_reported_with_its_stderr():
    result = bench.run_measured([sys.executable, "-c", "import sys; sys.exit('boom')"])
    assert result.code == 1 and "boom" in result.stderr
    with pytest.raises(bench.BenchError, match="exited with code 1: boom"):
        bench._checked(result, [sys.executable, "-c", "x"])


def test_parse_timings():
    err = 'docqa: something\ntimings: {"imports_s": 0.5, "total_s": 1.25}\n'
    assert bench.parse_timings(err) == {"imports_s": 0.5, "total_s": 1.25}
    assert bench.parse_timings("timings: {broken\n") is None
    assert bench.parse_timings("no timings here") is None


def test_stats_drops_missing_samples():
    assert bench.stats([None, None]) is None
    s = bench.stats([3.0, None, 1.0, 2.0])
    assert s["n"] == 3 and (s["min"], s["p50"], s["max"]) == (1.0, 2.0, 3.0)


# ------------------------------------------------------------- concurrency, offline

def test_questions_are_dealt_round_robin_and_cycled():
    questions = ["a", "b", "c"]
    dealt = bench.deal_questions(questions, 4, 10, offset=2)
    assert [len(d) for d in dealt] == [3, 3, 2, 2]
    assert "".join(d[k] for k in range(3) for d in dealt if k < len(d)) == "cabcabcabc"
    assert bench.deal_questions(questions, 1, 3) == [["a", "b", "c"]]


def test_client_figures_are_percentiles_and_throughput_per_round():
    rounds = [bench.ClientRound(tuple(float(x) for x in range(1, 21)), 2.0),
              bench.ClientRound((100.0,) * 10, 0.5, errors=("ValueError: x", "ValueError: x", "KeyError: 3"),
                                differing=2, traceback="Traceback ...")]
    out = bench.summarize_clients(4, rounds)
    all_ms = list(range(1, 21)) + [100] * 10
    assert out["clients"] == 4 and out["rounds"] == 2 and out["answered"] == 30
    assert_stats(out["latency_ms"])
    assert out["latency_ms"]["p50"] == pytest.approx(np.median(all_ms))
    assert out["latency_ms"]["p95"] == pytest.approx(np.percentile(all_ms, 95))
    assert out["latency_ms"]["n"] == 30
    assert out["questions_per_s"]["n"] == 2   # one figure per round: 20/2.0 and 10/0.5
    assert (out["questions_per_s"]["min"], out["questions_per_s"]["max"]) == (10.0, 20.0)
    assert out["questions_per_s"]["p50"] == 15.0
    assert out["errors"] == 3 and out["error_samples"] == ["ValueError: x", "KeyError: 3"]
    assert out["first_traceback"] == "Traceback ..." and out["answers_differing"] == 2


def test_a_round_with_nothing_answered_has_no_latency():
    out = bench.summarize_clients(1, [bench.ClientRound((), 0.1, errors=("BackendError: down",))])
    assert out["latency_ms"] is None and out["questions_per_s"]["p50"] == 0.0
    assert out["answered"] == 0 and out["errors"] == 1


class StubBot:
    """Answers "q<i>" with "a<i>"; "bad" raises; records who asked what."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def ask(self, question: str):
        with self._lock:
            self.asked.append((threading.get_ident(), question))
        if question == "bad":
            raise ValueError("boom")
        return SimpleNamespace(answer=SimpleNamespace(text=question.replace("q", "a")))


def test_clients_ask_their_own_questions_on_their_own_threads_and_errors_are_counted():
    bot = StubBot()
    dealt = [["q1", "bad"], ["q2", "q3"], ["q4"]]
    reference = {"q1": "a1", "q2": "a2", "q3": "something else", "q4": "a4"}
    result = bench.run_clients(bot, dealt, reference, warmup="q0")
    assert sorted(q for _, q in bot.asked) == ["bad", "q0", "q0", "q0", "q1", "q2", "q3", "q4"]
    by_thread: dict[int, list[str]] = {}
    for ident, q in bot.asked:
        by_thread.setdefault(ident, []).append(q)
    assert sorted(by_thread.values()) == [["q0", "q1", "bad"], ["q0", "q2", "q3"], ["q0", "q4"]]
    assert len(result.latencies_ms) == 4 and all(x >= 0 for x in result.latencies_ms)
    assert result.errors == ("ValueError: boom",) and "ValueError: boom" in result.traceback
    assert result.differing == 1 and result.wall_s > 0


def test_the_concurrency_section_on_the_fake_bot(fake_bot, capsys):
    questions = ["Which city has the Met Office?", "Who is Mr. Smith?", "What funds the railway?"]
    out = bench.bench_concurrency({"embedded": fake_bot}, questions, [1, 3], 7, 2)
    assert out["caveat"] is None and list(out["backends"]) == ["embedded"]
    embedded = out["backends"]["embedded"]
    assert embedded["index"].startswith("embedded") and embedded["answers_unlike_embedded"] == 0
    assert set(embedded["reference_answers"]) == set(questions)
    assert [r["clients"] for r in embedded["runs"]] == [1, 3]
    for run in embedded["runs"]:
        assert run["answered"] == 14 and run["errors"] == 0 and run["answers_differing"] == 0
        assert_stats(run["latency_ms"])
        assert_stats(run["questions_per_s"])
        assert run["latency_ms"]["n"] == 14 and run["questions_per_s"]["n"] == 2
    printed = capsys.readouterr().out
    assert "concurrency: N threads sharing one QA" in printed and "caveat" not in printed
    for where, x in numbers(out):
        assert math.isfinite(x) and x >= 0, where


def test_a_milvus_run_carries_the_caveat(fake_bot, capsys):
    # The fake bot stands in for the Milvus one: only the caveat's presence is checked.
    out = bench.bench_concurrency({"embedded": fake_bot, "milvus": fake_bot}, ["Who is Mr. Smith?"],
                                  [2], 2, 1)
    assert out["caveat"] == bench.MILVUS_CAVEAT and "not the Milvus engine" in out["caveat"]
    assert list(out["backends"]) == ["embedded", "milvus"]
    assert f"caveat: {bench.MILVUS_CAVEAT}" in capsys.readouterr().out
