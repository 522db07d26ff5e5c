"""``python -m qa``, run in-process: exit codes, one-line errors, parsed output."""

from __future__ import annotations

import json

import pytest

from qa.cli import main

pytestmark = pytest.mark.slow


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


BUNDLED_ARTICLE = str(__import__("qa.api", fromlist=["BUNDLED"]).BUNDLED)


def test_ask_json_then_plain_from_the_index_alone(tmp_path, capsys):
    idx = str(tmp_path / "idx")
    code, out, err = run(capsys, "ask", "How much capital does the Asian Infrastructure Investment Bank have?",
                         "--docs", BUNDLED_ARTICLE, "--index-dir", idx, "--json")
    assert code == 0
    reply = json.loads(out)
    assert reply["answer"]["text"] == "100 billion US dollars"
    assert "building" in err

    code, out, err = run(capsys, "ask", "How much capital does the Asian Infrastructure Investment Bank have?",
                         "--index-dir", idx)
    assert code == 0
    assert out.startswith("Answer: 100 billion US dollars\n")
    assert "characters " in out and "Confidence: " in out
    assert "Using the index at" in err and "as it is" in err and "Embedding" not in err


def test_abstention_prints_closest_passages(tmp_path, capsys):
    code, out, _ = run(capsys, "ask", "What is the population of Kazakhstan?", "--docs", BUNDLED_ARTICLE,
                       "--index-dir", str(tmp_path))
    assert code == 0
    assert out.startswith("The document does not say.\nClosest passages:\n  1. ")


@pytest.mark.parametrize("args, message", [
    (["ask", "   "], "error: question is empty"),
    (["ask", "Who?", "--docs", "/no/such/file.txt"], "error: no such file or folder: '/no/such/file.txt'"),
    (["index", "/no/such/dir"], "error: no such file or folder: '/no/such/dir'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    code, out, err = run(capsys, *args, "--index-dir", str(tmp_path / "idx"))
    assert code == 2
    assert err.strip() == message and out == ""
    assert not (tmp_path / "idx").exists(), "nothing is written for bad input"


def test_binary_document_is_refused(tmp_path, capsys):
    bad = tmp_path / "photo.txt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    code, _, err = run(capsys, "index", str(bad), "--index-dir", str(tmp_path / "idx"))
    assert code == 2 and err.count("\n") == 1 and "photo.txt" in err and "binary" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ask", "Who?", "--top-k", "0"])
    assert exc.value.code == 2
    assert "--top-k: must be a whole number >= 1, got '0'" in capsys.readouterr().err


def test_index_then_ask_own_documents(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bridge.md").write_text(
        "# The Old Bridge\n\nThe Old Bridge was completed in 1887 by the engineer Mary Holt. "
        "It cost $2.4 million and carries about 9,000 vehicles a day.\n", encoding="utf-8")
    idx = str(tmp_path / "idx")
    code, out, _ = run(capsys, "index", str(docs), "--index-dir", idx)
    assert code == 0 and "1 document(s)" in out
    code, out, _ = run(capsys, "ask", "How much did the Old Bridge cost?", "--docs", str(docs),
                       "--index-dir", idx, "--json")
    answer = json.loads(out)["answer"]
    assert answer["text"] == "$2.4 million" and answer["title"] == "The Old Bridge"
    assert answer["doc_id"] == "bridge.md"


def test_timings_line_splits_the_time(tmp_path, capsys):
    idx = str(tmp_path / "idx")
    run(capsys, "index", str(__import__("qa.api", fromlist=["BUNDLED"]).BUNDLED), "--index-dir", idx)
    code, out, err = run(capsys, "ask", "How much capital does the Asian Infrastructure Investment Bank have?",
                         "--index-dir", idx, "--timings", "-q")
    assert code == 0 and out.startswith("Answer: 100 billion US dollars")
    (line,) = [l for l in err.splitlines() if l.startswith("timings: ")]
    timings = json.loads(line.removeprefix("timings: "))
    assert set(timings) == {"imports_s", "index_load_s", "model_load_s", "answer_s", "total_s"}
    assert all(v >= 0 for v in timings.values())
    parts = sum(v for k, v in timings.items() if k != "total_s")
    assert abs(parts - timings["total_s"]) < 0.01   # the parts add up to the whole


def test_a_cached_answer_never_imports_torch(tmp_path):
    """With an index and the ONNX export in place, a fresh `python -m qa ask`
    answers without torch, sentence-transformers or spaCy (the cold start's big
    cost: the parser runs at index time only)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from qa import QA

    bot = QA.load(index_dir=tmp_path / "i", progress=False)   # builds, and exports once
    assert type(bot.encoder).__name__ == "OnnxEncoder"
    heavy = "('torch', 'transformers', 'sentence_transformers', 'spacy', 'lightgbm', 'sklearn')"
    code = ("import sys\n"
            "import qa\n"
            f"print('AFTER IMPORT', any(m in sys.modules for m in {heavy}))\n"
            "from qa.cli import main\n"
            f"rc = main(['ask', 'How much capital does the Asian Infrastructure Investment Bank have?', '--index-dir', "
            f"{str(tmp_path / 'i')!r}, '--json', '-q'])\n"
            f"print('AFTER ASK', any(m in sys.modules for m in {heavy}))\n"
            "sys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ), cwd=str(Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    assert "AFTER IMPORT False" in out.stdout and "AFTER ASK False" in out.stdout, out.stdout
    assert '"text": "100 billion US dollars"' in out.stdout


def test_a_user_error_is_one_line_but_a_bug_is_a_traceback(tmp_path, capsys, monkeypatch):
    """Issue 12: every ValueError was shown as a user error, bugs included."""
    from qa import QA, InputError

    monkeypatch.setattr(QA, "ask", lambda self, *a, **k: (_ for _ in ()).throw(InputError("bad value 7")))
    code, out, err = run(capsys, "ask", "Who?", "--docs", BUNDLED_ARTICLE, "--index-dir", str(tmp_path / "i"), "-q")
    assert (code, out, err.strip()) == (2, "", "error: bad value 7")
    monkeypatch.setattr(QA, "ask", lambda self, *a, **k: (_ for _ in ()).throw(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):
        run(capsys, "ask", "Who?", "--docs", BUNDLED_ARTICLE, "--index-dir", str(tmp_path / "i"), "-q")
