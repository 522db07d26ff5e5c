"""The served app through gradio_client: the /ask endpoint, errors, concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client
from uitest import AIIB_ANSWER, AIIB_QUESTION, OFF_TOPIC

pytestmark = pytest.mark.slow

BUNDLED_TEXT_PATH = "data/china-kazakhstan.txt"


@pytest.fixture(scope="module")
def client(bundled_url):
    return Client(bundled_url, verbose=False, download_files=False)


def test_ask_returns_the_answer_and_its_citation(client, ui_bot):
    reply = client.predict(AIIB_QUESTION, api_name="/ask")
    assert reply == ui_bot.ask(AIIB_QUESTION).to_dict()   # exactly python -m qa ask --json
    answer = reply["answer"]
    assert answer["text"] == AIIB_ANSWER
    assert (answer["doc_id"], answer["start"], answer["end"]) == ("china-kazakhstan.txt", 2470, 2492)
    text = ui_bot.index.documents[answer["doc_id"]].text
    assert text[answer["start"]:answer["end"]] == AIIB_ANSWER
    assert answer["sentence_start"] <= answer["start"] < answer["end"] <= answer["sentence_end"]
    assert len(reply["passages"]) == 5 and reply["passages"][0]["chunk_id"] == answer["chunk_id"]


def test_ask_abstains_with_passages(client):
    reply = client.predict(OFF_TOPIC, api_name="/ask")
    assert reply["answer"] is None and len(reply["passages"]) == 5


@pytest.mark.parametrize("question, message", [
    ("", "question is empty"),
    ("\x00\x07 \t", "question is empty"),
    ("x" * 100_000, "question is too long (100,000 characters; the limit is 1,000)"),
])
def test_bad_questions_give_a_clear_error_and_the_server_keeps_serving(client, question, message):
    with pytest.raises(Exception) as info:
        client.predict(question, api_name="/ask")
    assert type(info.value).__name__ == "AppError"
    assert str(info.value) == message
    assert client.predict(AIIB_QUESTION, api_name="/ask")["answer"]["text"] == AIIB_ANSWER


def test_concurrent_questions_are_queued_and_all_answered(client, ui_bot):
    questions = [AIIB_QUESTION, "Who is the new president of Kazakhstan?", OFF_TOPIC] * 2
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda q: client.predict(q, api_name="/ask"), questions))
    assert replies == [ui_bot.ask(q).to_dict() for q in questions]


def test_only_ask_is_public(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/ask"]
    assert not api["unnamed_endpoints"]


def test_a_huge_request_is_refused_before_any_work(bundled_url, client):
    """Issue 11: each 50 MB question was read into memory, and the memory was kept."""
    import httpx

    body = b'{"data": ["' + b"x" * 2_000_000 + b'"]}'
    r = httpx.post(f"{bundled_url.rstrip('/')}/gradio_api/call/ask", content=body,
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413
    assert r.json()["detail"] == f"request body is {len(body):,} bytes; the limit is 1,000,000 bytes"
    assert client.predict(AIIB_QUESTION, api_name="/ask")["answer"]["text"] == AIIB_ANSWER


def test_a_file_a_little_over_the_limit_reaches_docqa_which_says_why(serve, ui_bot):
    """Issue 11: Gradio refused a file under the stated limit (9.5 of 10 MB), and a refused
    file left the page saying "choose one or more .txt or .md files first"."""
    import httpx

    url = serve(ui_bot, bundled=True, max_upload_mb=0.01).rstrip("/")
    for size in (10_000, 10_500):   # at the limit, and over it: both reach the handler
        r = httpx.post(f"{url}/gradio_api/upload", files={"files": ("a.txt", b"a" * size)}, timeout=30)
        assert r.status_code == 200, (size, r.text)
    huge = httpx.post(f"{url}/gradio_api/upload", files={"files": ("b.txt", b"b" * 2_000_000)},
                      timeout=30)
    assert huge.status_code == 413


def test_ask_calls_leave_no_gradio_session_behind(ui_bot, tmp_path):
    """Issue 11: Gradio kept a session (~25 kB here) per /ask call, and the server's
    memory grew with every question; /ask is stateless, so its sessions are dropped."""
    import time

    from uitest import free_port

    from ui.app import build_app, launch
    from ui.config import API_SESSION_TTL_S

    app = build_app(ui_bot, bundled=True, state_dir=tmp_path)
    try:
        url = launch(app, port=free_port(), block=False)
        ask = Client(url, verbose=False, download_files=False)
        for _ in range(12):
            ask.predict(AIIB_QUESTION, api_name="/ask")
        time.sleep(API_SESSION_TTL_S)
        app.docqa_handlers.api_sessions.sweep()   # as its thread does every API_SESSION_TTL_S
        assert len(app.state_holder.session_data) == 0
        assert len(app._queue.pending_messages_per_session) <= 2
    finally:
        app.close()
        app.docqa_handlers.library.indexer.close()


def test_a_lone_surrogate_over_http_gets_its_message(bundled_url):
    """Issue 11: a lone surrogate crashed the tokenizer, and the client got {"error": null}.
    (gradio_client cannot send one; raw JSON can.)"""
    import httpx

    base = bundled_url.rstrip("/")
    r = httpx.post(f"{base}/gradio_api/call/ask", content=b'{"data": ["a\\ud800b"]}',
                   headers={"content-type": "application/json"}, timeout=30)
    event_id = r.json()["event_id"]
    with httpx.stream("GET", f"{base}/gradio_api/call/ask/{event_id}", timeout=60) as stream:
        lines = list(stream.iter_lines())
    assert "event: error" in lines, lines
    data = lines[lines.index("event: error") + 1]
    assert "question holds invalid Unicode (a lone surrogate, U+D800, at character 2)" in data, data
