"""The index on disk: build it atomically, load it, and tell when it is stale.

An index folder holds:

- ``manifest.json``: format version, model (name, dimension), build settings,
  counts, and each document's SHA-256 and size; written last;
- ``index.faiss``: inner product over L2-normalised chunk vectors (cosine);
- ``chunks.jsonl``: row i is FAISS id i;
- ``sentences.jsonl`` and ``sentence_vectors.npy``: row i is sentence i;
- ``documents.jsonl``: each document's id, title, path and full text, so
  answers can be cited and shown without the source files;
- ``lexical/``: the BM25 index over chunks, and ``sentence_df.json``: term
  document frequencies over sentences (for the reader's lexical match).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from index.chunk import chunk_document
from index.config import FORMAT_VERSION, IndexConfig
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from index.lexical import LexicalIndex, document_frequencies
from index.sentences import split_sentences
from index.types import Chunk, Document, Hit, Sentence

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CALIBRATION = "calibration.json"  # optional: the abstention threshold fitted by eval
# Files we write; a folder holding none of them is not ours to replace.
OWN_FILES = (MANIFEST, CALIBRATION, "index.faiss", "chunks.jsonl", "sentences.jsonl",
             "sentence_vectors.npy", "documents.jsonl", "sentence_df.json", "lexical")
EMBED_BATCH = 256  # texts per progress-bar step


class Index:
    """A loaded index: FAISS over chunks, BM25 over chunks, sentences with vectors."""

    def __init__(self, folder: Path, manifest: dict, documents: list[Document],
                 chunks: list[Chunk], sentences: list[Sentence],
                 sentence_vectors: np.ndarray, faiss_index, lexical: LexicalIndex,
                 sentence_df: dict[str, int]) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.documents = {d.doc_id: d for d in documents}
        self.chunks = chunks
        self.sentences = sentences
        self.sentence_vectors = sentence_vectors
        self.faiss_index = faiss_index
        self.lexical = lexical
        self.sentence_df = sentence_df
        self._chunk_sentences = _sentence_ranges(chunks, sentences)

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    @property
    def dim(self) -> int:
        return int(self.manifest["model"]["dim"])

    def search(self, query_vector: np.ndarray, top_k: int) -> list[Hit]:
        """Dense search: the ``top_k`` chunks with the highest cosine similarity
        to ``query_vector`` (shape ``(dim,)``, L2-normalised), best first.
        Asking for more than the index holds returns every chunk."""
        if top_k <= 0:
            raise ValueError(f"top_k must be > 0, got {top_k}")
        query = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dim:
            raise IndexMismatchError(
                f"query vector has dimension {query.shape[1]}, the index {self.dim}"
            )
        scores, ids = self.faiss_index.search(query, min(top_k, len(self.chunks)))
        # FAISS pads with id -1 when it finds fewer than k; chunks[-1] would cite
        # the wrong passage.
        return [Hit(self.chunks[i], float(s), dense=float(s))
                for s, i in zip(scores[0], ids[0]) if i >= 0]

    def search_lexical(self, query: str, top_k: int) -> list[Hit]:
        """BM25 search over chunks, best first; chunks sharing no term are left out."""
        return [Hit(self.chunks[row], score, lexical=score)
                for row, score in self.lexical.search(query, top_k)]

    def sentences_of(self, chunk: Chunk) -> list[Sentence]:
        """The document's sentences that overlap ``chunk``, in order."""
        return [self.sentences[i] for i in self._chunk_sentences[chunk.chunk_id]]


# ---------------------------------------------------------------- building

def build_index(documents: list[Document], folder: Path, *, config: IndexConfig,
                embedder, previous: Index | None = None, progress: bool = True) -> Index:
    """Chunk, split, embed and write ``documents`` to ``folder``, atomically.

    Vectors of documents whose ``doc_id`` and SHA-256 are unchanged in
    ``previous`` (built with the same model and settings) are reused, so only
    new or changed documents are embedded. Everything is written to a
    temporary folder beside ``folder`` and renamed into place at the end: a
    crash leaves either the old index or none, never half of one.
    """
    import faiss

    if not documents:
        raise ValueError("cannot build an index of no documents")
    folder = Path(folder)
    _check_replaceable(folder)
    reusable = _reusable_vectors(previous, documents, config, embedder.name)

    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    for doc in documents:
        chunks += chunk_document(doc, config.chunk_size, config.chunk_overlap, first_id=len(chunks))
        sentences += [Sentence(doc.doc_id, len(sentences) + i, s, e, doc.text[s:e])
                      for i, (s, e) in enumerate(split_sentences(doc.text))]

    chunk_vectors = _vectors_for(chunks, reusable, "chunk", embedder, progress, "Embedding chunks")
    sentence_vectors = _vectors_for(sentences, reusable, "sentence", embedder, progress,
                                    "Embedding sentences")
    dim = chunk_vectors.shape[1]
    faiss_index = faiss.IndexFlatIP(dim)
    faiss_index.add(chunk_vectors)
    lexical = LexicalIndex.build([c.text for c in chunks], method=config.bm25_method,
                                 k1=config.bm25_k1, b=config.bm25_b)
    sentence_df = document_frequencies([s.text for s in sentences])
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": {"name": embedder.name, "dim": dim, "normalized": True},
        "faiss": "IndexFlatIP",
        "config": config.to_dict(),
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
        "documents": [{"doc_id": d.doc_id, "title": d.title, "path": d.path,
                       "sha256": d.sha256, "size": d.size} for d in documents],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-{os.getpid()}-", dir=folder.parent))
    try:
        faiss.write_index(faiss_index, str(tmp / "index.faiss"))
        _write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
        _write_jsonl(tmp / "sentences.jsonl", (asdict(s) for s in sentences))
        _write_jsonl(tmp / "documents.jsonl", (asdict(d) for d in documents))
        np.save(tmp / "sentence_vectors.npy", sentence_vectors)
        (tmp / "sentence_df.json").write_text(json.dumps(sentence_df), encoding="utf-8")
        (tmp / "lexical").mkdir()
        lexical.save(tmp / "lexical")
        # The manifest goes last: a folder without one is never loaded.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Index(folder, manifest, documents, chunks, sentences, sentence_vectors,
                 faiss_index, lexical, sentence_df)


def _check_replaceable(folder: Path) -> None:
    """Refuse to replace a folder unless it is empty or holds nothing but an
    index's files (a damaged index of ours may be replaced; a folder with a
    user's own files in it never is)."""
    if folder.exists() and not folder.is_dir():
        raise IndexCorruptError(f"index path {str(folder)!r} is a file, not a folder")
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if p.name not in OWN_FILES)
        if foreign:
            raise IndexCorruptError(
                f"refusing to overwrite {str(folder)!r}: it holds files that are not part of a "
                f"docqa index ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
            )


def _remove_leftovers(folder: Path) -> None:
    """Delete the temporary folders that builds of ``folder`` by processes no
    longer running left beside it (a killed build never reaches its clean-up)."""
    for path in folder.parent.glob(f".{folder.name}.*-*"):
        m = re.fullmatch(rf"\.{re.escape(folder.name)}\.(?:tmp|old)-(\d+)-.*", path.name)
        if m and path.is_dir() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _swap_in(tmp: Path, folder: Path) -> None:
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(folder, old)
    os.rename(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _reusable_vectors(previous: Index | None, documents: list[Document],
                      config: IndexConfig, model_name: str) -> dict:
    """``{(kind, doc_id, start, end): vector}`` from ``previous`` for unchanged documents."""
    if previous is None or previous.model_name != model_name \
            or previous.manifest.get("config") != config.to_dict():
        return {}
    same = {d.doc_id for d in documents
            if d.doc_id in previous.documents and previous.documents[d.doc_id].sha256 == d.sha256}
    if not same:
        return {}
    chunk_vectors = previous.faiss_index.reconstruct_n(0, previous.faiss_index.ntotal)
    out = {}
    for c in previous.chunks:
        if c.doc_id in same:
            out[("chunk", c.doc_id, c.start, c.end)] = chunk_vectors[c.chunk_id]
    for s in previous.sentences:
        if s.doc_id in same:
            out[("sentence", s.doc_id, s.start, s.end)] = previous.sentence_vectors[s.sentence_id]
    return out


def _vectors_for(items, reusable: dict, kind: str, embedder, progress: bool, desc: str) -> np.ndarray:
    keys = [(kind, it.doc_id, it.start, it.end) for it in items]
    todo = [i for i, k in enumerate(keys) if k not in reusable]
    if not todo:  # everything reused: do not even load the model
        return np.stack([reusable[k] for k in keys]).astype(np.float32)
    fresh = embed_in_batches(embedder, [items[i].text for i in todo], progress=progress, desc=desc)
    dim = fresh.shape[1]
    out = np.empty((len(items), dim), dtype=np.float32)
    for row, i in enumerate(todo):
        out[i] = fresh[row]
    for i, k in enumerate(keys):
        if k in reusable:
            out[i] = reusable[k]
    return out


def embed_in_batches(embedder, texts: list[str], *, progress: bool, desc: str) -> np.ndarray:
    """``embedder.embed_texts`` over ``texts`` in batches, with a progress bar on stderr."""
    from tqdm.auto import tqdm

    embedder.dim  # load the model first, so the bar times embedding alone
    parts = []
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress, leave=False) as bar:
        for i in range(0, len(texts), EMBED_BATCH):
            batch = texts[i:i + EMBED_BATCH]
            parts.append(embedder.embed_texts(batch))
            bar.update(len(batch))
    return np.concatenate(parts)


def _write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------- loading

def load_index(folder: Path) -> Index:
    """Load the index in ``folder``.

    Raises ``IndexNotFoundError`` when there is none, ``IndexMismatchError``
    when it has another format version, and ``IndexCorruptError`` (naming the
    file) when a file is unreadable or the files disagree with each other.
    """
    import faiss

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise IndexNotFoundError(f"no index at {str(folder)!r}")
    current = "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index at {str(folder)!r} has format version {manifest.get('format_version')!r},"
                f" this program reads {FORMAT_VERSION}"
            )
        _check_manifest(manifest)
        dim = int(manifest["model"]["dim"])
        current = "documents.jsonl"
        documents = [Document(**row) for row in _read_jsonl(folder / current)]
        texts = {d.doc_id: d.text for d in documents}
        current = "chunks.jsonl"
        chunks = [Chunk(**row) for row in _read_jsonl(folder / current)]
        current = "sentences.jsonl"
        sentences = [Sentence(**row) for row in _read_jsonl(folder / current)]
        for kind, rows in (("chunk", chunks), ("sentence", sentences)):
            for i, row in enumerate(rows):
                if getattr(row, f"{kind}_id") != i or texts[row.doc_id][row.start:row.end] != row.text:
                    raise ValueError(f"{kind} {i} does not point back into its document")
        current = "index.faiss"
        faiss_index = faiss.read_index(str(folder / current))
        if faiss_index.ntotal != len(chunks) or faiss_index.d != dim:
            raise ValueError(f"holds {faiss_index.ntotal} vectors of dimension {faiss_index.d}, "
                             f"expected {len(chunks)} of {dim}")
        current = "sentence_vectors.npy"
        sentence_vectors = np.load(folder / current, allow_pickle=False)
        if sentence_vectors.shape != (len(sentences), dim) or sentence_vectors.dtype != np.float32:
            raise ValueError(f"has shape {sentence_vectors.shape}, expected {(len(sentences), dim)}")
        current = "sentence_df.json"
        sentence_df = json.loads((folder / current).read_text(encoding="utf-8"))
        current = "lexical/"
        lexical = LexicalIndex.load(folder / "lexical")
        if lexical.size != len(chunks):
            raise ValueError(f"has {lexical.size} rows, expected {len(chunks)}")
        counts = manifest["counts"]
        if (counts["documents"], counts["chunks"], counts["sentences"]) != \
                (len(documents), len(chunks), len(sentences)):
            raise ValueError("counts disagree with manifest.json")
    except (IndexMismatchError, IndexNotFoundError):
        raise
    except Exception as exc:  # any unreadable file becomes one clear message
        raise IndexCorruptError(
            f"index at {str(folder)!r} is unreadable: {current}: {type(exc).__name__}: {exc}"
        ) from None
    return Index(folder, manifest, documents, chunks, sentences, sentence_vectors,
                 faiss_index, lexical, sentence_df)


def _check_manifest(manifest: dict) -> None:
    """Raise ValueError unless ``manifest`` has every field that loading and
    staleness checks read."""
    model, counts, config = manifest.get("model"), manifest.get("counts"), manifest.get("config")
    ok = (isinstance(model, dict) and isinstance(model.get("name"), str)
          and isinstance(model.get("dim"), int) and isinstance(config, dict)
          and isinstance(counts, dict)
          and all(isinstance(counts.get(k), int) for k in ("documents", "chunks", "sentences"))
          and isinstance(manifest.get("documents"), list)
          and all(isinstance(d, dict) and isinstance(d.get("doc_id"), str)
                  and isinstance(d.get("sha256"), str) for d in manifest["documents"]))
    if not ok:
        raise ValueError("a required field is missing or has the wrong type")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _sentence_ranges(chunks: list[Chunk], sentences: list[Sentence]) -> list[range]:
    """For each chunk, the range of sentence ids overlapping it. Sentences of a
    document are contiguous and sorted by start."""
    by_doc: dict[str, tuple[int, list[int], list[int]]] = {}
    for s in sentences:
        first, starts, ends = by_doc.setdefault(s.doc_id, (s.sentence_id, [], []))
        starts.append(s.start)
        ends.append(s.end)
    ranges = []
    for c in chunks:
        if c.doc_id not in by_doc:
            ranges.append(range(0))
            continue
        first, starts, ends = by_doc[c.doc_id]
        lo = bisect_right(ends, c.start)   # first sentence ending after the chunk starts
        hi = bisect_left(starts, c.end)    # first sentence starting at or after its end
        ranges.append(range(first + lo, first + hi))
    return ranges


# ---------------------------------------------------------- load or build

def stale_reason(manifest: dict, documents: list[Document], config: IndexConfig,
                 model_name: str) -> str | None:
    """Why an index with ``manifest`` no longer fits, in words; None when it fits."""
    if manifest["model"]["name"] != model_name:
        return f"the model changed ({manifest['model']['name']} -> {model_name})"
    old_config = manifest.get("config", {})
    changed = [f"{k} {old_config.get(k)!r} -> {v!r}"
               for k, v in config.to_dict().items() if old_config.get(k) != v]
    if changed:
        return "settings changed: " + ", ".join(changed)
    old = {d["doc_id"]: d["sha256"] for d in manifest["documents"]}
    new = {d.doc_id: d.sha256 for d in documents}
    parts = []
    for label, ids in (("changed", [k for k in new if k in old and old[k] != new[k]]),
                       ("added", [k for k in new if k not in old]),
                       ("removed", [k for k in old if k not in new])):
        if ids:
            parts.append(f"{len(ids)} document(s) {label} ({', '.join(sorted(ids)[:3])}"
                         f"{', ...' if len(ids) > 3 else ''})")
    return "; ".join(parts) or None


def open_index(documents: list[Document], folder: Path, *, config: IndexConfig,
               embedder, progress: bool = True) -> Index:
    """The index of ``documents`` in ``folder``: loaded when it is up to date,
    otherwise (re)built, embedding only what changed. Logs one line saying which.

    Building takes a lock on ``folder``, so two processes (say the UI and
    the CLI) never embed the same documents twice: the second waits, then
    finds the first one's index up to date."""
    folder = Path(folder)
    try:  # the common case, no lock needed: an index that fits
        index = load_index(folder)
        if stale_reason(index.manifest, documents, config, embedder.name) is None:
            log.info("Using the cached index at %s (%d chunks): nothing to embed.",
                     folder, len(index.chunks))
            return index
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        pass
    with _build_lock(folder):
        return _open_or_build(documents, folder, config=config, embedder=embedder,
                              progress=progress)


@contextmanager
def _build_lock(folder: Path):
    """An exclusive lock for building ``folder`` (POSIX; elsewhere none). The lock
    file lives in the system's temp folder, named by a hash of ``folder``'s path,
    so nothing is left beside a user's folders."""
    try:
        import fcntl
    except ImportError:  # not POSIX: builds are still atomic, only not serialised
        yield
        return
    locks = Path(tempfile.gettempdir()) / "docqa-locks"
    locks.mkdir(exist_ok=True)
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:24]
    with open(locks / f"{key}.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Another process is building the index at %s: waiting for it.", folder)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _open_or_build(documents: list[Document], folder: Path, *, config: IndexConfig,
                   embedder, progress: bool) -> Index:
    try:
        index = load_index(folder)
    except IndexNotFoundError:
        log.info("No index at %s yet: building it.", folder)
        return build_index(documents, folder, config=config, embedder=embedder, progress=progress)
    except (IndexCorruptError, IndexMismatchError) as exc:
        log.warning("%s; rebuilding it.", exc)
        return build_index(documents, folder, config=config, embedder=embedder, progress=progress)
    reason = stale_reason(index.manifest, documents, config, embedder.name)
    if reason is None:
        log.info("Using the cached index at %s (%d chunks): nothing to embed.",
                 folder, len(index.chunks))
        return index
    log.info("Rebuilding the index at %s: %s.", folder, reason)
    if (folder / CALIBRATION).exists():
        log.info("The calibrated threshold is dropped with the old index; "
                 "run python -m eval ... --calibrate again.")
    return build_index(documents, folder, config=config, embedder=embedder,
                       previous=index, progress=progress)


def read_calibration(folder: Path) -> dict | None:
    """The calibration stored with the index in ``folder`` (``{"threshold": t, ...}``),
    or None when there is none or it is unreadable (logged)."""
    path = Path(folder) / CALIBRATION
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        threshold = float(data["threshold"])
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is outside [0, 1]")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("Ignoring %s: %s.", path, exc)
        return None
    return {**data, "threshold": threshold}


def write_calibration(folder: Path, data: dict) -> None:
    """Write ``data`` as the index's calibration, atomically (temp file, then rename)."""
    path = Path(folder) / CALIBRATION
    tmp = path.with_name(f".{CALIBRATION}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def default_index_dir(cache_root: Path, paths: list[str | Path]) -> Path:
    """A folder under ``cache_root`` named after the sources, one per set of paths."""
    resolved = sorted(str(Path(p).expanduser().resolve()) for p in paths)
    key = hashlib.sha256("\n".join(resolved).encode()).hexdigest()[:12]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in Path(resolved[0]).stem)[:40]
    return Path(cache_root) / f"{stem}-{key}"
