"""``QA``: the documents' index plus the reader, the one object the edges hold."""

from __future__ import annotations

import logging
import numbers
import operator
import os
import re
import time
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from index.config import IndexConfig
from index.analysis import ANALYSIS_VERSION
from index.embed import Embedder, model_path
from index.errors import IndexMismatchError, IndexNotFoundError, InputError, WriteError
from index.ingest import load_documents
from index.store import Index, load_index, open_index
from index.types import Hit
from qa.config import BACKENDS, DEFAULT_MAX_FILE_BYTES, DEFAULT_TOP_K, MAX_QUESTION_CHARS
from qa.followup import Turn, resolve
from qa.storage import cache_root, index_dir_for, no_index, read_calibration, write_calibration
from qa.question import NAME_KINDS, analyze_question
from qa.features import WordEncoder, question_words, word_vectors
from qa.read import model_threshold, read_answers, sentence_candidates
from qa.retrieve import pool_size, retrieve
from qa.types import Reply, Trace

log = logging.getLogger(__name__)

def _bundled_article() -> Path:
    """The bundled article: ``data/`` beside the packages in a checkout, else the
    copy ``pip install`` puts in the ``docqa_data`` package."""
    name = "china-kazakhstan.txt"
    beside = Path(__file__).resolve().parent.parent / "data" / name
    if beside.is_file():
        return beside
    try:
        from importlib.resources import files

        return Path(str(files("docqa_data") / name))
    except ModuleNotFoundError:
        return beside   # missing either way: QA.load says so, naming this path


BUNDLED = _bundled_article()
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A Python string can hold surrogate code points that no UTF-8 text can: from
# ``"\ud800"`` in code, or an undecodable byte of a command-line argument
# (``surrogateescape`` turns b"\xff" into "\udcff").
_SURROGATE = re.compile("[\ud800-\udfff]")


class QuestionError(InputError):
    """The question cannot be asked (empty, too long, invalid Unicode); the message says why."""


def clean_question(question: str) -> str:
    """``question`` with control characters and runs of white space folded to
    single spaces. Raises ``QuestionError`` when it is not a string, holds
    invalid Unicode (a lone surrogate: the message gives its position, never
    the character itself, which cannot be printed or sent as JSON), or is
    empty or too long.

    >>> clean_question("a\ud800")
    Traceback (most recent call last):
    qa.api.QuestionError: question holds invalid Unicode (a lone surrogate, U+D800, at character 2)
    """
    if not isinstance(question, str):
        raise QuestionError(f"question must be a string, got {type(question).__name__}")
    bad = _SURROGATE.search(question)
    if bad:
        raise QuestionError(f"question holds invalid Unicode (a lone surrogate, "
                            f"U+{ord(bad.group()):04X}, at character {bad.start() + 1})")
    text = " ".join(_CONTROL.sub(" ", question).split())
    if not text:
        raise QuestionError("question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"question is too long ({len(text):,} characters; the limit is {MAX_QUESTION_CHARS:,})")
    return text


def check_top_k(top_k) -> int:
    """``top_k`` as an ``int`` >= 1. Any integer type is accepted (numpy's too,
    through ``operator.index``); a bool, a float (2.5, nan, inf), a string or
    None raise ``ValueError`` naming the value."""
    if not isinstance(top_k, bool):
        try:
            k = operator.index(top_k)
        except TypeError:
            k = 0
        if k >= 1:
            return k
    raise InputError(f"top_k must be a whole number >= 1, got {show_value(top_k)}")


def check_within(within, n: int) -> list[frozenset[str] | None] | None:
    """``ask_traced``'s ``within`` as one ``frozenset`` of doc_ids (or None) per
    question, for ``n`` questions. ``InputError`` naming the value when it is
    not None or a list/tuple of ``n`` such entries (a set, frozenset, list or
    tuple of strings; a bare string is refused: it is not a set of doc_ids)."""
    if within is None:
        return None
    if not isinstance(within, (list, tuple)) or len(within) != n:
        raise InputError(f"within must be None or a list with one entry per question ({n}), "
                         f"got {show_value(within)}")
    out = []
    for docs in within:
        if docs is not None and (not isinstance(docs, (set, frozenset, list, tuple))
                                 or not all(isinstance(d, str) for d in docs)):
            raise InputError(f"within's entries must be None or sets of doc_ids (strings), "
                             f"got {show_value(docs)}")
        out.append(None if docs is None else frozenset(docs))
    return out


def check_threshold(threshold) -> float:
    """``threshold`` as a ``float`` in [0, 1]; ``ValueError`` naming it otherwise
    (a bool, NaN, a string, ...)."""
    if isinstance(threshold, numbers.Real) and not isinstance(threshold, bool):
        t = float(threshold)
        if 0.0 <= t <= 1.0:   # False for NaN
            return t
    raise InputError(f"threshold must be a number in [0, 1], got {show_value(threshold)}")


def check_paths(paths) -> list:
    """``QA.load``'s ``paths`` as a non-empty list: one ``str``/``PathLike`` is one
    path, a list or tuple of them is several; None is the bundled article.
    Anything else, an empty list, an empty path or one with a NUL character
    raises ``InputError``."""
    if paths is None:
        return [BUNDLED]
    items = [paths] if isinstance(paths, (str, os.PathLike)) else paths
    if not isinstance(items, (list, tuple)):
        raise InputError(f"paths must be a file or folder path or a list of them, "
                         f"got {type(paths).__name__}")
    if not items:
        raise InputError("paths is empty: give at least one file or folder, "
                         "or None for the bundled article")
    for p in items:
        if not isinstance(p, (str, os.PathLike)):
            raise InputError(f"paths must hold file or folder paths (str or Path), "
                             f"got {show_value(p)}")
        if not str(p):
            raise InputError("paths holds an empty path ''")
        if "\x00" in os.fspath(p) if isinstance(os.fspath(p), str) else b"\x00" in os.fspath(p):
            raise InputError(f"paths holds a path with a NUL character: {show_value(p)}")
    return list(items)


def check_index_dir(index_dir) -> None:
    """Raise ``InputError`` unless ``index_dir`` is a folder path (str or PathLike)."""
    if not isinstance(index_dir, (str, os.PathLike)):
        raise InputError(f"index_dir must be a folder path, got {show_value(index_dir)}")


def torch_threads(threads: int | None) -> int | None:
    """``threads``, else ``$QA_TORCH_THREADS`` when set (checked), else None (the default)."""
    if threads is None and os.environ.get("QA_TORCH_THREADS"):
        return _positive_int("QA_TORCH_THREADS", os.environ["QA_TORCH_THREADS"])
    return threads


def check_max_file_bytes(max_file_bytes) -> int | None:
    """``max_file_bytes`` as an ``int`` >= 1, or None (no limit)."""
    if max_file_bytes is None:
        return None
    try:
        return check_top_k(max_file_bytes)
    except ValueError:
        raise InputError(f"max_file_bytes must be a whole number >= 1 or None, "
                         f"got {show_value(max_file_bytes)}") from None


def show_value(value) -> str:
    """``value`` for an error message: its repr (at most 60 characters, on one
    line) and its type, e.g. ``'5' (str)``."""
    text = " ".join(repr(value).split())
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


class QA:
    """Ask questions of a set of documents.

    >>> bot = QA.load()        # the bundled article; index cached per user
    >>> reply = bot.ask("How much capital does the Asian Infrastructure Investment Bank have?")
    >>> reply.answer.text
    '100 billion US dollars'
    """

    def __init__(self, index: Index, embedder: Embedder, *,
                 threshold: float | None = None, encoder=None) -> None:
        source = "argument"
        if threshold is None:   # the one chosen on held-out folds when the reader was fitted
            threshold, source = default_threshold(), "model"
        threshold = check_threshold(threshold)
        # Questions are encoded by ``encoder``: the ONNX export of the same model
        # when there is one (no torch import, so a cold start answers in about a
        # second), else the sentence-transformers embedder itself.
        encoder = encoder if encoder is not None else embedder
        for role, model in (("embedder", embedder), ("query encoder", encoder)):
            if model.name != index.model_name:
                raise IndexMismatchError(
                    f"index was built with {index.model_name!r}, the {role} is {model.name!r}")
        self.index = index
        self.embedder = embedder
        self.encoder = encoder
        self.threshold = threshold
        self.threshold_source = source   # "argument", "model" or "calibrated" (set by load)
        self.reader_model = None  # qa.read.ReaderModel; None: the one shipped in qa/

    @classmethod
    def load(cls, paths: str | Path | list[str | Path] | None = None, *,
             index_dir: str | Path | None = None,
             config: IndexConfig | None = None, threads: int | None = None,
             threshold: float | None = None, progress: bool = True,
             max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES, embedder: Embedder | None = None,
             encoder=None, backend: str = "embedded", milvus_uri: str | None = None,
             milvus_collection: str | None = None) -> "QA":
        """Open (building or refreshing when needed) the index of ``paths``.

        ``paths``: a document (PDF, HTML, DOCX, EPUB, Markdown or text:
        ``index.formats.SUFFIXES``) or a folder of them, or a list or tuple of
        them (not empty); None means the bundled article. ``index_dir``: where
        the index lives; default ``$QA_INDEX_DIR``, else a per-user cache
        folder named after the paths. ``threads``: torch
        threads for embedding (default ``$QA_TORCH_THREADS``, else 1).
        ``max_file_bytes``: refuse larger files (``IngestError``); default
        ``qa.config.DEFAULT_MAX_FILE_BYTES`` (20 MB); None, passed explicitly,
        means no limit.
        ``embedder``: an already loaded ``Embedder`` to share (e.g. between
        several document sets in one server); it must be of the config's model.
        ``encoder``: the question encoder to share, likewise; default: the
        model's ONNX export (made once per user, ``index.onnx_embed``), falling
        back to ``embedder`` when there is none and it cannot be made.
        ``threshold``: abstain below this confidence; default: the one stored by
        ``python -m eval --calibrate`` for this index, else the reader model's
        (``default_threshold()``).
        ``backend``: ``"embedded"`` (the default: FAISS and BM25 in
        ``index_dir``) or ``"milvus"``: the index is built in ``index_dir`` as
        ever, then uploaded to the Milvus collection ``milvus_collection``
        (default ``"docqa"``) at ``milvus_uri`` (default
        ``http://127.0.0.1:19530``; a token from ``$DOCQA_MILVUS_TOKEN``), only
        what it lacks, and questions are answered from Milvus alone.
        """
        settings = milvus_settings(backend, milvus_uri, milvus_collection)
        paths = check_paths(paths)
        max_file_bytes = check_max_file_bytes(max_file_bytes)
        if threshold is not None:
            threshold = check_threshold(threshold)
        if index_dir is not None:
            check_index_dir(index_dir)
        config = config if config is not None else IndexConfig()
        index_dir = index_dir if index_dir is not None else index_dir_for(paths)
        threads = torch_threads(threads)
        documents = load_documents(paths, max_bytes=max_file_bytes)
        if embedder is None:
            embedder = Embedder(config.model_name, threads=threads)
        elif embedder.name != config.model_name:
            raise InputError(f"embedder is {embedder.name!r}, the settings ask for {config.model_name!r}")
        index = open_index(documents, Path(index_dir).expanduser(), config=config,
                           embedder=embedder, progress=progress)
        if settings is not None:
            from index.milvus import open_milvus
            from index.milvus_upload import sync

            sync(index, settings, progress=progress)
            index = open_milvus(settings, model_name=index.model_name, dim=index.dim,
                                folder=index.folder, manifest=index.manifest)
        return cls._ready(index, embedder, threshold=threshold, encoder=encoder)

    @classmethod
    def connect(cls, milvus_uri: str | None = None, *, collection: str | None = None,
                threads: int | None = None, threshold: float | None = None,
                embedder: Embedder | None = None, encoder=None) -> "QA":
        """Answer from a Milvus collection that ``QA.load(..., backend="milvus")``
        (or ``python -m qa index ... --backend milvus``) built, holding no
        document and no index folder: what Milvus returns is all the reader
        needs, so any number of processes can serve one collection.

        Raises ``BackendError`` when the server cannot be reached,
        ``IndexNotFoundError`` when the collection does not exist, and
        ``IndexMismatchError`` when ``embedder``/``encoder`` are of another model.
        """
        from index.milvus import open_milvus

        settings = milvus_settings("milvus", milvus_uri, collection)
        if threshold is not None:
            threshold = check_threshold(threshold)
        index = open_milvus(settings)
        if embedder is None:
            model_path(index.model_name)   # a model this install has, or one line saying so
            embedder = Embedder(index.model_name, threads=torch_threads(threads))
        return cls._ready(index, embedder, threshold=threshold, encoder=encoder)

    @classmethod
    def open(cls, index_dir: str | Path, *, threads: int | None = None,
             threshold: float | None = None, embedder: Embedder | None = None,
             encoder=None) -> "QA":
        """Open the finished index in ``index_dir`` as it is, with no source
        file: the index holds each document's text, so it answers and cites
        on its own. Nothing is read from the documents' paths and nothing is
        written to the folder. The model is the one named in its manifest.

        Raises ``IndexNotFoundError`` when there is no index there,
        ``IndexCorruptError`` naming an unreadable file, and
        ``IndexMismatchError`` when it was built by another version of docqa or
        ``embedder``/``encoder`` are of another model. ``threads``,
        ``threshold``, ``embedder`` and ``encoder`` are as for ``load``.
        """
        check_index_dir(index_dir)
        if threshold is not None:
            threshold = check_threshold(threshold)
        folder = Path(index_dir).expanduser()
        try:
            index = load_index(folder)
        except IndexNotFoundError:
            raise no_index(folder) from None
        except IndexMismatchError as exc:   # another format: open writes nothing, so say how
            raise IndexMismatchError(
                f"{exc}: rebuild it with python -m qa index PATH ... --index-dir {str(folder)!r} "
                "(its vectors are reused)") from None
        if index.manifest.analysis != ANALYSIS_VERSION:   # the reader needs its layers
            raise IndexMismatchError(
                f"the index at {str(folder)!r} was built by an older docqa (analysis version "
                f"{index.manifest.analysis!r}, this one reads {ANALYSIS_VERSION}): rebuild it "
                f"with python -m qa index PATH ... --index-dir {str(folder)!r}")
        log.info("Using the index at %s as it is (%d documents, %d chunks); no source file is read.",
                 folder, len(index.documents), len(index.chunks))
        threads = torch_threads(threads)
        if embedder is None:
            model_path(index.model_name)   # a model this install has, or one line saying so
            embedder = Embedder(index.model_name, threads=threads)
        return cls._ready(index, embedder, threshold=threshold, encoder=encoder)

    @classmethod
    def _ready(cls, index: Index, embedder: Embedder, *, threshold: float | None, encoder) -> "QA":
        """``QA`` over a loaded ``index``: the threshold given, else the one
        calibrated for this index, else the model's; the fast question encoder."""
        source = None
        if threshold is None and index.folder is not None:
            calibration = read_calibration(index.folder)
            if calibration:
                threshold, source = calibration["threshold"], "calibrated"
        if encoder is None:
            encoder = query_encoder(embedder)
        bot = cls(index, embedder, threshold=threshold, encoder=encoder)
        if source:
            bot.threshold_source = source
        return bot

    def retrieve(self, question: str, *, top_k: int = DEFAULT_TOP_K) -> list[Hit]:
        """The passages for ``question``, best first, without reading them.
        Its first ``k`` hits are the passages ``ask(question, top_k=k)`` reads."""
        top_k = check_top_k(top_k)
        text = clean_question(question)
        return retrieve(text, self.encoder.embed_texts([text])[0], self.index, top_k=top_k)

    def save_threshold(self, threshold: float, *, details: dict | None = None) -> None:
        """Store ``threshold`` with the index, so ``QA.load`` on the same documents
        uses it from then on (until the index is rebuilt), and use it now."""
        threshold = check_threshold(threshold)
        if self.index.folder is None:
            raise InputError("this QA answers from a Milvus collection it did not build (QA.connect): "
                             "there is no index folder to store a threshold in")
        write_calibration(self.index.folder, {"threshold": threshold, **(details or {})})
        self.threshold, self.threshold_source = threshold, "calibrated"

    def ask(self, question: str, *, top_k: int = DEFAULT_TOP_K,
            history: list[Reply] | None = None) -> Reply:
        """Answer one question; ``reply.answer`` is None when the documents do not say.

        ``history``: the earlier replies of a conversation, oldest first. A
        follow-up ("And how much did it lend?") is then rewritten from the
        previous turn (``qa.followup``), and ``reply.query`` shows what was searched.
        """
        top_k = check_top_k(top_k)
        text = clean_question(question)
        if not history:
            return self._answer([text], top_k)[0]
        turns = [Turn(r.searched, r.answer.text if r.answer else None,
                      bool(r.answer) and r.answer.kind in NAME_KINDS) for r in history]
        query = resolve(text, turns)
        reply = self._answer([clean_question(query)], top_k)[0]
        return replace(reply, question=text, query=query)

    def ask_batch(self, questions: list[str], *, top_k: int = DEFAULT_TOP_K) -> list[Reply]:
        """Answer several questions (a list or tuple of strings), embedding them
        in one batch; a single string is refused (``ask`` takes one)."""
        if not isinstance(questions, (list, tuple)):
            raise InputError(f"questions must be a list of strings (ask() takes one), "
                             f"got {show_value(questions)}")
        top_k = check_top_k(top_k)
        return self._answer([clean_question(q) for q in questions], top_k)

    def ask_traced(self, questions: list[str], *, top_k: int = DEFAULT_TOP_K,
                   depth: int = DEFAULT_TOP_K, within: list[Collection[str] | None] | None = None,
                   candidates: bool = False, progress: bool = False) -> list[tuple[Reply, Trace]]:
        """``ask_batch``, each reply with its ``Trace``, from the same single
        encoding of each question: the passages ranked to ``depth`` (for
        retrieval metrics; the first ``top_k`` of the ranking are the ones read).

        ``within``: None, or one entry per question: None (every document) or
        the doc_ids that question is asked of (``qa.retrieve.retrieve``: the
        passages of every document are ranked to ``qa.retrieve.WITHIN_POOL``,
        and the first of those documents' are read). ``candidates``: also
        keep, in the trace, what the reader read (the analysed question, its
        sentences with their features, its words' vectors), as
        ``eval.train_reader`` fits on; gathered only when asked for.
        ``progress``: a progress bar over the questions (for long batches).

        >>> (reply, trace), = bot.ask_traced(["Who lent it?"], depth=10, within=[{"a.txt"}])
        >>> {h.chunk.doc_id for h in trace.ranking} <= {"a.txt"}
        True
        """
        if not isinstance(questions, (list, tuple)):
            raise InputError(f"questions must be a list of strings, got {show_value(questions)}")
        top_k, depth = check_top_k(top_k), check_top_k(depth)
        within = check_within(within, len(questions))
        traces: list[Trace] = []
        replies = self._answer([clean_question(q) for q in questions], top_k, depth=depth,
                               traces=traces, within=within, candidates=bool(candidates),
                               progress=bool(progress))
        return list(zip(replies, traces))

    def _word_encoder(self) -> WordEncoder:
        """The question encoder, for single words, keeping what it encoded
        (``qa.features.WordEncoder``); a new one when ``encoder`` is replaced."""
        kept = self.__dict__.get("_words")
        if kept is None or kept.encode != self.encoder.embed_texts:
            kept = self.__dict__["_words"] = WordEncoder(self.encoder.embed_texts)
        return kept

    def _answer(self, texts: list[str], top_k: int, *, depth: int | None = None,
                traces: list | None = None, within: list[frozenset[str] | None] | None = None,
                candidates: bool = False, progress: bool = False) -> list[Reply]:
        """``ask_batch`` on questions already cleaned, with ``top_k`` checked;
        with ``depth``, each question's ``Trace`` goes to ``traces`` (with what
        the reader read when ``candidates``); ``within``: ``ask_traced``'s, checked."""
        if not texts:
            return []
        t0 = time.perf_counter()
        vectors = self.encoder.embed_texts(texts)
        encode_ms = (time.perf_counter() - t0) * 1000 / max(len(texts), 1)
        replies = []
        pairs = zip(texts, vectors)
        if progress:
            from tqdm.auto import tqdm

            pairs = tqdm(pairs, total=len(texts), desc="Answering", unit="question", leave=False)
        for i, (text, vector) in enumerate(pairs):
            docs = within[i] if within is not None else None
            t1 = time.perf_counter()
            if depth is None:
                hits = retrieve(text, vector, self.index, top_k=top_k, within=docs)
            else:   # one search to the depth: its first top_k are the passages top_k reads
                ranking = retrieve(text, vector, self.index, top_k=max(depth, top_k), within=docs)
                same_pool = pool_size(max(depth, top_k), within=docs) == pool_size(top_k, within=docs)
                hits = ranking[:top_k] if same_pool else \
                    retrieve(text, vector, self.index, top_k=top_k, within=docs)
            t2 = time.perf_counter()
            question = analyze_question(text)
            asked = question_words(question)
            view = self.index.reader_view(hits, asked, question.terms)   # the index itself, when embedded
            words = word_vectors(asked, view.analysis, self._word_encoder())
            cands = sentence_candidates(question, vector, hits, view)
            answers = read_answers(question, cands, view, word_vectors=words,
                                   model=self.reader_model)
            t3 = time.perf_counter()
            if traces is not None:
                traces.append(Trace(tuple(ranking[:depth]), question=question,
                                    candidates=tuple(cands), word_vectors=words)
                              if candidates else Trace(tuple(ranking[:depth])))
            best = answers[0] if answers and answers[0].confidence >= self.threshold else None
            timings = {"encode_ms": encode_ms, "retrieve_ms": (t2 - t1) * 1000,
                       "read_ms": (t3 - t2) * 1000}
            replies.append(Reply(text, best, tuple(answers), tuple(hits), query=text,
                                 timings=timings))
        return replies


def milvus_settings(backend, uri, collection):
    """``index.milvus.MilvusSettings`` for ``backend="milvus"``, None for the
    embedded backend (which takes no URI or collection); ``InputError``
    naming a bad value."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {show_value(backend)}")
    if backend == "embedded":
        if uri is not None or collection is not None:
            raise InputError("milvus_uri and milvus_collection need backend='milvus'")
        return None
    from index.milvus import DEFAULT_COLLECTION, DEFAULT_URI, TOKEN_ENV, MilvusSettings

    return MilvusSettings(uri if uri is not None else DEFAULT_URI,
                          collection if collection is not None else DEFAULT_COLLECTION,
                          token=os.environ.get(TOKEN_ENV) or None)


def default_threshold() -> float:
    """The abstention threshold shipped with the reader model: the one that
    gave the best F1 on the folds it was not fitted on (``eval.train_reader``)."""
    return model_threshold()


def import_runtime() -> None:
    """Import the libraries that answering needs (FAISS, BM25, the ONNX
    runtime), so a command line can time imports apart from loading."""
    import importlib

    for name in ("bm25s", "faiss", "Stemmer"):
        importlib.import_module(name)
    try:
        importlib.import_module("onnxruntime")
        importlib.import_module("tokenizers")
    except ImportError:  # then questions are encoded with sentence-transformers
        pass


def query_encoder(embedder: Embedder, *, export: bool = True):
    """The fast question encoder for ``embedder``'s model, with its threads: its
    ONNX export, made now (once per user and model) when ``export`` and there
    is none yet. Falls back to ``embedder`` itself, with a warning, when no
    export can be had."""
    if not isinstance(embedder, Embedder):  # a stand-in (tests): nothing to export
        return embedder
    try:
        from index import onnx_embed
    except ImportError as exc:  # onnxruntime or tokenizers missing: only speed is lost
        log.warning("No fast question encoder (%s); using sentence-transformers.", exc)
        return embedder

    from index.files import folder_lock

    folder = onnx_embed.default_export_dir(embedder.name, cache_root().parent / "models")
    encoder = onnx_embed.load_encoder(folder, threads=embedder.threads)
    if encoder is not None or not export:
        return encoder if encoder is not None else embedder
    try:
        with folder_lock(folder, "exporting the model to"):  # one export, however many processes
            encoder = onnx_embed.load_encoder(folder, threads=embedder.threads)
            if encoder is None:
                log.info("Exporting %s to ONNX for fast starts (once): %s", embedder.name, folder)
                onnx_embed.export_onnx(embedder.name, folder)
                encoder = onnx_embed.load_encoder(folder, threads=embedder.threads)
    except Exception as exc:  # noqa: BLE001 - any failure (WriteError: an unwritable cache) only costs speed
        reason = str(exc) if isinstance(exc, WriteError) else f"{type(exc).__name__}: {exc}"
        log.warning("Could not export the model to ONNX (%s); questions are encoded with "
                    "sentence-transformers.", " ".join(reason.split()))
        return embedder
    return encoder if encoder is not None else embedder


def _positive_int(name: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"{name} must be a whole number >= 1, got {value!r}")
    return n
