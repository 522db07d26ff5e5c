"""The Gradio app: a chat over the documents, the evidence beside it, uploads.

``build_app(bot)`` turns a loaded ``QA`` into ``gr.Blocks``; ``launch(app, ...)``
serves it on loopback. Formatting lives in ``ui.render``; this module only
wires events to ``QA.ask`` and ``QA.load``. The model and each index are
loaded once and shared by every browser session: a session only holds the
key of the document set it answers from (``Library``).
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import logging
import os
import re
import shutil
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from qa import QA, USER_ERRORS, InputError
from index.store import disk_usage
from qa.source import page_picture
from qa.storage import cache_root
from index import memory
from ui import render
from ui.config import (API_SESSION_TTL_S, ASK_CONCURRENCY, DEFAULT_HOST, DEFAULT_MAX_STORAGE_MB, DEFAULT_MAX_UPLOAD_MB,
                       DEFAULT_PORT, EXAMPLES, INDEX_CONCURRENCY, MAX_LOADED_UPLOADS, MAX_REQUEST_BYTES,
                       MAX_TURNS, MAX_UPLOAD_FILES, PAGE_SCALE, POLL_SECONDS, QUEUE_SIZE, UPLOAD_SUFFIXES,
                       UPLOAD_WATCHERS)
from ui.jobs import CANCELLED, FAILED, FINISHED, Indexer, Job
from ui.limits import RequestLimits

log = logging.getLogger(__name__)

MB = 1_000_000

DEFAULT_KEY = "default"
BUNDLED_KEY = "bundled"
UPLOAD_KEY = re.compile(r"upload-[0-9a-f]{16}")   # also a folder name: nothing else is accepted


class UploadGoneError(InputError):
    """A session's uploaded documents were deleted (the storage limit); upload them again."""


class Library:
    """The loaded document sets, shared by all sessions, each under a key.

    ``default`` is the ``QA`` the server started with. Uploads are copied to
    ``state_dir/uploads/<hash>/docs`` and indexed into ``.../index`` by the
    ``indexer`` (a worker process per job), so questions never wait on an
    upload. Each set is opened once, under a lock of its own; answering from
    one set never waits on another. Past ``max_storage_bytes`` on disk, the
    least recently used sets are deleted (never one being indexed).
    """

    def __init__(self, default: QA, *, bundled: bool, state_dir: Path, max_file_bytes: int,
                 max_storage_bytes: int = int(DEFAULT_MAX_STORAGE_MB * MB),
                 indexer: Indexer | None = None, loader: Callable[..., QA] = QA.load) -> None:
        self.default = default
        self.default_is_bundled = bundled
        self.state_dir = Path(state_dir)
        self.max_file_bytes = max_file_bytes
        self.max_storage_bytes = max_storage_bytes
        self.indexer = indexer if indexer is not None else Indexer(slots=INDEX_CONCURRENCY)
        self._load = loader
        self._loaded: OrderedDict[str, QA] = OrderedDict()
        self._lock = threading.Lock()            # guards the two dicts only, never held while loading
        self._opening: dict[str, threading.Lock] = {}

    def get(self, key: str | None) -> QA:
        """The ``QA`` for ``key``: the default for None or a key that is not
        one of ours. Raises ``UploadGoneError`` for an upload deleted since."""
        if not key or key == DEFAULT_KEY or (key == BUNDLED_KEY and self.default_is_bundled):
            return self.default
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                bot = self._loaded[key]
            else:
                bot = None
        if bot is not None:
            self._touch(key)
            return bot
        if key == BUNDLED_KEY:
            return self._open(key, None, self.state_dir / "bundled" / "index", upload=False)
        if not UPLOAD_KEY.fullmatch(key):
            log.warning("Unknown document set %r; answering from the default documents.", key)
            return self.default
        folder = self.state_dir / "uploads" / key
        if not (folder / "docs").is_dir():
            raise UploadGoneError("your uploaded documents were deleted to free space for newer "
                                  "uploads; upload them again, or use the bundled article")
        return self._open(key, sorted((folder / "docs").iterdir()), folder / "index")

    def bundled_key(self) -> str:
        return DEFAULT_KEY if self.default_is_bundled else BUNDLED_KEY

    def start_upload(self, files: list[str | Path]) -> tuple[str, Job | None]:
        """Copy the uploaded ``files`` into their own folder and queue their
        indexing. Returns their key, and the job (None when they are indexed
        and open already). Raises ``ValueError`` naming a file that cannot be
        used; the documents in use stay as they were."""
        checked = check_uploads(files, self.max_file_bytes)
        digest = hashlib.sha256()
        for name, path in checked:
            digest.update(name.encode() + b"\0" + _file_digest(path))
        key = "upload-" + digest.hexdigest()[:16]
        folder = self.state_dir / "uploads" / key
        docs = folder / "docs"
        if not docs.is_dir():   # copy to a staging folder first, so a half-copied set is never used
            staging = folder / f"docs.tmp-{os.getpid()}-{threading.get_ident()}"
            try:
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
                for name, path in checked:
                    shutil.copyfile(path, staging / name)
                staging.rename(docs)
            except OSError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                if not docs.is_dir():   # another session's copy of the same files may have won
                    raise UploadStorageError(f"cannot store the upload in {str(folder)!r}: "
                                             f"{exc.strerror or exc}") from None
        self._touch(key)
        with self._lock:
            if key in self._loaded:
                return key, None
        job = self.indexer.submit(key, [docs / name for name, _ in checked], folder / "index",
                                  max_file_bytes=self.max_file_bytes)
        return key, job

    def start_bundled(self) -> tuple[str, Job | None]:
        """The bundled article's key, and the job that indexes it (None when it is open)."""
        key = self.bundled_key()
        with self._lock:
            if key == DEFAULT_KEY or key in self._loaded:
                return key, None
        return key, self.indexer.submit(key, None, self.state_dir / "bundled" / "index",
                                        max_file_bytes=None)

    def failed(self, key: str) -> None:
        """Forget an upload whose indexing failed or was cancelled, unless it
        has an index (then it is a set that worked before)."""
        folder = self.state_dir / "uploads" / key
        if (UPLOAD_KEY.fullmatch(key) and key not in self.indexer.active_keys()
                and not (folder / "index").is_dir()):
            shutil.rmtree(folder, ignore_errors=True)

    def user_path(self, key: str, message: str) -> str:
        """``message`` with the upload's copies named as the user knows them."""
        return message.replace(f"{self.state_dir / 'uploads' / key / 'docs'}/", "")

    def free_storage(self, keep: str | None = None) -> list[str]:
        """Delete the least recently used upload sets until they take at most
        ``max_storage_bytes``; never ``keep`` or a set being indexed. Returns the keys deleted."""
        root = self.state_dir / "uploads"
        if not root.is_dir():
            return []
        busy = self.indexer.active_keys() | {keep}
        sets = []
        for folder in root.iterdir():
            if folder.is_dir() and UPLOAD_KEY.fullmatch(folder.name):
                sets.append((_last_used(folder), disk_usage(folder), folder))
        total = sum(size for _, size, _ in sets)
        deleted = []
        for _, size, folder in sorted(sets, key=lambda s: s[0]):
            if total <= self.max_storage_bytes:
                break
            if folder.name in busy:
                continue
            with self._lock:
                self._loaded.pop(folder.name, None)
            shutil.rmtree(folder, ignore_errors=True)
            total -= size
            deleted.append(folder.name)
            log.info("Deleted the uploaded set %s (%s) to stay within %s of upload storage.",
                     folder.name, format_size(size), format_size(self.max_storage_bytes))
        return deleted

    def _open(self, key: str, paths, index_dir: Path, *, upload: bool = True) -> QA:
        with self._lock:
            lock = self._opening.setdefault(key, threading.Lock())
        with lock:   # one load per set; other sets and the default are not held up
            with self._lock:
                if key in self._loaded:
                    return self._loaded[key]
            try:
                # Share the models the server already has: no second copy, no reload.
                bot = self._load(paths, index_dir=index_dir,
                                 max_file_bytes=self.max_file_bytes if upload else None,
                                 embedder=self.default.embedder, encoder=self.default.encoder)
            except USER_ERRORS as exc:   # name the file as the user knows it, not by its copy's path
                raise type(exc)(self.user_path(key, str(exc))) from None
            with self._lock:
                self._loaded[key] = bot
                while len(self._loaded) > MAX_LOADED_UPLOADS:
                    self._loaded.popitem(last=False)
        self._touch(key)
        return bot

    def _touch(self, key: str) -> None:
        """Record that ``key`` was used now (at most once a minute), for ``free_storage``."""
        if not UPLOAD_KEY.fullmatch(key):
            return
        mark = self.state_dir / "uploads" / key / USED_MARK
        try:
            if time.time() - mark.stat().st_mtime < 60:
                return
        except OSError:
            pass
        try:
            mark.touch()
        except OSError:   # the set is gone, or the disk is read-only: nothing to record
            pass


class UploadStorageError(InputError):
    """An upload cannot be stored on this server's disk."""


USED_MARK = "last-used"


def _last_used(folder: Path) -> float:
    for path in (folder / USED_MARK, folder):
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return 0.0


def _file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def check_uploads(files: list[str | Path] | None, max_file_bytes: int) -> list[tuple[str, Path]]:
    """``(file name, path)`` of each upload, after the checks a browser upload needs
    before ``QA.load`` reads them: at least one file, a readable suffix, distinct
    names, and no file over ``max_file_bytes``. Raises ``ValueError`` saying which file."""
    if not files:
        raise InputError(f"no file was received. Choose documents ({', '.join(UPLOAD_SUFFIXES)}) of up "
                         f"to {format_size(max_file_bytes)} each; the upload box refuses bigger ones")
    if len(files) > MAX_UPLOAD_FILES:
        raise InputError(f"{len(files)} files were chosen; upload at most {MAX_UPLOAD_FILES} at once")
    checked: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for raw in files:
        path = Path(raw)
        name = path.name
        if path.suffix.lower() not in UPLOAD_SUFFIXES:
            raise InputError(f"{name!r} is not a kind of document docqa reads "
                             f"({path.suffix or 'no suffix'}); upload {', '.join(UPLOAD_SUFFIXES)} files")
        if name in seen:
            raise InputError(f"two uploaded files are named {name!r}; rename one")
        size = path.stat().st_size
        if size > max_file_bytes:
            raise InputError(f"{name!r} is {format_size(size)}; the limit is "
                             f"{format_size(max_file_bytes)} per file")
        seen.add(name)
        checked.append((name, path))
    return checked


def format_size(n: int) -> str:
    """``"12.3 MB"``, or ``"20.5 kB"`` below 0.1 MB."""
    return f"{n / MB:.1f} MB" if n >= MB // 10 else f"{n / 1000:.1f} kB"


def default_state_dir() -> Path:
    """Where uploads and their indexes live: beside the per-user index cache."""
    return cache_root().parent / "ui"


class Handlers:
    """The UI's event handlers. Each takes what the browser sends, calls ``QA``
    and returns what ``ui.render`` makes of the result; none raises to the
    browser except ``ask`` (the API), whose errors are ``gr.Error`` messages."""

    def __init__(self, library: Library, *, bundled: bool) -> None:
        self.library = library
        self.bundled = bundled
        self.api_sessions: ApiSessions | None = None   # set by build_app
        self._watches = itertools.count(1)   # one per upload a session follows
        self._dropped: set[str] = set()      # those cancelled by their session

    def is_bundled(self, key: str | None) -> bool:
        return key == BUNDLED_KEY or (key in (None, DEFAULT_KEY) and self.bundled)

    def status(self, key: str | None) -> str:
        qa = self.library.get(key)
        return render.render_documents_status(qa.index.documents, len(qa.index.chunks),
                                              bundled=self.is_bundled(key))

    def respond(self, question: str | None, history: list | None, key: str | None,
                turns: list | None = None):
        """One chat turn: ``(history, evidence, document, "", turns)`` with the
        question and its reply appended to the history (the textbox is emptied).
        ``turns`` holds this session's recent replies, so that a follow-up
        ("What does he know well?") is read in their light (``QA.ask(history=)``)."""
        history = list(history or [])
        turns = list(turns or [])
        question = question if isinstance(question, str) else ""
        history.append({"role": "user", "content": render.render_question(question)})
        try:
            qa = self.library.get(key)
            reply = qa.ask(question, history=turns)
        except USER_ERRORS as exc:
            history.append({"role": "assistant", "content": render.render_error(str(exc))})
            return history, gr.skip(), gr.skip(), "", turns
        except Exception:   # the edge: log it, show one line, keep serving
            log.exception("Answering %r failed", question[:200])
            history.append({"role": "assistant", "content": render.render_error(
                "something went wrong while answering; the server log has the details")})
            return history, gr.skip(), gr.skip(), "", turns
        docs = qa.index.documents
        history.append({"role": "assistant", "content": render.render_reply(reply, docs)})
        turns = (turns + [reply])[-MAX_TURNS:]
        a = reply.answer
        page = page_picture(a, docs[a.doc_id], scale=PAGE_SCALE) if a is not None else None
        return (history, render.render_passages(reply, docs), render.render_document(reply, docs, page),
                "", turns)

    def clear(self):
        """``(history, evidence, document, question, turns)`` all emptied."""
        return [], render.empty_evidence(), render.empty_document(), "", []

    def use_uploads(self, files, key, history, watch=None):
        """Index the uploaded files in a worker process, then answer from them.
        A generator: while the files are indexed it yields their progress (their
        place in the queue, the stage, an estimate of the time left); at the end
        ``(key, status, history, message, examples, evidence, document, turns,
        watch, cancel)``. On failure or cancellation the key stays and only the
        message changes: the session answers from its previous documents."""
        try:
            new_key, job = self.library.start_upload(files or [])
        except USER_ERRORS as exc:
            yield self._not_switched(f"Not indexed: {exc}. Still answering from the previous documents.")
            return
        except Exception:   # the edge: log it, show one line, keep serving
            log.exception("Storing an upload failed")
            yield self._not_switched("Not indexed: the upload could not be stored; the server log "
                                     "has the details. Still answering from the previous documents.")
            return
        names = ", ".join(Path(f).name for f in files)
        yield from self._follow(new_key, job, key, history, names)

    def use_bundled_article(self, key, history, watch=None):
        """Answer from the bundled article again; yields as ``use_uploads``."""
        new_key, job = self.library.start_bundled()
        yield from self._follow(new_key, job, key, history, "the bundled article")

    def cancel(self, watch) -> None:
        """Stop following this session's indexing (and stop the job when no
        other session waits for the same files). The upload's own handler then
        says "Cancelled." (this one shows nothing: its reply could arrive after that)."""
        job = self.library.indexer.get((watch or "").split(":")[0])
        if job is None or job.finished:
            return
        self._dropped.add(watch)
        self.library.indexer.cancel(job)

    def _follow(self, new_key, job, key, history, names):
        history = list(history or [])
        if job is not None:
            watch = f"{job.id}:{next(self._watches)}"
            while True:
                st = job.status()
                if st.state in FINISHED or watch in self._dropped:
                    break
                yield (gr.skip(), gr.skip(), gr.skip(),
                       render.render_indexing(st, names), gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                       watch, gr.update(visible=True))
                job.wait(POLL_SECONDS)
            if watch in self._dropped or st.state == CANCELLED:
                self._dropped.discard(watch)
                self.library.failed(new_key)
                yield self._not_switched("Cancelled. Still answering from the previous documents.")
                return
            if st.state == FAILED:
                self.library.failed(new_key)
                yield self._not_switched(f"Not indexed: {self.library.user_path(new_key, st.error)}. "
                                         "Still answering from the previous documents.")
                return
        try:
            qa = self.library.get(new_key)
        except USER_ERRORS as exc:
            yield self._not_switched(f"Not indexed: {exc}. Still answering from the previous documents.")
            return
        except Exception:   # the edge: log it, show one line, keep serving
            log.exception("Opening the index of %s failed", new_key)
            yield self._not_switched("Indexing failed; the server log has the details. "
                                     "Still answering from the previous documents.")
            return
        self.library.free_storage(keep=new_key)
        notice = render.documents_notice(qa.index.documents, len(qa.index.chunks))
        history.append({"role": "assistant", "content": render.render_notice(notice)})
        yield (new_key, self.status(new_key), history, render.render_upload_message(notice, ok=True),
               gr.update(visible=self.is_bundled(new_key)), render.empty_evidence(),
               render.empty_document(), [],   # earlier turns were about other documents
               None, gr.update(visible=False))

    @staticmethod
    def _not_switched(message: str):
        return (gr.skip(), gr.skip(), gr.skip(), render.render_upload_message(message, ok=False),
                gr.skip(), gr.skip(), gr.skip(), gr.skip(), None, gr.update(visible=False))

    def ask(self, question: str, request: gr.Request = None) -> dict:
        """Answer a question from the documents the server started with.

        Returns the reply as JSON, the shape ``python -m qa ask --json`` prints;
        its ``answer`` is null when the document does not say."""
        try:
            return self.library.default.ask(question if isinstance(question, str) else "").to_dict()
        except USER_ERRORS as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        finally:
            if self.api_sessions is not None and request is not None:
                self.api_sessions.ended(request.session_hash)


class ApiSessions:
    """Forgets the Gradio sessions of ``/ask`` calls shortly after they end,
    and gives freed memory back to the system.

    Gradio opens a session for every API call and keeps it: a copy of the
    page's settings (~25 kB for this page) for up to 10,000 sessions, and a
    little queue bookkeeping per session with no bound. Measured: server
    memory grew ~50 kB per ``/ask`` call. ``/ask`` is stateless, so a thread
    drops each of its sessions ``delay_s`` after it ended (browser sessions are
    not touched), then trims the heap (``index.memory``).
    """

    def __init__(self, app: gr.Blocks, *, delay_s: float = API_SESSION_TTL_S) -> None:
        self.app = app
        self.delay_s = delay_s
        self._ended: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ended(self, session_hash: str | None) -> None:
        if session_hash:
            with self._lock:
                self._ended.append((time.monotonic(), session_hash))

    def start(self) -> None:
        """Sweep every ``delay_s`` seconds, in a daemon thread, from now on."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="docqa-api-sessions", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.delay_s)
            try:
                if self.sweep():
                    memory.trim()
            except Exception:   # noqa: BLE001 - a sweep must never stop the server
                log.exception("Dropping ended /ask sessions failed")

    def sweep(self) -> int:
        """Forget the sessions that ended ``delay_s`` ago or more; returns how many."""
        now = time.monotonic()
        with self._lock:
            due = []
            while self._ended and self._ended[0][0] <= now - self.delay_s:
                due.append(self._ended.popleft()[1])
        for session in due:
            self._forget(session)
        return len(due)

    def _forget(self, session: str) -> None:
        holder = getattr(self.app, "state_holder", None)
        if holder is not None:
            with holder.lock:
                holder.session_data.pop(session, None)
                holder.time_last_used.pop(session, None)
        queue = getattr(self.app, "_queue", None)
        if queue is not None:
            if not queue.pending_event_ids_session.get(session, True):   # no event pending
                queue.pending_event_ids_session.pop(session, None)
                queue.pending_messages_per_session.pop(session, None)


def build_app(bot: QA, *, bundled: bool = True, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
              max_storage_mb: float = DEFAULT_MAX_STORAGE_MB,
              state_dir: str | Path | None = None) -> gr.Blocks:
    """The web UI over ``bot`` (already loaded). ``bundled``: ``bot`` holds the
    bundled article (then the example questions are shown). ``state_dir``: where
    uploads and their indexes go (default: beside the per-user index cache);
    ``max_storage_mb`` bounds them on disk. Serve it with ``launch``;
    ``app.docqa_handlers`` is the ``Handlers`` behind it."""
    for name, value in (("max_upload_mb", max_upload_mb), ("max_storage_mb", max_storage_mb)):
        if not value > 0:
            raise InputError(f"{name} must be > 0, got {value}")
    indexer = Indexer(slots=INDEX_CONCURRENCY)
    atexit.register(indexer.close)   # no worker outlives the server
    library = Library(bot, bundled=bundled,
                      state_dir=Path(state_dir) if state_dir is not None else default_state_dir(),
                      max_file_bytes=int(max_upload_mb * MB),
                      max_storage_bytes=int(max_storage_mb * MB), indexer=indexer)
    h = Handlers(library, bundled=bundled)

    # Gradio's own copies of uploaded files are deleted after an hour (ours are kept).
    with gr.Blocks(title="docqa", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        key = gr.State(DEFAULT_KEY)   # which document set this browser session answers from
        turns = gr.State([])          # this session's recent replies, for follow-up questions
        watch = gr.State(None)        # the indexing job this session follows, if any
        with gr.Row(elem_id="docqa-header"):
            gr.HTML('<h1 class="docqa-title">docqa</h1><p class="docqa-sub">Ask the document; '
                    "every answer is its own words, cited.</p>", padding=False)
            status = gr.HTML(h.status(DEFAULT_KEY), elem_id="docqa-status", padding=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=420):
                chatbot = gr.Chatbot(
                    label="Chat", show_label=False, elem_id="docqa-chat", height=520, layout="bubble",
                    render_markdown=False,   # messages are HTML built by ui.render, all text escaped
                    sanitize_html=True, latex_delimiters=[], feedback_options=None,
                    buttons=["copy"], placeholder="Ask a question about the document.",
                    group_consecutive_messages=False)
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask a question and press Enter", show_label=False,
                        elem_id="docqa-question", scale=6, lines=1, max_lines=4,
                        submit_btn=True, autofocus=True)
                    clear_btn = gr.Button("Clear", scale=1, min_width=80, elem_id="docqa-clear")
                with gr.Row(visible=bundled, elem_id="docqa-examples") as examples_row:
                    example_btns = [gr.Button(q, size="sm", variant="secondary") for q in EXAMPLES]
                with gr.Accordion("Your documents", open=False, elem_id="docqa-docs"):
                    # Every type is let through to the handler, which says why a file is refused.
                    files = gr.File(
                        label=(f"Upload {', '.join(UPLOAD_SUFFIXES)} files (up to "
                               f"{max_upload_mb:g} MB each, {MAX_UPLOAD_FILES} at once)"),
                        file_count="multiple", type="filepath", elem_id="docqa-files")
                    with gr.Row():
                        use_files = gr.Button("Index and use these files", variant="primary",
                                              elem_id="docqa-use-files")
                        use_bundled = gr.Button("Use the bundled article", elem_id="docqa-use-bundled")
                        cancel_btn = gr.Button("Cancel indexing", variant="stop", visible=False,
                                               elem_id="docqa-cancel")
                    upload_msg = gr.HTML("", elem_id="docqa-upload-msg", padding=False,
                                         min_height=40)   # room for the indexing progress
            with gr.Column(scale=4, min_width=380):
                evidence = gr.HTML(render.empty_evidence(), elem_id="docqa-evidence",
                                   js_on_load=SCROLL_EVIDENCE_JS, padding=False)
                document = gr.HTML(render.empty_document(), elem_id="docqa-document",
                                   js_on_load=SCROLL_DOCUMENT_JS, padding=False)

        chat_outputs = [chatbot, evidence, document, question, turns]
        asking = dict(concurrency_id="ask", concurrency_limit=ASK_CONCURRENCY,
                      api_visibility="private", show_progress_on=[chatbot])
        question.submit(h.respond, [question, chatbot, key, turns], chat_outputs, **asking)
        for btn in example_btns:   # a button's value is its label: the question
            btn.click(h.respond, [btn, chatbot, key, turns], chat_outputs, **asking)
        clear_btn.click(h.clear, None, chat_outputs, queue=False, api_visibility="private")
        chatbot.clear(h.clear, None, chat_outputs, queue=False, api_visibility="private")

        switch_outputs = [key, status, chatbot, upload_msg, examples_row, evidence, document, turns,
                          watch, cancel_btn]
        # Indexing itself runs in worker processes (``Indexer``); these handlers only
        # follow it, so many can wait at once, and they show their own progress.
        indexing = dict(concurrency_id="index", concurrency_limit=UPLOAD_WATCHERS,
                        api_visibility="private", show_progress="hidden")
        use_files.click(h.use_uploads, [files, key, chatbot, watch], switch_outputs, **indexing)
        use_bundled.click(h.use_bundled_article, [key, chatbot, watch], switch_outputs, **indexing)
        cancel_btn.click(h.cancel, [watch], None, queue=False, api_visibility="private")

        # The programmatic endpoint: question in, reply.to_dict() out.
        gr.api(h.ask, api_name="ask", concurrency_id="ask", concurrency_limit=ASK_CONCURRENCY)
    app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    h.api_sessions = ApiSessions(app)
    app.docqa_handlers = h
    return app


def launch(app: gr.Blocks, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           block: bool = True) -> str:
    """Serve ``app`` (from ``build_app``) on ``host:port``: no share link, no
    analytics, no page asset from outside. With ``block`` False, return the
    local URL once the server is up; otherwise serve until interrupted."""
    from starlette.middleware import Middleware

    max_file = app.docqa_handlers.library.max_file_bytes
    # Gradio's own per-file limit is looser than ours, so that a file a little
    # over it reaches the handler, whose message names it and the limit.
    gradio_max_file = 2 * max_file + MB
    limits = Middleware(RequestLimits, max_bytes=MAX_REQUEST_BYTES,
                        max_upload_bytes=MAX_UPLOAD_FILES * gradio_max_file + MB)
    theme = gr.themes.Default(
        # System fonts: the page needs no font files (a GoogleFont would be fetched from outside).
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
    app.launch(
        server_name=host, server_port=port, share=False, inbrowser=False, quiet=True,
        prevent_thread_lock=True, show_error=False, ssr_mode=False, mcp_server=False,
        enable_monitoring=False, footer_links=["api"], run_history=False, theme=theme, css=CSS,
        # Gradio refuses a much bigger file while it is uploaded, before any handler sees it.
        max_file_size=gradio_max_file, app_kwargs={"middleware": [limits]})
    app.docqa_handlers.api_sessions.start()
    url = app.local_url
    if block:
        app.block_thread()
    return url


# Scroll the cited span (or the closest passage) to the upper third of the
# document box, and the passage the answer came from into view, after each update.
SCROLL_DOCUMENT_JS = """
const go = () => {
  const page = element.querySelector('.docqa-page');
  const spot = element.querySelector('.docqa-page-mark');
  if (page) page.scrollTop = spot ? Math.max(0, spot.offsetTop - page.clientHeight / 3) : 0;
  const box = element.querySelector('.docqa-doc');
  const mark = element.querySelector('#docqa-cited');
  if (!box) return;
  box.scrollTop = mark ? Math.max(0, mark.offsetTop - box.clientHeight / 3) : 0;
};
go();
element.addEventListener('toggle', () => requestAnimationFrame(go), true);  // the PDF's text view opened
watch('value', () => requestAnimationFrame(go));
"""

SCROLL_EVIDENCE_JS = """
const go = () => {
  const box = element.querySelector('.docqa-evidence');
  const card = element.querySelector('.docqa-source');
  if (!box) return;
  box.scrollTop = card ? Math.max(0, card.offsetTop - 8) : 0;
};
go();
watch('value', () => requestAnimationFrame(go));
"""

CSS = """
.gradio-container { max-width: 1500px !important; }
#docqa-header { align-items: baseline; }
.docqa-title { margin: 0; font-size: 1.6rem; }
.docqa-sub { margin: 0.1rem 0 0; color: var(--body-text-color-subdued); }
.docqa-status { text-align: right; padding-top: 0.6rem; color: var(--body-text-color-subdued); }
.docqa-muted { color: var(--body-text-color-subdued); }
.docqa-small { font-size: 0.85rem; }
.docqa-panel-head { margin: 0 0 0.3rem; font-size: 0.95rem; }
#docqa-examples { align-items: center; gap: 0.4rem; flex-wrap: wrap; }
#docqa-examples::before { content: "Try:"; color: var(--body-text-color-subdued); }
#docqa-examples > * { flex: 0 1 auto !important; min-width: 0 !important; }
#docqa-examples button { white-space: normal; text-align: left; }
.docqa-reply p { margin: 0 0 0.4rem; }
.docqa-short { font-size: 1.15rem; }
.docqa-quote { margin: 0.2rem 0 0.5rem; padding: 0.2rem 0 0.2rem 0.7rem;
  border-left: 3px solid var(--color-accent); font-style: normal; }
.docqa-meta { font-size: 0.9rem; margin: 0; }
.docqa-query { font-size: 0.85rem; color: #6b7280; margin: 0 0 0.3rem; }
.docqa-closest { margin: 0.2rem 0 0 1.2rem; padding: 0; font-size: 0.9rem; }
.docqa-closest li { margin-bottom: 0.3rem; }
.docqa-where { font-weight: 600; }
.docqa-error { color: var(--error-text-color, #b91c1c); }
mark.docqa-answer { background: #fcd34d; color: #111; font-weight: 600; padding: 0 1px;
  border-radius: 2px; }
mark.docqa-sentence { background: #fef3c7; color: #111; }
mark.docqa-closest-passage { background: #dbeafe; color: #111; }
.docqa-evidence { max-height: 360px; overflow-y: auto; position: relative;
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.4rem; }
.docqa-passage { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 0.4rem 0.6rem; margin-bottom: 0.5rem; font-size: 0.9rem; }
.docqa-passage.docqa-source { border-color: #f59e0b; box-shadow: 0 0 0 1px #f59e0b; }
.docqa-passage-head { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 0.8rem;
  font-size: 0.85rem; margin-bottom: 0.25rem; }
.docqa-scores { color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums; }
.docqa-badge { background: #f59e0b; color: #111; border-radius: 4px; padding: 0 0.3rem;
  margin-left: 0.3rem; font-size: 0.75rem; }
.docqa-passage-text { white-space: pre-wrap; line-height: 1.45; }
.docqa-empty { min-height: 4rem; }
.docqa-doc { max-height: 330px; overflow-y: auto; position: relative; white-space: pre-wrap;
  line-height: 1.5; font-size: 0.9rem; border: 1px solid var(--border-color-primary);
  border-radius: 8px; padding: 0.5rem 0.7rem; }
.docqa-section { font-size: 0.8rem; font-weight: 600; margin: 0 0 0.3rem; opacity: 0.8; }
.docqa-page { position: relative; max-height: 520px; overflow-y: auto; border: 1px solid
  var(--border-color-primary); border-radius: 8px; }
.docqa-page-sheet { position: relative; }
.docqa-page img { display: block; width: 100%; height: auto; }
.docqa-page-mark { position: absolute; background: rgba(255, 200, 0, 0.38);
  outline: 2px solid rgba(230, 150, 0, 0.9); border-radius: 2px; pointer-events: none; }
.docqa-text-view summary { cursor: pointer; font-size: 0.85rem; margin: 0.4rem 0; }
.docqa-upload-ok { color: var(--body-text-color); }
.docqa-upload-bad { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.docqa-upload-progress { color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums; }
"""
