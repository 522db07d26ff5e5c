"""ui.jobs: indexing in worker processes, in order, followed and cancelled.

The worker is a stand-in (``fake_worker.py``) except in the last test, which
runs the real ``python -m ui.worker`` on a small document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ui.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Indexer

FAKE = [sys.executable, str(Path(__file__).with_name("fake_worker.py"))]


@pytest.fixture
def indexer():
    ix = Indexer(slots=1, command=FAKE)
    yield ix
    ix.close()


def test_a_job_reports_its_stage_and_finishes(indexer, tmp_path):
    job = indexer.submit("k", [tmp_path / "a.txt"], tmp_path / "idx", max_file_bytes=10)
    assert job.wait(30)
    st = job.status()
    assert st.state == DONE and st.stage == "Embedding chunks" and (st.done, st.total) == (1, 4)
    assert (tmp_path / "idx").is_dir() and indexer.active_keys() == set()


def test_jobs_run_in_order_and_a_queued_one_knows_its_place(indexer, tmp_path):
    slow = indexer.submit("slow", [tmp_path / "slow.txt"], tmp_path / "i1", max_file_bytes=None)
    second = indexer.submit("b", [tmp_path / "b.txt"], tmp_path / "i2", max_file_bytes=None)
    third = indexer.submit("c", [tmp_path / "c.txt"], tmp_path / "i3", max_file_bytes=None)
    while slow.status().stage != "Embedding chunks":
        slow.wait(0.05)
    assert slow.status().state == RUNNING and slow.status().eta_s == pytest.approx(1.5)
    assert (second.status().state, second.status().ahead) == (QUEUED, 1)
    assert (third.status().state, third.status().ahead) == (QUEUED, 2)
    indexer.cancel(slow)   # the running worker is stopped; the queue moves on
    assert slow.status().state == CANCELLED
    assert second.wait(30) and third.wait(30)
    assert second.status().state == third.status().state == DONE
    assert not (tmp_path / "i1").exists()


def test_the_same_files_share_one_job_until_every_session_cancels(indexer, tmp_path):
    first = indexer.submit("same", [tmp_path / "slow.txt"], tmp_path / "i", max_file_bytes=None)
    again = indexer.submit("same", [tmp_path / "slow.txt"], tmp_path / "i", max_file_bytes=None)
    assert again is first
    indexer.cancel(first)
    assert first.status().state in (QUEUED, RUNNING)   # the other session still waits for it
    indexer.cancel(first)
    assert first.status().state == CANCELLED and indexer.active_keys() == set()


def test_a_cancelled_queued_job_never_starts(indexer, tmp_path):
    slow = indexer.submit("slow", [tmp_path / "slow.txt"], tmp_path / "i1", max_file_bytes=None)
    queued = indexer.submit("q", [tmp_path / "q.txt"], tmp_path / "i2", max_file_bytes=None)
    indexer.cancel(queued)
    indexer.cancel(slow)
    assert queued.status().state == CANCELLED
    later = indexer.submit("later", [tmp_path / "l.txt"], tmp_path / "i3", max_file_bytes=None)
    assert later.wait(30) and not (tmp_path / "i2").exists()


@pytest.mark.parametrize("name, error", [
    ("fail", "/fail.txt' is empty"),
    ("crash", "indexing failed; the server log has the details"),
])
def test_a_failed_job_says_why_in_one_line(indexer, tmp_path, name, error):
    job = indexer.submit(name, [tmp_path / f"{name}.txt"], tmp_path / "i", max_file_bytes=None)
    assert job.wait(30)
    st = job.status()
    assert st.state == FAILED and error in st.error and "\n" not in st.error


@pytest.mark.slow
def test_the_real_worker_reports_the_model_loading_first_then_each_stage(tmp_path):
    """Issue 11: the first upload sat at "Reading the files 0.0%" while the model loaded."""
    doc = tmp_path / "g.md"
    doc.write_text("# Garden notes\n\nMargaret Okafor planted the apple tree in 1998.\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "ui.worker", "--index-dir", str(tmp_path / "idx"),
                          "--", str(doc)], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 0, out.stderr[-2000:]
    stages = [m["stage"] for m in lines if "stage" in m]
    assert stages[0] == "Loading the language model"
    assert {"Embedding chunks", "Embedding sentences", "Analysing sentences"} <= set(stages)
    assert lines[-1] == {"ok": True} and (tmp_path / "idx" / "manifest.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "ui.worker", "--index-dir", str(tmp_path / "i2"),
                          "--", str(tmp_path / "missing.md")], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert bad.returncode == 2
    assert json.loads(bad.stdout.splitlines()[-1])["error"].startswith("no such file or folder")
