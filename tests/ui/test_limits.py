"""ui.limits: request bodies over the limit are refused before the app reads
them, and Gradio's "Queue is full" becomes a message that says what to do."""

from __future__ import annotations

import asyncio
import json
import threading

from ui.limits import BUSY_MESSAGE, RequestLimits


def call(middleware, path, body=b"", *, content_length=True, chunks=1):
    """Run one request through ``middleware``: ``(status, headers, body, bytes the app read)``."""
    sent, read = [], []
    headers = [(b"content-length", str(len(body)).encode())] if content_length else []
    parts = [body[i::chunks] for i in range(chunks)] if chunks > 1 else [body]

    async def receive():
        part = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    async def send(message):
        sent.append(message)

    async def run():
        await middleware({"type": "http", "path": path, "headers": headers}, receive, send)

    middleware.app.read = read
    # In a thread of its own: the browser tests' Playwright may hold this thread's event loop.
    failure = []
    worker = threading.Thread(target=lambda: failure.extend(_run_catching(run)))
    worker.start()
    worker.join(30)
    assert not failure, failure
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), payload, b"".join(read)


def _run_catching(coroutine_fn) -> list[BaseException]:
    try:
        asyncio.run(coroutine_fn())
    except BaseException as exc:   # handed to the test's thread
        return [exc]
    return []


class EchoApp:
    """Reads the whole body, then answers 200 (or ``status`` when set)."""

    def __init__(self, status=200):
        self.status = status
        self.read = []

    async def __call__(self, scope, receive, send):
        more = True
        while more:
            message = await receive()
            self.read.append(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b'{"detail": "Queue is full."}'})


def test_a_body_over_the_limit_is_refused_before_the_app_reads_it():
    mw = RequestLimits(EchoApp(), max_bytes=1000, max_upload_bytes=5000)
    status, headers, body, read = call(mw, "/gradio_api/call/ask", b"x" * 1001)
    assert status == 413 and read == b""
    assert json.loads(body)["detail"] == "request body is 1,001 bytes; the limit is 1,000 bytes"
    assert call(mw, "/gradio_api/call/ask", b"x" * 1000)[0] == 200


def test_a_body_without_a_length_is_cut_off_once_over_the_limit():
    mw = RequestLimits(EchoApp(), max_bytes=1000, max_upload_bytes=5000)
    status, _, body, read = call(mw, "/gradio_api/queue/join", b"y" * 3000, content_length=False,
                                 chunks=3)
    assert status == 413 and len(read) <= 1000
    assert "the limit is 1,000 bytes" in json.loads(body)["detail"]


def test_uploads_have_their_own_limit():
    mw = RequestLimits(EchoApp(), max_bytes=1000, max_upload_bytes=5000)
    assert call(mw, "/gradio_api/upload", b"z" * 4000)[0] == 200
    assert call(mw, "/gradio_api/upload", b"z" * 5001)[0] == 413


def test_a_full_queue_says_busy_try_again():
    mw = RequestLimits(EchoApp(status=503), max_bytes=1000, max_upload_bytes=5000)
    for path in ("/gradio_api/queue/join", "/gradio_api/call/ask"):
        status, headers, body, _ = call(mw, path, b"{}")
        assert status == 503 and headers[b"retry-after"] == b"5"
        assert json.loads(body)["detail"] == BUSY_MESSAGE and "Try again" in BUSY_MESSAGE


def test_freed_memory_can_be_given_back_on_glibc():
    import platform

    from index import memory

    if platform.libc_ver()[0] == "glibc":   # this project's machines; elsewhere both are no-ops
        assert memory.trim() is True and memory.limit_arenas(8) is True
    else:
        assert memory.trim() is False
