"""``python -m eval.stress``: a tiny run against a real ``python -m ui``, and
the parts that build what it sends. Structure and answers only: no timing is
asserted (the figures are the script's output, not its contract)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from eval import stress
from eval.ui_http import upload_event

ROOT = Path(__file__).resolve().parents[2]
STATS_KEYS = {"p50", "p95", "min", "max", "n"}
QUICK_RUN_TIMEOUT_S = 150   # the server builds the bundled index first (~30 s on 2 cores)


@pytest.fixture(scope="module")
def stress_env(tmp_path_factory, _shared_models) -> dict:
    """The environment of the stress run's processes: a cache of their own, as
    tests/conftest.py gives each test (a module fixture runs before it), sharing
    the session's ONNX export; the server builds the bundled index there once."""
    root = tmp_path_factory.mktemp("stress")
    cache = root / "cache"
    (cache / "docqa").mkdir(parents=True)
    (cache / "docqa" / "models").symlink_to(_shared_models, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "QA_INDEX_DIR"}
    env.update(XDG_CACHE_HOME=str(cache), GRADIO_TEMP_DIR=str(root / "gradio"),
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def quick_run(stress_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("stress-out") / "stress.json"
    proc = subprocess.run(
        [sys.executable, "-m", "eval.stress", "--quick", "--skip-upload", "--json", str(out)],
        cwd=ROOT, env=stress_env, capture_output=True, text=True, timeout=QUICK_RUN_TIMEOUT_S)
    return proc, json.loads(out.read_text(encoding="utf-8")) if out.exists() else None


@pytest.mark.slow
def test_quick_run_exits_0_and_writes_every_scenario_but_the_upload(quick_run):
    proc, data = quick_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert data["complete"] is True and data["schema"] == stress.SCHEMA
    assert data["notes"] == []
    assert list(data["scenarios"]) == ["baseline", "clients", "many_clients", "burst"]
    for plan in stress.QUICK[:4]:
        s = data["scenarios"][plan.key]
        assert s["requests"] == plan.clients * plan.per_client, s
        assert s["answered"] + s["errors"] + s.get("refused", 0) == s["requests"], s
        assert set(s["latency_ms"]) == STATS_KEYS and s["latency_ms"]["n"] == s["answered"], s
        assert s["latency_ms"]["min"] <= s["latency_ms"]["p50"] <= s["latency_ms"]["p95"] \
            <= s["latency_ms"]["max"]
        assert s["rss_mb"] > 0 and s["wall_s"] > 0
    memory = data["memory"]
    assert memory["warm_rss_mb"] > 0 and memory["end_rss_mb"] > 0
    assert memory["growth_mb"] == pytest.approx(memory["end_rss_mb"] - memory["warm_rss_mb"], abs=0.11)
    assert data["server"]["url"].startswith("http://127.0.0.1:")
    assert data["p95_upload_over_clients"] is None


@pytest.mark.slow
def test_concurrent_clients_get_no_errors_and_the_single_clients_answers(quick_run):
    _, data = quick_run
    for key in ("baseline", "clients", "many_clients"):
        s = data["scenarios"][key]
        assert (s["errors"], s["error_messages"]) == (0, {}), s
        assert (s["differ"], s["answered"]) == (0, s["requests"]), s
    assert data["scenarios"]["burst"]["differ"] == 0   # the burst's answered questions too


@pytest.mark.slow
def test_the_burst_reports_each_refusal_as_the_client_saw_it(quick_run):
    burst = quick_run[1]["scenarios"]["burst"]
    assert burst["refused"] == sum(burst["refusal_messages"].values())
    assert all(re.fullmatch(r"HTTP 503: .+", m) for m in burst["refusal_messages"]), burst
    clear = sum(n for m, n in burst["refusal_messages"].items() if "try again" in m.lower())
    assert burst["clear_refusals"] == clear


@pytest.mark.slow
def test_the_printed_table_has_a_row_per_scenario(quick_run):
    stdout = quick_run[0].stdout
    assert stdout.splitlines()[0].startswith("scenario")
    for plan in stress.QUICK[:4]:
        assert re.search(rf"^{re.escape(plan.title)}\s+{plan.clients * plan.per_client}\s", stdout, re.M), stdout
    assert "server RSS:" in stdout and "5. " not in stdout


@pytest.mark.slow
def test_a_server_that_cannot_start_is_exit_1_with_one_line(stress_env, quick_run, monkeypatch, capsys):
    for key, value in stress_env.items():   # the run's cache: the index is already built there
        monkeypatch.setenv(key, value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = stress.main(["--quick", "--skip-upload", "--port", str(port)])
    assert code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and errors[0].startswith("error: python -m ui exited with code 2"), errors
    assert f"cannot serve on 127.0.0.1:{port}" in errors[0]


def test_only_loopback_is_accepted(capsys):
    with pytest.raises(SystemExit) as info:
        stress.main(["--host", "0.0.0.0"])
    assert info.value.code == 2
    assert "must be 127.0.0.1" in capsys.readouterr().err


def test_the_questions_are_the_first_25_of_the_dev_set():
    questions = stress.load_questions()
    lines = stress.QUESTIONS_FILE.read_text(encoding="utf-8").splitlines()
    assert questions == [json.loads(line)["question"] for line in lines[:25]]


@pytest.mark.parametrize("clients, per_client", [(8, 25), (32, 5), (3, 2), (1, 25)])
def test_each_client_asks_its_share_and_together_they_ask_everything(clients, per_client):
    questions = [f"q{i}" for i in range(25)]
    jobs = stress.client_questions(questions, clients, per_client)
    assert len(jobs) == clients and all(len(job) == per_client for job in jobs)
    asked = {q for job in jobs for q in job}
    assert asked <= set(questions)
    if clients * per_client >= 25 and per_client > 1:
        assert asked == set(questions)


def test_the_upload_document_is_deterministic_varied_prose():
    doc = stress.make_document(50_000)
    assert doc == stress.make_document(50_000) and len(doc.encode("utf-8")) >= 50_000
    sentences = re.findall(r"\((\d+)\) ([^()]+?\.)(?= |\n)", doc)
    assert [int(n) for n, _ in sentences] == list(range(1, len(sentences) + 1))
    assert len({body for _, body in sentences}) == len(sentences)   # no sentence repeated
    assert len(set(doc.split())) > 300
    assert len(stress.make_document().encode("utf-8")) >= stress.UPLOAD_BYTES


def test_the_upload_event_is_built_from_the_config_like_a_browser_sends_it():
    config = {
        "components": [
            {"id": 3, "type": "file", "props": {"elem_id": "docqa-files"}},
            {"id": 4, "type": "state", "props": {"value": "default"}},
            {"id": 5, "type": "chatbot", "props": {"value": [{"role": "user", "content": "x"}]}},
            {"id": 6, "type": "textbox", "props": {"value": "hello"}},
            {"id": 9, "type": "button", "props": {"elem_id": "docqa-use-files", "value": "Index"}},
            {"id": 10, "type": "button", "props": {"elem_id": "other"}},
        ],
        "dependencies": [
            {"id": 0, "targets": [[10, "click"]], "inputs": [6], "outputs": []},
            {"id": 1, "targets": [[6, "submit"], [9, "click"]], "inputs": [3, 4, 5, 6],
             "outputs": [4]},
        ],
    }
    body = upload_event(config, ["/tmp/a/big.txt"], "docqa-use-files", "big.txt")
    assert body == {
        "data": [[{"path": "/tmp/a/big.txt", "meta": {"_type": "gradio.FileData"},
                   "orig_name": "big.txt"}], None, [], "hello"],
        "fn_index": 1, "trigger_id": 9, "event_data": None}
    with pytest.raises(ValueError, match="no component with elem_id 'missing'"):
        upload_event(config, [], "missing", "big.txt")
    with pytest.raises(ValueError, match="no click event on #docqa-files"):
        upload_event(config, [], "docqa-files", "big.txt")
