"""The Gradio app: a chat over the documents, the evidence beside it, uploads.

``build_app(bot)`` turns a loaded ``QA`` into ``gr.Blocks``; ``launch(app, ...)``
serves it on loopback. Formatting lives in ``ui.render``; this module only
wires events to ``QA.ask`` and ``QA.load``. The model and each index are
loaded once and shared by every browser session: a session only holds the
key of the document set it answers from (``Library``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from qa import QA, USER_ERRORS
from qa.api import cache_root
from ui import render
from ui.config import (MAX_TURNS, ASK_CONCURRENCY, DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT, EXAMPLES,
                       INDEX_CONCURRENCY, MAX_LOADED_UPLOADS, QUEUE_SIZE, UPLOAD_SUFFIXES)

log = logging.getLogger(__name__)

MB = 1_000_000

DEFAULT_KEY = "default"
BUNDLED_KEY = "bundled"
UPLOAD_KEY = re.compile(r"upload-[0-9a-f]{16}")   # also a folder name: nothing else is accepted


class Library:
    """The loaded document sets, shared by all sessions, each under a key.

    ``default`` is the ``QA`` the server started with. Uploads are copied to
    ``state_dir/uploads/<hash>/docs`` and indexed in ``.../index``, so a set
    that was dropped from memory reloads from disk without re-embedding.
    Loading is serialised by a lock; asking is not (``QA.ask`` only reads).
    """

    def __init__(self, default: QA, *, bundled: bool, state_dir: Path,
                 max_file_bytes: int, loader: Callable[..., QA] = QA.load) -> None:
        self.default = default
        self.default_is_bundled = bundled
        self.state_dir = Path(state_dir)
        self.max_file_bytes = max_file_bytes
        self._load = loader
        self._loaded: OrderedDict[str, QA] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> QA:
        """The ``QA`` for ``key``; the default for None or an unknown key."""
        if not key or key == DEFAULT_KEY or (key == BUNDLED_KEY and self.default_is_bundled):
            return self.default
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        if key == BUNDLED_KEY:
            return self._open(key, None, self.state_dir / "bundled" / "index", upload=False)
        folder = self.state_dir / "uploads" / key
        if not UPLOAD_KEY.fullmatch(key) or not (folder / "docs").is_dir():
            log.warning("Unknown document set %r; answering from the default documents.", key)
            return self.default
        return self._open(key, sorted((folder / "docs").iterdir()), folder / "index")

    def bundled_key(self) -> str:
        return DEFAULT_KEY if self.default_is_bundled else BUNDLED_KEY

    def add_upload(self, files: list[str | Path]) -> str:
        """Copy the uploaded ``files`` into their own folder, index them, return their key.

        Raises ``IngestError``/``ValueError`` (with a message naming the file by its
        own name) when a file cannot be used; the documents in use stay as they were.
        """
        checked = check_uploads(files, self.max_file_bytes)
        digest = hashlib.sha256()
        for name, path in checked:
            digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        key = "upload-" + digest.hexdigest()[:16]
        folder = self.state_dir / "uploads" / key
        docs = folder / "docs"
        fresh = not docs.is_dir()
        if fresh:   # copy to a staging folder first, so a half-copied set is never used
            staging = folder / "docs.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            for name, path in checked:
                shutil.copyfile(path, staging / name)
            staging.rename(docs)
        try:
            self._open(key, [docs / name for name, _ in checked], folder / "index",
                       prefix=f"{docs}/")
        except BaseException:
            if fresh:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return key

    def _open(self, key: str, paths, index_dir: Path, *, upload: bool = True,
              prefix: str | None = None) -> QA:
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            try:
                # Share the models the server already has: no second copy, no reload.
                bot = self._load(paths, index_dir=index_dir,
                                 max_file_bytes=self.max_file_bytes if upload else None,
                                 embedder=self.default.embedder, encoder=self.default.encoder)
            except USER_ERRORS as exc:
                if prefix:   # name the file as the user knows it, not by its copy's path
                    raise type(exc)(str(exc).replace(prefix, "")) from None
                raise
            self._loaded[key] = bot
            while len(self._loaded) > MAX_LOADED_UPLOADS:
                self._loaded.popitem(last=False)
            return bot


def check_uploads(files: list[str | Path] | None, max_file_bytes: int) -> list[tuple[str, Path]]:
    """``(file name, path)`` of each upload, after the checks a browser upload needs
    before ``QA.load`` reads them: at least one file, a readable suffix, distinct
    names, and no file over ``max_file_bytes``. Raises ``ValueError`` saying which file."""
    if not files:
        raise ValueError("choose one or more .txt or .md files first")
    checked: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for raw in files:
        path = Path(raw)
        name = path.name
        if path.suffix.lower() not in UPLOAD_SUFFIXES:
            raise ValueError(f"{name!r} is not a .txt or .md file ({path.suffix or 'no suffix'}); "
                             f"upload {', '.join(UPLOAD_SUFFIXES)} files")
        if name in seen:
            raise ValueError(f"two uploaded files are named {name!r}; rename one")
        size = path.stat().st_size
        if size > max_file_bytes:
            raise ValueError(f"{name!r} is {format_size(size)}; the limit is "
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
        return (history, render.render_passages(reply, docs), render.render_document(reply, docs),
                "", turns)

    def clear(self):
        """``(history, evidence, document, question, turns)`` all emptied."""
        return [], render.empty_evidence(), render.empty_document(), "", []

    def use_uploads(self, files, key, history, progress=gr.Progress(track_tqdm=True)):
        """Index the uploaded files (the embedding bars show as progress) and
        answer from them. Returns ``(key, status, history, message, examples,
        evidence, document)``; on failure the key stays and only the message changes."""
        progress(0, desc="Reading the files")
        return self._switch(lambda: self.library.add_upload(files or []), key, history)

    def use_bundled_article(self, key, history, progress=gr.Progress(track_tqdm=True)):
        """Answer from the bundled article again; returns as ``use_uploads``."""
        progress(0, desc="Opening the bundled article")
        return self._switch(self.library.bundled_key, key, history)

    def _switch(self, load: Callable[[], str], key, history):
        history = list(history or [])
        try:
            new_key = load()
            qa = self.library.get(new_key)
        except USER_ERRORS as exc:
            msg = f"Not indexed: {exc}. Still answering from the previous documents."
            return (key, gr.skip(), gr.skip(), render.render_upload_message(msg, ok=False),
                    gr.skip(), gr.skip(), gr.skip(), gr.skip())
        except Exception:   # the edge: log it, show one line, keep serving
            log.exception("Indexing failed")
            msg = ("Indexing failed; the server log has the details. "
                   "Still answering from the previous documents.")
            return (key, gr.skip(), gr.skip(), render.render_upload_message(msg, ok=False),
                    gr.skip(), gr.skip(), gr.skip(), gr.skip())
        notice = render.documents_notice(qa.index.documents, len(qa.index.chunks))
        history.append({"role": "assistant", "content": render.render_notice(notice)})
        return (new_key, self.status(new_key), history, render.render_upload_message(notice, ok=True),
                gr.update(visible=self.is_bundled(new_key)), render.empty_evidence(),
                render.empty_document(), [])   # earlier turns were about other documents

    def ask(self, question: str) -> dict:
        """Answer a question from the documents the server started with.

        Returns the reply as JSON, the shape ``python -m qa ask --json`` prints;
        its ``answer`` is null when the document does not say."""
        try:
            return self.library.default.ask(question if isinstance(question, str) else "").to_dict()
        except USER_ERRORS as exc:
            raise gr.Error(str(exc), print_exception=False) from None


def build_app(bot: QA, *, bundled: bool = True, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
              state_dir: str | Path | None = None) -> gr.Blocks:
    """The web UI over ``bot`` (already loaded). ``bundled``: ``bot`` holds the
    bundled article (then the example questions are shown). ``state_dir``: where
    uploads and their indexes go (default: beside the per-user index cache).
    Serve it with ``launch``; ``app.docqa_handlers`` is the ``Handlers`` behind it."""
    if max_upload_mb <= 0:
        raise ValueError(f"max_upload_mb must be > 0, got {max_upload_mb}")
    library = Library(bot, bundled=bundled,
                      state_dir=Path(state_dir) if state_dir is not None else default_state_dir(),
                      max_file_bytes=int(max_upload_mb * MB))
    h = Handlers(library, bundled=bundled)

    with gr.Blocks(title="docqa", analytics_enabled=False) as app:
        key = gr.State(DEFAULT_KEY)   # which document set this browser session answers from
        turns = gr.State([])          # this session's recent replies, for follow-up questions
        with gr.Row(elem_id="docqa-header"):
            gr.HTML('<h1 class="docqa-title">docqa</h1><p class="docqa-sub">Ask the document; '
                    "every answer is its own words, cited.</p>", padding=False)
            status = gr.HTML(h.status(DEFAULT_KEY), elem_id="docqa-status", padding=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=420):
                chatbot = gr.Chatbot(
                    label="Chat", elem_id="docqa-chat", height=520, layout="bubble",
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
                    files = gr.File(
                        label=f"Upload .txt or .md files (up to {max_upload_mb:g} MB each)",
                        file_count="multiple", file_types=list(UPLOAD_SUFFIXES), type="filepath",
                        elem_id="docqa-files")
                    with gr.Row():
                        use_files = gr.Button("Index and use these files", variant="primary",
                                              elem_id="docqa-use-files")
                        use_bundled = gr.Button("Use the bundled article", elem_id="docqa-use-bundled")
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

        switch_outputs = [key, status, chatbot, upload_msg, examples_row, evidence, document, turns]
        indexing = dict(concurrency_id="index", concurrency_limit=INDEX_CONCURRENCY,
                        api_visibility="private", show_progress_on=[upload_msg])
        use_files.click(h.use_uploads, [files, key, chatbot], switch_outputs, **indexing)
        use_bundled.click(h.use_bundled_article, [key, chatbot], switch_outputs, **indexing)

        # The programmatic endpoint: question in, reply.to_dict() out.
        gr.api(h.ask, api_name="ask", concurrency_id="ask", concurrency_limit=ASK_CONCURRENCY)
    app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    app.docqa_handlers = h
    return app


def launch(app: gr.Blocks, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           block: bool = True) -> str:
    """Serve ``app`` (from ``build_app``) on ``host:port``: no share link, no
    analytics, no page asset from outside. With ``block`` False, return the
    local URL once the server is up; otherwise serve until interrupted."""
    theme = gr.themes.Default(
        # System fonts: the page needs no font files (a GoogleFont would be fetched from outside).
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
    app.launch(
        server_name=host, server_port=port, share=False, inbrowser=False, quiet=True,
        prevent_thread_lock=True, show_error=False, ssr_mode=False, mcp_server=False,
        enable_monitoring=False, footer_links=["api"], run_history=False, theme=theme, css=CSS,
        # Gradio refuses a bigger file while it is uploaded, before any handler sees it.
        max_file_size=app.docqa_handlers.library.max_file_bytes)
    url = app.local_url
    if block:
        app.block_thread()
    return url


# Scroll the cited span (or the closest passage) to the upper third of the
# document box, and the passage the answer came from into view, after each update.
SCROLL_DOCUMENT_JS = """
const go = () => {
  const box = element.querySelector('.docqa-doc');
  const mark = element.querySelector('#docqa-cited');
  if (!box) return;
  box.scrollTop = mark ? Math.max(0, mark.offsetTop - box.clientHeight / 3) : 0;
};
go();
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
.docqa-upload-ok { color: var(--body-text-color); }
.docqa-upload-bad { color: var(--error-text-color, #b91c1c); font-weight: 600; }
"""
