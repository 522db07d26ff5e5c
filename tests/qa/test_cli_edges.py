"""``python -m qa`` at its edges: invalid Unicode in arguments, special files,
the file-size limit, unwritable index folders and a reader that goes away.
Each is one ``error: ...`` line and exit code 2 (141 for the closed pipe),
never a traceback. Most fail before any model is loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import EXIT_BROKEN_PIPE, main
from qa.config import DEFAULT_MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def python_m_qa(*args, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """``python -m qa ARGS`` in a fresh process in ``cwd``; ``args`` may be bytes
    (undecodable in the file system's encoding)."""
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=cwd, capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


# --- invalid Unicode (defect 1) -------------------------------------------------------------

def test_a_question_with_an_undecodable_byte(capsys):
    code, out, err = run(capsys, "ask", "a\udcff")   # what Python makes of b"a\xff" in argv
    assert assert_one_error_line(code, out, err) == \
        "error: question holds invalid Unicode (a lone surrogate, U+DCFF, at character 2)"


def test_undecodable_bytes_in_a_real_command_line(tmp_path):
    """``python -m qa ask "$(printf 'a\\xff')"``, and a file and an index folder
    whose names hold such a byte, in real processes: one escaped line each."""
    (tmp_path / os.fsdecode(b"\xff.txt")).write_text("Some text.", encoding="utf-8")
    (tmp_path / "good.txt").write_text("Some text.", encoding="utf-8")
    not_utf8 = b"error: the path '\\udcff.txt' is not valid UTF-8: rename it\n"
    cases = [
        ([b"ask", b"a\xff"],
         b"error: question holds invalid Unicode (a lone surrogate, U+DCFF, at character 2)\n"),
        ([b"index", b"\xff.txt"], not_utf8),
        ([b"index", b"\xff.txt", b"--index-dir", b"idx"], not_utf8),
        ([b"ask", b"Who?", b"--docs", b"\xff.txt", b"--index-dir", b"idx"], not_utf8),
        ([b"index", b"good.txt", b"--index-dir", b"i\xff"],
         b"error: cannot write the index at 'i\\udcff': the path is not valid UTF-8 "
         b"(FAISS cannot open it); choose another folder\n"),
    ]
    for args, expected in cases:
        result = python_m_qa(*args, b"-q", cwd=tmp_path)
        assert (result.returncode, result.stdout, result.stderr) == (2, b"", expected), args
    assert sorted(os.listdir(tmp_path)) == ["good.txt", os.fsdecode(b"\xff.txt")]


# --- special files (defect 2) ------------------------------------------------------------------

def test_a_fifo_named_txt_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "x.txt")
    result = python_m_qa("index", "x.txt", "--index-dir", "idx", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == b"error: 'x.txt' is not a regular file (a FIFO)\n"


def test_a_link_to_a_device_is_refused(tmp_path, capsys):
    (tmp_path / "z.txt").symlink_to("/dev/null")
    code, out, err = run(capsys, "index", tmp_path / "z.txt", "--index-dir", tmp_path / "idx")
    assert "is not a regular file (a character device)" in assert_one_error_line(code, out, err)


# --- the file-size limit (defect 3) ----------------------------------------------------------

def test_the_default_limit_applies_to_the_cli(tmp_path, capsys):
    big = sparse_file(tmp_path / "big.txt", DEFAULT_MAX_FILE_BYTES + 1)
    for args in (["index", big], ["ask", "Who?", "--docs", big]):
        code, out, err = run(capsys, *args, "--index-dir", tmp_path / "idx")
        line = assert_one_error_line(code, out, err)
        assert line == (f"error: {str(big)!r} is 20.0 MB; the limit is 20.0 MB per file "
                        "(raise it with --max-file-mb MB, or max_file_bytes= in Python)")
    assert not (tmp_path / "idx").exists()


def test_max_file_mb_flag_and_environment(tmp_path, capsys, monkeypatch):
    doc = tmp_path / "doc.txt"
    doc.write_text("word " * 4_000, encoding="utf-8")   # 20,000 bytes
    code, out, err = run(capsys, "index", doc, "--max-file-mb", "0.01", "--index-dir", tmp_path / "i")
    assert "the limit is 10,000 bytes per file" in assert_one_error_line(code, out, err)
    monkeypatch.setenv("QA_MAX_FILE_MB", "0.015")
    code, out, err = run(capsys, "index", doc, "--index-dir", tmp_path / "i")
    assert "the limit is 15,000 bytes per file" in assert_one_error_line(code, out, err)
    monkeypatch.setenv("QA_MAX_FILE_MB", "lots")
    code, out, err = run(capsys, "index", doc, "--index-dir", tmp_path / "i")
    assert assert_one_error_line(code, out, err) == \
        "error: QA_MAX_FILE_MB must be a number > 0, got 'lots'"
    for bad in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(SystemExit) as info:
            main(["index", str(doc), "--max-file-mb", bad])
        assert info.value.code == 2
        assert "--max-file-mb: must be a number > 0" in capsys.readouterr().err


def test_help_names_the_limit(capsys):
    for command in ("ask", "index"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--max-file-mb MB" in capsys.readouterr().out


# --- unwritable index folders (defect 5) ------------------------------------------------------

@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_an_unwritable_index_dir_is_one_line(tmp_path, capsys, where):
    doc = tmp_path / "f.txt"
    doc.write_text("Some text. More text.", encoding="utf-8")
    index_dir = tmp_path / "f.txt" / "idx" if where == "under a file" else Path("/proc/docqa-x")
    code, out, err = run(capsys, "index", doc, "--index-dir", index_dir, "-q")
    line = assert_one_error_line(code, out, err)
    assert line.startswith(f"error: cannot write the index at {str(index_dir)!r}: ")
    assert sorted(os.listdir(tmp_path)) == ["f.txt"]


# --- a reader that goes away (defect 7) -------------------------------------------------------

@pytest.mark.slow
def test_a_closed_pipe_is_no_traceback(bundled_bot):
    """``python -m qa ask ... | head -1``, where head has gone before we write:
    the output is dropped quietly and the exit code is 141 (128 + SIGPIPE)."""
    for extra in ([], ["--json"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa", "ask", "Who is the new president of Kazakhstan?",
             "--index-dir", str(bundled_bot.index.folder), "-q", *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()   # the reader goes away before anything is written
        err = proc.stderr.read().decode("utf-8", "replace")
        assert proc.wait(timeout=120) == EXIT_BROKEN_PIPE, err
        assert err == "", err
