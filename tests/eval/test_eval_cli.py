"""``python -m eval`` run in-process end to end with the real model: metrics,
predictions, the HTML report, the printed summary, bad input, calibration,
atomic output, and the Python API agreeing with the CLI.

The runs that need the model are marked ``slow``; the tiny SQuAD file is
indexed once per module and its index is shared (copied where a test would
change it).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from eval.cli import main
from index.errors import WriteError
from qa.api import default_threshold
from qa.config import DEFAULT_TOP_K

DATA = Path(__file__).resolve().parent / "data"
SQUAD = DATA / "tiny-squad-v2.json"
JSONL = DATA / "tiny.jsonl"
DOC = DATA / "tiny-doc.md"
OUTPUTS = ("metrics.json", "predictions.jsonl", "report.html")
CATEGORIES = {"correct", "retrieval_miss", "reader_miss", "partial", "false_abstention",
              "answered_unanswerable"}
METRIC_KEYS = {"questions", "answerable", "unanswerable", "exact_match", "f1",
               "has_answer_exact_match", "has_answer_f1", "sentence_accuracy", "recall_at_k",
               "mrr", "no_answer_accuracy", "false_abstention_rate", "latency_ms", "threshold",
               "best_threshold", "best_f1", "index"}


# --- helpers -----------------------------------------------------------------------

@dataclass
class Run:
    code: int
    out: str
    err: str
    out_dir: Path
    index_dir: Path

    @property
    def metrics(self) -> dict:
        return json.loads((self.out_dir / "metrics.json").read_text(encoding="utf-8"))

    @property
    def predictions(self) -> list[dict]:
        lines = (self.out_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    @property
    def report(self) -> str:
        return (self.out_dir / "report.html").read_text(encoding="utf-8")


def run(*args) -> tuple[int, str, str]:
    """``main(args)`` with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@contextmanager
def isolated(folder: Path):
    """What conftest's autouse fixture does per test, for module-scoped fixtures
    (which are set up before it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        mp.delenv("QA_INDEX_DIR", raising=False)
        yield


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def squad_documents() -> dict[str, str]:
    from eval import load_questions

    return dict(load_questions(SQUAD).documents)


class StrictHTML(HTMLParser):
    """Collects images, tables, text; checks every non-void tag is closed in order."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "col", "area", "base", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.imgs: list[dict] = []
        self.tables: list[dict] = []
        self.text: list[str] = []
        self.rows: list[list[str]] = []   # rows of the per-question table, cell texts
        self._in_q = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "table":
            self.tables.append(attrs)
            self._in_q = "q" in (attrs.get("class") or "").split()
        if self._in_q and tag == "tr":
            self.rows.append([])
        if self._in_q and tag in ("td", "th"):
            self._cell = []
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        if tag == "table":
            self._in_q = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse_report(html: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(html)
    parser.close()
    assert parser.problems == []
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


# --- module-scoped runs (one index build each) -----------------------------------------

@pytest.fixture(scope="module")
def squad_run(tmp_path_factory) -> Run:
    """The tiny SQuAD v2 file, progress bars on (not -q)."""
    base = tmp_path_factory.mktemp("squad-run")
    with isolated(base):
        code, out, err = run(SQUAD, "--index-dir", base / "index", "--out", base / "results" / "out")
    return Run(code, out, err, base / "results" / "out", base / "index")


@pytest.fixture(scope="module")
def jsonl_run(tmp_path_factory) -> Run:
    base = tmp_path_factory.mktemp("jsonl-run")
    with isolated(base):
        code, out, err = run(JSONL, "--docs", DOC, "--index-dir", base / "index",
                             "--out", base / "out", "-q")
    return Run(code, out, err, base / "out", base / "index")


@pytest.fixture(scope="module")
def api_result(squad_run, tmp_path_factory):
    """``evaluate`` called directly on a QA over the SQuAD run's index."""
    from eval import EvalResult, evaluate, load_questions
    from qa import QA

    base = tmp_path_factory.mktemp("api")
    with isolated(base):
        qset = load_questions(SQUAD)
        docs = qset.write_documents(base / "docs")
        bot = QA.load([docs], index_dir=squad_run.index_dir, progress=False)
        result = evaluate(bot, qset)
    assert isinstance(result, EvalResult)
    return bot, result


# --- the tiny SQuAD file end to end --------------------------------------------------------

@pytest.mark.slow
def test_squad_run_writes_the_three_files(squad_run):
    assert squad_run.code == 0, squad_run.err
    assert sorted(p.name for p in squad_run.out_dir.iterdir()) == sorted(OUTPUTS)
    assert leftovers(squad_run.out_dir.parent) == []
    assert "Answering" in squad_run.err, "a progress bar runs while questions are answered"


@pytest.mark.slow
def test_squad_metrics(squad_run):
    m = squad_run.metrics
    assert METRIC_KEYS <= set(m)
    assert (m["questions"], m["answerable"], m["unanswerable"]) == (12, 8, 4)
    for key in ("exact_match", "f1", "has_answer_exact_match", "has_answer_f1", "sentence_accuracy",
                "mrr", "no_answer_accuracy", "false_abstention_rate", "best_f1"):
        assert isinstance(m[key], float) and 0.0 <= m[key] <= 1.0, key
    assert m["exact_match"] <= m["f1"] and m["has_answer_exact_match"] <= m["has_answer_f1"]
    r = m["recall_at_k"]
    assert set(r) == {"1", "3", "5", "10"}
    assert 0.0 <= r["1"] <= r["3"] <= r["5"] <= r["10"] <= 1.0
    assert r["1"] <= m["mrr"] <= r["10"]
    lat = m["latency_ms"]
    assert set(lat) >= {"p50", "p95", "max"} and 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    assert m["threshold"] == round(default_threshold(), 4) and m["threshold_source"] == "model"
    assert 0.0 <= m["best_threshold"] <= 1.0
    assert m["best_f1"] >= m["f1"] - 1e-4, "the sweep includes the threshold used"
    assert m["top_k"] == DEFAULT_TOP_K
    assert sum(m["categories"].values()) == 12 and set(m["categories"]) <= CATEGORIES
    # the index's identity
    docs = squad_documents()
    assert m["index"]["model"]["name"] == m["index"]["config"]["model_name"]
    assert {d["doc_id"]: d["sha256"] for d in m["index"]["documents"]} == {
        name: hashlib.sha256(text.encode()).hexdigest() for name, text in docs.items()}
    assert m["questions_file"] == {"path": str(SQUAD), "format": "squad",
                                   "sha256": hashlib.sha256(SQUAD.read_bytes()).hexdigest()}


@pytest.mark.slow
def test_squad_predictions(squad_run):
    from eval import load_questions

    questions = load_questions(SQUAD).questions
    rows = squad_run.predictions
    docs = squad_documents()
    threshold = squad_run.metrics["threshold"]
    assert [r["id"] for r in rows] == [q.id for q in questions]
    for r, q in zip(rows, questions):
        assert r["question"] == q.question and r["gold"] == list(q.answers)
        assert r["category"] in CATEGORIES
        assert r["abstained"] == (r["prediction"] is None)
        assert r["em"] in (0.0, 1.0) and 0.0 <= r["f1"] <= 1.0
        assert 1 <= len(r["passages"]) <= DEFAULT_TOP_K
        for p in r["passages"]:
            assert p["doc_id"] in docs and isinstance(p["chunk_id"], int)
            assert isinstance(p["score"], float)
        if r["confidence"] is not None:
            assert 0.0 <= r["confidence"] <= 1.0
            # the best candidate points back into its sentence and its document
            s = r["sentence_start"]
            assert r["sentence"][r["start"] - s:r["end"] - s] == r["candidate"]
            assert docs[r["doc_id"]][r["start"]:r["end"]] == r["candidate"]
            assert docs[r["doc_id"]][s:r["sentence_end"]] == r["sentence"]
        if not r["abstained"]:
            assert r["prediction"] == r["candidate"] and r["confidence"] >= threshold
        elif r["confidence"] is not None:
            assert r["confidence"] <= threshold      # rounded to 4 digits in the file
        if not q.answerable:
            assert r["gold_rank"] is None
            assert r["category"] == ("correct" if r["abstained"] else "answered_unanswerable")
            assert (r["em"], r["f1"]) == ((1.0, 1.0) if r["abstained"] else (0.0, 0.0))
        else:
            assert r["category"] != "answered_unanswerable"
            if r["gold_rank"] is None or r["gold_rank"] > DEFAULT_TOP_K:
                assert r["category"] == "retrieval_miss"
            elif r["abstained"]:
                assert r["category"] == "false_abstention" and r["em"] == 0.0
            elif r["em"] == 1.0:
                assert r["category"] == "correct"
            else:
                assert r["category"] in ("partial", "reader_miss")


@pytest.mark.slow
def test_squad_metrics_agree_with_the_predictions(squad_run):
    """One metrics function: the headline numbers follow from the rows."""
    m, rows = squad_run.metrics, squad_run.predictions
    answerable = [r for r in rows if r["gold"]]
    unanswerable = [r for r in rows if not r["gold"]]

    def mean(values):
        values = list(values)
        return round(sum(values) / len(values), 4)

    assert m["exact_match"] == mean(r["em"] for r in rows)
    assert m["f1"] == pytest.approx(mean(r["f1"] for r in rows), abs=1e-4)
    assert m["has_answer_exact_match"] == mean(r["em"] for r in answerable)
    assert m["no_answer_accuracy"] == mean(r["abstained"] for r in unanswerable)
    assert m["false_abstention_rate"] == mean(r["abstained"] for r in answerable)
    for k in ("1", "3", "5", "10"):
        assert m["recall_at_k"][k] == mean(r["gold_rank"] is not None and r["gold_rank"] <= int(k)
                                           for r in answerable)
    assert m["mrr"] == mean(1 / r["gold_rank"] if r["gold_rank"] else 0.0 for r in answerable)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    assert m["categories"] == counts
    assert m["latency_ms"]["max"] == pytest.approx(max(r["latency_ms"] for r in rows), abs=0.01)


@pytest.mark.slow
def test_squad_report_renders(squad_run):
    html = squad_run.report
    assert html.lstrip().lower().startswith("<!doctype html>")
    page = parse_report(html)
    # two plots, embedded as PNG data URIs
    pngs = [img["src"] for img in page.imgs if img.get("src", "").startswith("data:image/png;base64,")]
    assert len(pngs) == 2
    for src in pngs:
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    assert "src='data:image/png;base64," in html
    assert not [img for img in page.imgs if not img["src"].startswith("data:")], "self-contained"
    # summary, error categories and the per-question table
    text = "".join(page.text)
    for heading in ("Summary", "Errors", "Plots", "Questions"):
        assert heading in text
    for category in squad_run.metrics["categories"]:
        assert category in text
    rows = squad_run.predictions
    assert len(page.rows) == 1 + len(rows)      # header + one row per question
    for table_row, r in zip(page.rows[1:], rows):
        assert table_row[0] == r["id"] and table_row[1] == r["question"]
        assert table_row[-1] == r["category"]
        if r["candidate"] is not None:
            assert r["sentence"] in table_row[3]
    # the highlighted spans
    assert html.count("<mark>") == sum(r["candidate"] is not None for r in rows)
    # every text from the questions is escaped in the markup
    for r in rows:
        assert escape(r["question"]) in html


@pytest.mark.slow
def test_summary_is_one_screen_and_names_the_outputs(squad_run):
    out = squad_run.out
    lines = out.rstrip("\n").splitlines()
    assert 1 < len(lines) <= 15
    assert all(len(line) <= 200 for line in lines)
    assert str(squad_run.out_dir / "metrics.json") in out
    assert "predictions.jsonl" in out and "report.html" in out
    m = squad_run.metrics
    assert f"{m['f1']:.3f}" in out and f"{m['best_threshold']:.3f}" in out
    assert "12 questions" in out and "8 answerable" in out and "4 unanswerable" in out
    assert "Answering" not in out, "progress goes to stderr"


# --- a JSONL set with --docs ------------------------------------------------------------------

@pytest.mark.slow
def test_jsonl_with_docs(jsonl_run):
    assert jsonl_run.code == 0, jsonl_run.err
    assert sorted(p.name for p in jsonl_run.out_dir.iterdir()) == sorted(OUTPUTS)
    m = jsonl_run.metrics
    assert METRIC_KEYS <= set(m)
    assert (m["questions"], m["answerable"], m["unanswerable"]) == (7, 5, 2)
    assert m["questions_file"]["format"] == "jsonl"
    assert [d["doc_id"] for d in m["index"]["documents"]] == ["tiny-doc.md"]
    assert m["index"]["documents"][0]["sha256"] == hashlib.sha256(DOC.read_bytes()).hexdigest()
    rows = jsonl_run.predictions
    ids = [json.loads(line)["id"] for line in JSONL.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ids
    assert all(r["category"] in CATEGORIES for r in rows)
    assert all(p["doc_id"] == "tiny-doc.md" for r in rows for p in r["passages"])
    # the document is one short page: every gold answer is retrieved
    assert m["recall_at_k"]["10"] == 1.0
    assert len(parse_report(jsonl_run.report).imgs) == 2
    lines = jsonl_run.out.rstrip("\n").splitlines()
    assert len(lines) <= 15 and str(jsonl_run.out_dir / "metrics.json") in jsonl_run.out
    assert "Answering" not in jsonl_run.err, "-q: no progress bars"


@pytest.mark.slow
def test_report_escapes_questions_and_documents(tmp_path):
    doc = tmp_path / "dome.txt"
    doc.write_text(DOC.read_text(encoding="utf-8") + "\nThe great dome was repainted in 1931 by "
                   "<script>alert(2)</script> Rosa Lind & Sons, a firm from Glasgow.\n",
                   encoding="utf-8")
    questions = tmp_path / "set<u>x.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "<i>xss</i>", "question": "Who founded <script>alert(1)</script> the observatory?",
         "answers": ["Clara <b>Whitfield</b>"]},
        {"id": "dome", "question": "Which firm repainted the great dome in 1931?",
         "answers": ["Rosa Lind & Sons"]},
        {"id": "none", "question": "What is the observatory's annual budget?", "answers": []},
    ]), encoding="utf-8")
    code, _, err = run(questions, "--docs", doc, "--index-dir", tmp_path / "index",
                       "--out", tmp_path / "out", "-q")
    assert code == 0, err
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    parse_report(html)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html            # the question
    assert "&lt;i&gt;xss&lt;/i&gt;" in html and "<i>" not in html       # the id
    assert "Clara &lt;b&gt;Whitfield&lt;/b&gt;" in html                # the gold answer
    assert "Rosa Lind &amp; Sons" in html
    assert "set&lt;u&gt;x.jsonl" in html and "<u>" not in html  # the file name
    rows = [json.loads(line) for line in
            (tmp_path / "out" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    dome = next(r for r in rows if r["id"] == "dome")
    assert "<script>" in dome["sentence"], "the only sentence about the dome is the candidate's"
    assert "alert(2)&lt;/script&gt;" in html                            # document text


# --- bad input: exit 2, one line, nothing written ------------------------------------------------

def bad_files(tmp_path: Path) -> list[tuple[Path, int]]:
    """(file, line the error must name) for each bad input of issue 3 section 7."""
    cases = []
    p = tmp_path / "csv.jsonl"
    p.write_text("id,question,answers\n1,Who?,Ann\n", encoding="utf-8")
    cases.append((p, 1))
    p = tmp_path / "missing.jsonl"
    p.write_text(json.dumps({"id": "a", "question": "Who?", "answers": []}) + "\n"
                 + json.dumps({"id": "b", "answers": ["Ann"]}) + "\n", encoding="utf-8")
    cases.append((p, 2))
    p = tmp_path / "empty.jsonl"
    p.write_text("", encoding="utf-8")
    cases.append((p, 1))
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    data["data"][1]["paragraphs"][1]["qas"][1]["answers"][0]["answer_start"] += 2   # vf-prize
    text = json.dumps(data, indent=2, ensure_ascii=False)
    p = tmp_path / "offset.json"
    p.write_text(text, encoding="utf-8")
    cases.append((p, text[:text.index('"vf-prize"')].count("\n") + 1))
    return cases


@pytest.mark.parametrize("case", range(4), ids=["not-json", "missing-question", "empty",
                                                "squad-offset"])
def test_bad_input_exits_2_with_one_line(tmp_path, case):
    path, line = bad_files(tmp_path)[case]
    out_dir, index_dir = tmp_path / "out", tmp_path / "index"
    code, out, err = run(path, "--out", out_dir, "--index-dir", index_dir, "-q")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {path}:{line}: "), err
    assert not out_dir.exists() and not index_dir.exists()


def test_bad_squad_answers_type_exits_2(tmp_path):
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"] = "1871"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    code, _, err = run(path, "--out", tmp_path / "out", "--index-dir", tmp_path / "index", "-q")
    assert code == 2 and err.startswith(f"error: {path}:")


@pytest.mark.slow
@pytest.mark.parametrize("question", ["Why? " * 300, "\u0001\u0002"], ids=["too-long", "control"])
def test_a_question_qa_refuses_is_named_by_file_and_line(jsonl_run, tmp_path, question):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "ok", "question": "Who founded the observatory?",
                                "answers": ["Clara Whitfield"]}) + "\n"
                    + json.dumps({"id": "bad", "question": question, "answers": []}) + "\n",
                    encoding="utf-8")
    code, _, err = run(path, "--docs", DOC, "--out", tmp_path / "out",
                       "--index-dir", jsonl_run.index_dir, "-q")    # same document: no rebuild
    assert code == 2 and not (tmp_path / "out").exists()
    assert err.count("\n") == 1 and err.startswith(f"error: {path}:2: "), err


def test_squad_file_with_docs_exits_2(tmp_path):
    code, out, err = run(SQUAD, "--docs", DOC, "--out", tmp_path / "out",
                         "--index-dir", tmp_path / "index", "-q")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "--docs" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "index").exists()


def test_out_folder_holding_a_foreign_file_exits_2(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    foreign = out_dir / "notes.txt"
    foreign.write_text("mine, do not touch\n", encoding="utf-8")
    stamp = foreign.stat().st_mtime_ns
    code, out, err = run(SQUAD, "--out", out_dir, "--index-dir", tmp_path / "index", "-q")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "notes.txt" in err
    assert [p.name for p in out_dir.iterdir()] == ["notes.txt"]
    assert foreign.read_text(encoding="utf-8") == "mine, do not touch\n"
    assert foreign.stat().st_mtime_ns == stamp
    assert not (tmp_path / "index").exists()


def test_out_that_is_a_file_exits_2(tmp_path):
    target = tmp_path / "out"
    target.write_text("a file\n", encoding="utf-8")
    code, _, err = run(JSONL, "--docs", DOC, "--out", target, "--index-dir", tmp_path / "index", "-q")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert target.read_text(encoding="utf-8") == "a file\n"


def test_default_out_folder_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = tmp_path / "eval-output" / "tiny-squad-v2"
    default.mkdir(parents=True)
    (default / "keep.me").write_text("x", encoding="utf-8")
    code, _, err = run(SQUAD, "--index-dir", tmp_path / "index", "-q")
    assert code == 2 and "eval-output" in err and "keep.me" in err


@pytest.mark.parametrize("args", [["--top-k", "0"], ["--threshold", "1.5"], ["--threshold", "x"]])
def test_bad_options_exit_2(tmp_path, args):
    with pytest.raises(SystemExit) as info:
        run(JSONL, "--out", tmp_path / "out", *args)
    assert info.value.code == 2
    assert not (tmp_path / "out").exists()


# --- calibration -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_calibrate_stores_the_best_threshold(squad_run, tmp_path):
    from eval import load_questions
    from qa.storage import read_calibration
    from qa import QA

    index_dir = tmp_path / "index"
    shutil.copytree(squad_run.index_dir, index_dir)     # keep the shared index uncalibrated
    code, out, err = run(SQUAD, "--index-dir", index_dir, "--out", tmp_path / "out", "--calibrate",
                         "-q")
    assert code == 0, err
    m = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert m["threshold_source"] == "model"             # calibration comes after the run
    assert len(out.rstrip("\n").splitlines()) <= 15
    assert "Stored threshold" in out and str(index_dir) in out

    stored = read_calibration(index_dir)
    assert stored["threshold"] == m["best_threshold"]
    assert stored["best_f1"] == m["best_f1"] and stored["questions"] == 12
    assert stored["questions_file"]["sha256"] == m["questions_file"]["sha256"]

    docs = load_questions(SQUAD).write_documents(tmp_path / "docs")
    bot = QA.load([docs], index_dir=index_dir, progress=False)
    assert bot.threshold_source == "calibrated"
    assert bot.threshold == m["best_threshold"]
    # an explicit threshold still wins
    bot = QA.load([docs], index_dir=index_dir, threshold=0.2, progress=False)
    assert (bot.threshold, bot.threshold_source) == (0.2, "argument")


@pytest.mark.slow
def test_without_calibrate_nothing_is_stored(squad_run, api_result):
    from qa.storage import read_calibration

    assert squad_run.code == 0
    assert read_calibration(squad_run.index_dir) is None
    assert not (squad_run.index_dir / "calibration.json").exists()
    bot, _ = api_result
    assert bot.threshold_source == "model" and bot.threshold == default_threshold()


# --- atomic output -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_crash_while_writing_keeps_the_previous_results(squad_run, tmp_path, monkeypatch):
    results = tmp_path / "results"
    out_dir = results / "out"
    shutil.copytree(squad_run.out_dir, out_dir)          # a previous good run
    before = snapshot(out_dir)
    real_write_text = Path.write_text

    def failing_write_text(self, *args, **kwargs):
        if self.name == "report.html":
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    code, out, err = run(SQUAD, "--index-dir", squad_run.index_dir, "--out", out_dir, "-q")
    monkeypatch.undo()
    assert code == 2 and out == ""
    assert err == f"error: cannot write the evaluation report at {str(out_dir)!r}: No space left on device\n"
    assert snapshot(out_dir) == before
    assert sorted(p.name for p in results.iterdir()) == ["out"], "no .tmp- or .old- folders"


def test_write_outputs_is_atomic(tmp_path, monkeypatch):
    """write_outputs without the model: first write, replace, and a failed swap."""
    from eval import cli

    results = tmp_path / "results"
    out_dir = results / "out"
    cli.write_outputs(out_dir, {"metrics.json": "1", "predictions.jsonl": "2", "report.html": "3"})
    assert snapshot(out_dir) == {"metrics.json": b"1", "predictions.jsonl": b"2", "report.html": b"3"}
    cli.write_outputs(out_dir, {"metrics.json": "4", "predictions.jsonl": "5", "report.html": "6"})
    assert snapshot(out_dir) == {"metrics.json": b"4", "predictions.jsonl": b"5", "report.html": b"6"}
    assert leftovers(results) == []

    real_rename = os.rename

    def failing_rename(src, dst):
        if Path(dst) == out_dir and ".tmp-" in Path(src).name:
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(WriteError, match="Input/output error"):
        cli.write_outputs(out_dir, {"metrics.json": "7", "predictions.jsonl": "8", "report.html": "9"})
    monkeypatch.undo()
    assert snapshot(out_dir) == {"metrics.json": b"4", "predictions.jsonl": b"5", "report.html": b"6"}
    assert sorted(p.name for p in results.iterdir()) == ["out"]

    # a failure on a first run leaves nothing at all
    fresh = tmp_path / "fresh" / "out"
    real_write_text = Path.write_text

    def failing_write_text(self, *args, **kwargs):
        if self.name == "predictions.jsonl":
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    with pytest.raises(WriteError, match="No space left on device"):
        cli.write_outputs(fresh, {"metrics.json": "1", "predictions.jsonl": "2", "report.html": "3"})
    monkeypatch.undo()
    assert list(fresh.parent.iterdir()) == []


@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_an_unwritable_out_folder_is_one_line(tmp_path, where):
    """Checked before anything is evaluated: no model is loaded."""
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    out = tmp_path / "file.txt" / "out" if where == "under a file" else Path("/proc/docqa-out")
    code, stdout, err = run(JSONL, "--docs", DOC, "--out", out, "-q")
    assert code == 2 and stdout == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: cannot write the evaluation report at {str(out)!r}")


def test_max_file_mb_limits_the_documents(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("word " * 4_000, encoding="utf-8")   # 20,000 bytes
    code, out, err = run(JSONL, "--docs", doc, "--max-file-mb", "0.01", "--out", tmp_path / "out", "-q")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: {str(doc)!r} is 20,000 bytes; the limit is 10,000 bytes per file")
    assert not (tmp_path / "out").exists()


def test_write_outputs_under_proc_is_a_write_error(tmp_path):
    from eval import cli

    with pytest.raises(WriteError, match=r"cannot write the evaluation report at '/proc/docqa-out'"):
        cli.write_outputs(Path("/proc/docqa-out"), {"metrics.json": "1"})


# --- the Python API agrees with the CLI -------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_matches_the_cli(squad_run, api_result):
    _, result = api_result
    cli_metrics = squad_run.metrics
    api_metrics = json.loads(json.dumps(result.metrics))
    for m in (cli_metrics, api_metrics):
        m.pop("latency_ms")
    assert cli_metrics.pop("questions_file")["format"] == "squad"
    assert api_metrics == cli_metrics
    strip = [{k: v for k, v in r.items() if k != "latency_ms"} for r in squad_run.predictions]
    assert json.loads(json.dumps([{k: v for k, v in r.items() if k != "latency_ms"}
                                  for r in result.predictions])) == strip
    assert len(result.sweep) >= 2
    assert all(len(row) == 4 for row in result.sweep)


def test_evaluation_encodes_each_question_once(tmp_path, corpus_dir, fake_embedder):
    """Issue 12: eval ran ask() and then retrieve(), so each question was encoded twice."""
    from collections import Counter

    from eval.data import EvalQuestion
    from eval.run import WARM_UP, evaluate
    from index.config import IndexConfig
    from qa import QA

    bot = QA.load([corpus_dir], index_dir=tmp_path / "idx", embedder=fake_embedder,
                  encoder=fake_embedder, config=IndexConfig(model_name=fake_embedder.name),
                  progress=False)
    encoded = Counter()
    embed = fake_embedder.embed_texts

    def counting(texts):
        encoded.update(texts)
        return embed(texts)

    bot.encoder = type("Counting", (), {"name": fake_embedder.name, "embed_texts": staticmethod(counting)})()
    questions = [EvalQuestion(f"q{i}", q, ("fog",)) for i, q in enumerate(
        ["When is fog common in London?", "How long is the train ride?", "What does a loan cost?"])]
    result = evaluate(bot, questions, top_k=3)
    assert result.metrics["questions"] == 3
    assert all(encoded[q.question] == 1 for q in questions), encoded
    assert encoded[WARM_UP] == 1
    for row in result.predictions:   # the passages read are the ranking's first three
        assert len(row["passages"]) <= 3
