"""docqa as a package: the README's Python examples run as written from another
folder, and a built wheel installs the packages, the data and the ``docqa`` command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIIB = "How much capital does the Asian Infrastructure Investment Bank have?"

pytestmark = pytest.mark.slow


def python_examples() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", readme, re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_python(code: str, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))   # as after pip install -e .
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_every_python_example_of_the_readme_runs_from_another_folder(tmp_path):
    examples = python_examples()
    assert len(examples) == 4
    for i, code in enumerate(examples):
        folder = tmp_path / f"example-{i}"
        folder.mkdir()
        server = None
        milvus = None
        if "milvus_uri" in code:   # the Milvus example talks to a milvus-lite server of its own
            from tests.milvus_server import MilvusServer

            milvus = MilvusServer(folder / "milvus").start()
            code = code.replace("http://127.0.0.1:19530", milvus.uri)
        if "gradio_client" in code:   # the /ask example talks to a running python -m ui
            port = free_port()
            server = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port), "-q"], cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline, line = time.monotonic() + 180, ""
            while time.monotonic() < deadline and server.poll() is None and "ready at" not in line:
                line = server.stdout.readline()
            assert "ready at" in line, line
            code = code.replace("http://127.0.0.1:7860/", f"http://127.0.0.1:{port}/")
        try:
            out = run_python(code, folder, ROOT)
        finally:
            if milvus is not None:
                milvus.stop()
            if server is not None:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=30)
        if server is not None:   # it ends by showing the error a bad question raises
            assert out.stderr.rstrip().endswith("AppError: question is empty"), out.stderr[-2000:]
            assert "100 billion US dollars china-kazakhstan.txt 2470 2492" in out.stdout
        else:
            assert out.returncode == 0, (i, out.stderr[-3000:])
        if milvus is not None:
            assert out.stdout.strip() == "Tokayev", out.stdout
    api = run_python(examples[1], tmp_path, ROOT)
    assert "Which country will Tokayev soon visit?" in api.stdout and "Margaret Okafor" in api.stdout


def test_a_built_wheel_installs_the_packages_the_data_and_the_docqa_command(tmp_path):
    src = tmp_path / "src"   # a copy: building writes build/ and *.egg-info beside the sources
    for name in ("qa", "index", "ui", "eval", "data"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path / "wheel"), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "wheel").glob("docqa-*.whl"))
    target = tmp_path / "site"   # the dependencies are this environment's own
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                                str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert (target / "docqa_data" / "china-kazakhstan.txt").is_file()
    assert (target / "qa" / "reader_model.json").is_file() and (target / "ui" / "worker.py").is_file()
    assert (target / "index" / "formats" / "pdf.py").is_file()   # subpackages are listed too

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    where = subprocess.run([sys.executable, "-c", "import qa, qa.api; print(qa.__file__); "
                            "print(qa.api.BUNDLED)"], cwd=elsewhere, env=env, capture_output=True,
                           text=True, timeout=120)
    assert where.stdout.splitlines() == [str(target / "qa" / "__init__.py"),
                                         str(target / "docqa_data" / "china-kazakhstan.txt")], where
    asked = subprocess.run([str(target / "bin" / "docqa"), "ask", AIIB], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=600)
    assert asked.returncode == 0, asked.stderr[-2000:]
    assert asked.stdout.startswith("Answer: 100 billion US dollars\n")
    assert "Source: china-kazakhstan.txt, paragraph 6, characters 2470-2492" in asked.stdout
    usage = subprocess.run([str(target / "bin" / "docqa"), "nope"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and usage.stderr.startswith("docqa: unknown command 'nope'")
