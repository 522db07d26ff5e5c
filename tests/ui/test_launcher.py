"""``python -m ui`` itself, in a subprocess: it loads, says where it is, serves, stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client
from uitest import AIIB_ANSWER, AIIB_QUESTION, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_python_m_ui_serves_the_bundled_article_on_loopback(ui_bot, bundled_index_dir, tmp_path):
    port = free_port()
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    # The index the session already built: the launcher reuses it instead of embedding again.
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui", "--index-dir", str(bundled_index_dir), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            if "ready at" in line:
                break
        assert "ready at" in line, (line, proc.poll())
        url = f"http://127.0.0.1:{port}/"
        assert line.startswith(f"docqa is ready at {url} (china-kazakhstan.txt, 24 passages)"), line
        reply = Client(url, verbose=False).predict(AIIB_QUESTION, api_name="/ask")
        assert reply["answer"]["text"] == AIIB_ANSWER
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()[-2000:]
    assert "Using the index at" in proc.stderr.read()   # --index-dir alone: opened as it is


def test_a_taken_port_is_a_one_line_error(tmp_path, capsys):
    from ui.__main__ import main

    docs = tmp_path / "n.md"
    docs.write_text("# N\n\nThe sky was green on Tuesday.\n", encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = main(["--docs", str(docs), "--index-dir", str(tmp_path / "i"), "--port", str(port), "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot serve on 127.0.0.1:{port}:") and len(err.splitlines()) == 1, err


def test_bad_documents_are_a_one_line_error(tmp_path, capsys):
    from ui.__main__ import main

    assert main(["--docs", str(tmp_path / "missing.md"), "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: no such file or folder: {str(tmp_path / 'missing.md')!r}"]


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "http"], ["--max-upload-mb", "-1"]])
def test_bad_arguments_are_usage_errors(args, capsys):
    from ui.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "python -m ui: error: argument" in capsys.readouterr().err
