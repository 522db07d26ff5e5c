"""ASGI middleware for the served app: bounded request bodies, a clear "busy".

``RequestLimits`` refuses a request whose body is over its limit before the
app reads it (HTTP 413, one line saying the size and the limit): by its
``Content-Length``, or, for a body sent without one, as soon as the bytes
received pass the limit. File uploads (``/gradio_api/upload``) have a limit
of their own. It also rewrites Gradio's "Queue is full" refusal (HTTP 503)
into a message that says what to do, with a ``Retry-After`` header.
"""

from __future__ import annotations

import json

UPLOAD_PATH_SUFFIX = "/upload"
BUSY_MESSAGE = ("docqa is busy: too many questions are waiting. Try again in a few seconds.")
RETRY_AFTER_S = 5


class BodyTooLarge(Exception):
    pass


class RequestLimits:
    def __init__(self, app, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = self.max_upload_bytes if path.rstrip("/").endswith(UPLOAD_PATH_SUFFIX) \
            else self.max_bytes
        length = _content_length(scope)
        if length is not None and length > limit:
            return await _refuse(send, 413, _too_large(length, limit))

        received = 0
        started = False   # whether a response has begun (then a refusal cannot be sent)

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        joins = path.endswith("/queue/join") or "/call/" in path
        swallow = False   # the body of a response that was replaced

        async def guarded_send(message):
            nonlocal started, swallow
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 503 and joins:   # Gradio's "Queue is full"
                    swallow = True
                    return await _refuse(send, 503, BUSY_MESSAGE, retry_after=RETRY_AFTER_S)
            elif swallow:
                return
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, _too_large(received, limit, at_least=True))


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int, limit: int, *, at_least: bool = False) -> str:
    return (f"request body is {'over ' if at_least else ''}{size:,} bytes; "
            f"the limit is {limit:,} bytes")


async def _refuse(send, status: int, message: str, *, retry_after: int | None = None) -> None:
    body = json.dumps({"detail": message, "error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
