"""The web UI over raw HTTP, as any client sees it (Gradio 6's protocol), for
``eval.stress``: ask a question through the public ``ask`` API, and upload
files through the UI's own upload event exactly as a browser does.

Asking: ``POST /gradio_api/call/ask`` with ``{"data": [question]}`` answers
``{"event_id": ID}`` (HTTP 503 with a JSON ``detail`` when the queue is full);
``GET /gradio_api/call/ask/ID`` then streams server-sent events, ``event:
complete`` with ``data: [reply]`` or ``event: error``.

Uploading: ``POST /gradio_api/upload`` (multipart, field ``files``) answers
the server paths; ``GET /config`` lists the components (``id``, ``type``,
``props.elem_id``) and the events (``targets`` ``[[component id, "click"]]``,
``inputs``, ``id`` = fn_index); ``POST /gradio_api/queue/join`` with ``data``
(one value per input), ``fn_index``, ``session_hash``, ``trigger_id`` starts
the event; ``GET /gradio_api/queue/data?session_hash=`` streams its messages
(``estimation``, ``process_starts``, ``progress``, ``process_generating``,
``process_completed``). A generator's later messages carry diffs of its
outputs (``["replace", path, value]``).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
import uuid
from dataclasses import dataclass, field

import httpx


class UIError(RuntimeError):
    """The server refused a request the client cannot do without; the message says why."""


@dataclass
class Result:
    """One question as the client saw it: answered (``ms`` set), refused, or an error."""
    question: str
    ms: float | None = None          # submit to result; None when not answered
    answer: tuple | None = None      # (text, start, end), None for an abstention
    error: str | None = None         # what the client saw, when not answered
    refused: bool = False            # HTTP 503 on submit: the queue is full


def answer_key(reply) -> tuple | None:
    """What "the same answer" means: the answer's text and offsets, or None (abstained)."""
    answer = reply.get("answer") if isinstance(reply, dict) else None
    return None if answer is None else (answer.get("text"), answer.get("start"), answer.get("end"))


def _detail(response) -> str:
    """A refused request as the client sees it: ``HTTP 503: <detail>``."""
    try:
        body = response.json()
        text = body["detail"] if isinstance(body, dict) and "detail" in body else json.dumps(body)
    except ValueError:
        text = response.text
    return f"HTTP {response.status_code}: {text if isinstance(text, str) else json.dumps(text)}"


def _event_error(data) -> str:
    if isinstance(data, dict) and data.get("error") is not None:
        return f"error event: {data['error']}"
    return f"error event: {json.dumps(data)[:300]}"


async def sse_events(client, url: str, **params):
    """``(event, data)`` of a server-sent event stream (``event`` None when the
    stream names none); ``data`` parsed as JSON. Raises ``httpx.HTTPStatusError``."""
    async with client.stream("GET", url, params=params or None) as response:
        response.raise_for_status()
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                payload = line[5:].strip()
                try:
                    data = json.loads(payload)
                except ValueError:
                    data = payload
                yield event, data
            elif not line:
                event = None


async def ask(client, url: str, question: str) -> Result:
    """One question through ``/gradio_api/call/ask``, as any HTTP client asks it."""
    t0 = time.perf_counter()
    try:
        response = await client.post(f"{url}/gradio_api/call/ask", json={"data": [question]})
        if response.status_code != 200:
            return Result(question, error=_detail(response), refused=response.status_code == 503)
        event_id = response.json()["event_id"]
        async for event, data in sse_events(client, f"{url}/gradio_api/call/ask/{event_id}"):
            if event == "complete":
                ms = (time.perf_counter() - t0) * 1000
                reply = data[0] if isinstance(data, list) and data else None
                if not isinstance(reply, dict) or "answer" not in reply:
                    return Result(question, error=f"complete event without a reply: {str(data)[:200]}")
                return Result(question, ms=ms, answer=answer_key(reply))
            if event == "error":
                return Result(question, error=_event_error(data))
        return Result(question, error="the event stream ended without a result")
    except httpx.HTTPStatusError as exc:
        return Result(question, error=_detail(exc.response))
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Result(question, error=f"{type(exc).__name__}: {exc}".strip())


def upload_event(config: dict, paths: list[str], button_elem_id: str,
                 file_name: str) -> dict:
    """The ``/gradio_api/queue/join`` body (less ``session_hash``) of a click on
    the button with ``button_elem_id``, as a browser sends it, from the app's
    ``/config``: the uploaded ``paths`` for a gr.File input, null for gr.State
    (the server keeps its value), [] for a Chatbot, else the component's value.
    Raises ``ValueError`` when the config has no such button or event."""
    components = {c["id"]: c for c in config.get("components", [])}
    button = next((c for c in components.values()
                   if c.get("props", {}).get("elem_id") == button_elem_id), None)
    if button is None:
        raise ValueError(f"the app has no component with elem_id {button_elem_id!r}")
    for index, dep in enumerate(config.get("dependencies", [])):
        if [button["id"], "click"] in [list(t) for t in dep.get("targets", [])]:
            break
    else:
        raise ValueError(f"no click event on #{button_elem_id}")
    data = []
    for input_id in dep.get("inputs", []):
        kind = components.get(input_id, {}).get("type")
        if kind == "file":
            data.append([{"path": p, "meta": {"_type": "gradio.FileData"}, "orig_name": file_name}
                         for p in paths])
        elif kind == "state":
            data.append(None)
        elif kind == "chatbot":
            data.append([])
        else:
            data.append(components.get(input_id, {}).get("props", {}).get("value"))
    return {"data": data, "fn_index": dep.get("id", index), "trigger_id": button["id"],
            "event_data": None}


@dataclass
class Upload:
    """What the upload's progress stream said, as it said it."""
    t0: float
    started: asyncio.Event = field(default_factory=asyncio.Event)
    messages: list[str] = field(default_factory=list)     # msg kinds, in order
    last_progress: str | None = None
    completed_s: float | None = None
    success: bool | None = None
    output: str | None = None
    error: str | None = None


async def start_upload(client, url: str, text: str, *, file_name: str,
                       button_elem_id: str) -> tuple[Upload, asyncio.Task]:
    """Upload ``text`` as ``file_name`` and click the button ``#button_elem_id``,
    as a browser does; the returned task follows the event's progress stream
    until it ends. Raises ``UIError`` when the server refuses the upload or the
    event, ``ValueError`` when the app has no such button, ``httpx.HTTPError``."""
    t0 = time.perf_counter()
    files = {"files": (file_name, text.encode("utf-8"), "text/plain")}
    response = await client.post(f"{url}/gradio_api/upload", files=files)
    if response.status_code != 200:
        raise UIError(f"the upload was refused: {_detail(response)}")
    paths = response.json()
    config = (await client.get(f"{url}/config")).raise_for_status().json()
    session = uuid.uuid4().hex[:11]
    body = upload_event(config, paths, button_elem_id, file_name) | {"session_hash": session}
    response = await client.post(f"{url}/gradio_api/queue/join", json=body)
    if response.status_code != 200:
        raise UIError(f"the upload event was refused: {_detail(response)}")
    state = Upload(t0)

    async def follow() -> None:
        try:
            async for _, data in sse_events(client, f"{url}/gradio_api/queue/data",
                                            session_hash=session):
                msg = data.get("msg") if isinstance(data, dict) else None
                if msg and msg != "heartbeat":
                    state.messages.append(msg)
                if msg == "process_starts":
                    state.started.set()
                elif msg == "progress":   # gr.Progress
                    units = data.get("progress_data") or []
                    state.last_progress = "; ".join(_progress_text(u) for u in units) or None
                elif msg == "process_generating":   # a generator's message, e.g. "Embedding 256 of 900"
                    state.last_progress = _generated_text(data.get("output")) or state.last_progress
                elif msg == "process_completed":
                    state.completed_s = time.perf_counter() - t0
                    state.success = bool(data.get("success"))
                    state.output = json.dumps(data.get("output"))[:300]
                    break
        except Exception as exc:   # the stream is a side show: record, never raise
            state.error = f"{type(exc).__name__}: {exc}"
        finally:
            state.started.set()

    return state, asyncio.create_task(follow())


def _generated_text(output) -> str | None:
    """The last text among a generator's outputs (HTML tags dropped): a value
    itself in its first message, a whole-value ``["replace", [], value]`` diff later."""
    texts = []
    for value in (output or {}).get("data") or []:
        if isinstance(value, list):   # diffs: [op, path, value], path [] for the whole value
            value = next((d[2] for d in value if isinstance(d, list) and len(d) == 3
                          and d[0] == "replace" and d[1] == []), None)
        if isinstance(value, str) and (text := html.unescape(re.sub(r"<[^>]*>", "", value)).strip()):
            texts.append(text)
    return texts[-1] if texts else None


def _progress_text(unit: dict) -> str:
    desc = unit.get("desc") or ""
    if unit.get("index") is not None and unit.get("length"):
        return f"{desc} {unit['index']}/{unit['length']}".strip()
    if unit.get("progress") is not None:
        return f"{desc} {unit['progress']:.0%}".strip()
    return desc
