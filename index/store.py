"""The index on disk: build it atomically, load it, and tell when it is stale.

An index folder holds:

- ``manifest.json``: format version, model (name, dimension), build settings,
  counts, and each document's SHA-256 and size; written last;
- ``index.faiss``: inner product over L2-normalised chunk vectors (cosine):
  exact (``IndexFlatIP``), or HNSW (``IndexHNSWFlat``) for large corpora
  (``IndexConfig.ann_min_chunks``);
- ``chunks.jsonl``: row i is FAISS id i;
- ``sentences.jsonl`` and ``sentence_vectors.npy``: row i is sentence i;
- ``documents.jsonl``: each document's id, title, path and full text, so
  answers can be cited and shown without the source files;
- ``lexical/``: the BM25 index over chunks, and ``sentence_df.json``: term
  document frequencies over sentences (for the reader's lexical match);
- ``analysis/``: each sentence's terms, typed spans and words, worked out at
  build time (``index.analysis``), memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from index.analysis import ANALYSIS_VERSION, SentenceAnalysis
from index.chunk import chunk_document
from index.config import FORMAT_VERSION, IndexConfig
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, InputError, WriteError
from index.files import (check_replaceable, folder_lock, make_folder, remove_dead_temps, remove_tree,
                         swap_in, temp_folder_for, write_error, write_json_atomic)
from index.integrity import DamagedFile, file_records, verify
from index.lexical import LexicalIndex, document_frequencies
from index.sentences import split_sentences
from index.types import Chunk, Document, Hit, Sentence

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CALIBRATION = "calibration.json"  # optional: the abstention threshold fitted by eval
# Files we write; a folder holding none of them is not ours to replace.
OWN_FILES = (MANIFEST, CALIBRATION, "index.faiss", "chunks.jsonl", "sentences.jsonl",
             "sentence_vectors.npy", "documents.jsonl", "sentence_df.json", "lexical", "analysis")
EMBED_BATCH = 256  # texts per progress-bar step
# Settings of how an index is searched, not of what it holds: applied when it is
# opened (Index.set_search_settings); a change never makes it stale.
SEARCH_SETTINGS = ("hnsw_ef_search",)


class Index:
    """A loaded index: FAISS over chunks, BM25 over chunks, sentences with vectors."""

    def __init__(self, folder: Path, manifest: dict, documents: list[Document],
                 chunks: list[Chunk], sentences: list[Sentence],
                 sentence_vectors: np.ndarray, faiss_index, lexical: LexicalIndex,
                 sentence_df: dict[str, int], analysis: SentenceAnalysis | None = None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.documents = {d.doc_id: d for d in documents}
        self.chunks = chunks
        self.sentences = sentences
        self.sentence_vectors = sentence_vectors
        self.faiss_index = faiss_index
        self.lexical = lexical
        self.sentence_df = sentence_df
        self._analysis = analysis
        self._chunk_sentences = _sentence_ranges(chunks, sentences)

    @property
    def analysis(self) -> SentenceAnalysis:
        """Each sentence's terms, spans and words (``index.analysis``): stored with
        the index; worked out now for an index of an older build that lacks it."""
        if self._analysis is None:
            self._analysis = SentenceAnalysis.build([s.text for s in self.sentences])
        return self._analysis

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
        return self._search(self.faiss_index, query_vector, top_k)

    def _search(self, faiss_index, query_vector: np.ndarray, top_k: int) -> list[Hit]:
        if top_k <= 0:
            raise ValueError(f"top_k must be > 0, got {top_k}")
        query = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dim:
            raise IndexMismatchError(
                f"query vector has dimension {query.shape[1]}, the index {self.dim}"
            )
        scores, ids = faiss_index.search(query, min(top_k, len(self.chunks)))
        # FAISS pads with id -1 when it finds fewer than k; chunks[-1] would cite
        # the wrong passage.
        return [Hit(self.chunks[i], float(s), dense=float(s))
                for s, i in zip(scores[0], ids[0]) if i >= 0]

    def chunk_vectors(self, chunk_ids) -> np.ndarray:
        """The stored vectors of ``chunk_ids``, one float32 row each (so ``qa/``
        never reaches into FAISS)."""
        return self.faiss_index.reconstruct_batch(np.asarray(chunk_ids, dtype=np.int64))

    def set_search_settings(self, config: IndexConfig) -> None:
        """Use ``config``'s search-time settings (``SEARCH_SETTINGS``) from now on:
        they change how the index is searched, not what it holds, so changing
        them never rebuilds it."""
        import faiss

        if isinstance(self.faiss_index, faiss.IndexHNSW):
            self.faiss_index.hnsw.efSearch = config.hnsw_ef_search

    def search_exact(self, query_vector: np.ndarray, top_k: int) -> list[Hit]:
        """Like ``search``, but always exact (brute force over every chunk vector),
        also when ``search`` is approximate (HNSW): the yardstick for its recall."""
        import faiss

        exact = self.faiss_index
        if isinstance(exact, faiss.IndexHNSW):
            exact = faiss.downcast_index(exact.storage)
        return self._search(exact, query_vector, top_k)

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
    ``previous`` (built with the same model) are reused, so only new or
    changed documents are embedded.

    Vectors are written to disk batch by batch, in a work folder beside
    ``folder`` (``.NAME.build-KEY``, KEY naming the documents, settings and
    model): memory stays bounded, and a build that is interrupted (Ctrl-C, a
    crash) resumes where it stopped the next time the same documents are
    indexed. The finished index is assembled in a temporary folder and renamed
    into place at the end: a crash leaves either the old index or none, never
    half of one.

    A failure to write (a read-only or full disk, a path under a file) raises
    ``WriteError`` naming ``folder`` and the reason, after deleting the work
    and temporary folders: nothing is left beside ``folder``, and on a full
    disk the space is given back. Only an interruption keeps the work folder.
    """
    if not documents:
        raise InputError("cannot build an index of no documents")
    folder = Path(folder)
    check_writable_path(folder)
    check_replaceable(folder, OWN_FILES, "docqa index", IndexCorruptError)
    reusable = _reusable_vectors(previous, documents, embedder.name)

    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    for doc in documents:
        chunks += chunk_document(doc, config.chunk_size, config.chunk_overlap, first_id=len(chunks))
        sentences += [Sentence(doc.doc_id, len(sentences) + i, s, e, doc.text[s:e])
                      for i, (s, e) in enumerate(split_sentences(doc.text))]

    work = folder.parent / f".{folder.name}.build-{_build_key(documents, config, embedder.name)}"
    with _writing(folder):
        make_folder(folder.parent)
        _remove_leftovers(folder, keep=work)
        work.mkdir(exist_ok=True)
    try:
        with _writing(folder, work):
            chunk_vectors = _embed_resumable(work, "chunk", chunks, reusable, embedder, progress,
                                             "Embedding chunks")
            sentence_vectors = _embed_resumable(work, "sentence", sentences, reusable, embedder,
                                                progress, "Embedding sentences")
    except KeyboardInterrupt:
        log.warning("Indexing interrupted; the finished batches are kept in %s, and the next "
                    "run on the same documents resumes from there.", work)
        raise
    dim = chunk_vectors.shape[1]
    faiss_index = _make_faiss(chunk_vectors, config)
    del chunk_vectors, reusable
    lexical = LexicalIndex.build([c.text for c in chunks], method=config.bm25_method,
                                 k1=config.bm25_k1, b=config.bm25_b)
    sentence_df = document_frequencies([s.text for s in sentences])
    # Lemmas are embedded through ``embed_words`` where the embedder has one (a
    # test double counts them apart from chunks and sentences).
    analysis = SentenceAnalysis.build([s.text for s in sentences], progress=progress,
                                      embed=getattr(embedder, "embed_words", embedder.embed_texts))
    manifest = {
        "format_version": FORMAT_VERSION,
        "analysis": ANALYSIS_VERSION,
        "model": {"name": embedder.name, "dim": dim, "normalized": True},
        "faiss": type(faiss_index).__name__,
        "config": config.to_dict(),
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
        "documents": [{"doc_id": d.doc_id, "title": d.title, "path": d.path,
                       "sha256": d.sha256, "size": d.size} for d in documents],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    with _writing(folder, work):
        tmp = temp_folder_for(folder)
        try:
            _write_faiss(faiss_index, tmp / "index.faiss")
            _write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
            _write_jsonl(tmp / "sentences.jsonl", (asdict(s) for s in sentences))
            _write_jsonl(tmp / "documents.jsonl", (asdict(d) for d in documents))
            sentence_vectors.flush()
            del sentence_vectors
            os.replace(work / "sentence_vectors.npy", tmp / "sentence_vectors.npy")
            (tmp / "sentence_df.json").write_text(json.dumps(sentence_df), encoding="utf-8")
            (tmp / "lexical").mkdir()
            lexical.save(tmp / "lexical")
            analysis.save(tmp / "analysis")
            manifest["files"] = file_records(tmp, skip=(MANIFEST, CALIBRATION))
            # The manifest goes last: a folder without one is never loaded.
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            swap_in(tmp, folder)
        except BaseException:
            remove_tree(tmp)
            raise
    remove_tree(work)
    return Index(folder, manifest, documents, chunks, sentences,
                 _load_vectors(folder / "sentence_vectors.npy"), faiss_index, lexical, sentence_df,
                 SentenceAnalysis.load(folder / "analysis"))


def check_writable_path(folder: Path) -> None:
    """Raise ``WriteError`` when ``folder``'s path cannot name an index: a path
    under a file, or one that is not valid UTF-8 (FAISS opens no other)."""
    try:
        str(folder).encode("utf-8")
    except UnicodeEncodeError:
        raise WriteError(f"cannot write the index at {str(folder)!r}: the path is not valid "
                         "UTF-8 (FAISS cannot open it); choose another folder") from None
    above = next((p for p in Path(folder).absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise WriteError(f"cannot write the index at {str(folder)!r}: {str(above)!r} is a "
                         "file, not a folder")


@contextmanager
def _writing(folder: Path, *work: Path):
    """Turn a failure to write into one ``WriteError`` naming the index
    ``folder``, after deleting the folders in ``work``."""
    try:
        yield
    except (OSError, WriteError) as exc:
        for path in work:
            remove_tree(path)
        if isinstance(exc, WriteError):  # from write_json_atomic: name the index instead
            reason = getattr(exc, "reason", None) or str(exc)
            raise WriteError(f"cannot write the index at {str(folder)!r}: {reason}") from None
        raise write_error("the index", folder, exc) from None


def _write_faiss(faiss_index, path: Path) -> None:
    """``faiss.write_index``, with its failure (a ``RuntimeError`` holding a C++
    trace) turned into an ``OSError`` that keeps only the reason."""
    import faiss

    try:
        faiss.write_index(faiss_index, str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1].rsplit("failed: ", 1)[-1]
        raise OSError(f"{path.name}: {reason}") from None


def _build_key(documents: list[Document], config: IndexConfig, model_name: str) -> str:
    """Names the vectors of one build: the same documents, model and the settings
    that decide the embedded texts (chunking, sentence rules) give the same key,
    so an interrupted build is resumed only by a build that embeds the same
    texts, whatever its search settings."""
    texts = [config.chunk_size, config.chunk_overlap, config.text_rules]
    h = hashlib.sha256(json.dumps([FORMAT_VERSION, model_name, texts,
                                   [(d.doc_id, d.sha256) for d in documents]]).encode())
    return h.hexdigest()[:16]


def _embed_resumable(work: Path, kind: str, items, reusable: dict, embedder, progress: bool,
                     desc: str) -> np.ndarray:
    """The vectors of ``items``, row i for item i, in ``work/KIND_vectors.npy`` (a
    memory-mapped file). Rows are embedded in batches of ``EMBED_BATCH``, each
    written and recorded in ``work/KIND_progress.json`` before the next, so an
    interrupted run resumes after the last finished batch. Rows of unchanged
    documents are copied from ``reusable``, and a text seen before (boilerplate
    such as "Parameters" or "Returns") from its first row, instead of embedded."""
    from tqdm.auto import tqdm

    path, state = work / f"{kind}_vectors.npy", work / f"{kind}_progress.json"
    keys = [(kind, it.doc_id, it.start, it.end) for it in items]
    first: dict[str, int] = {}
    for i, it in enumerate(items):
        first.setdefault(it.text, i)
    todo = sum(k not in reusable for k in keys)
    dim = len(next(iter(reusable.values()))) if reusable else embedder.dim
    done, vectors = _resume(path, state, (len(items), dim))
    if done:
        log.info("Resuming an interrupted build: %d of %d %ss were already embedded.",
                 done, len(items), kind)
    else:
        vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                            shape=(len(items), dim))
    if todo:
        embedder.dim  # load the model first, so the bar times embedding alone
    with tqdm(total=len(items), initial=done, desc=desc, unit="text", leave=False,
              disable=not progress or not todo) as bar:
        for lo in range(done, len(items), EMBED_BATCH):
            hi = min(lo + EMBED_BATCH, len(items))
            fresh = [i for i in range(lo, hi)
                     if keys[i] not in reusable and first[items[i].text] == i]
            if fresh:
                vectors[fresh] = embedder.embed_texts([items[i].text for i in fresh])
            for i in range(lo, hi):   # in order: a repeat's first row is filled by now
                if keys[i] in reusable:
                    vectors[i] = reusable[keys[i]]
                elif first[items[i].text] != i:
                    vectors[i] = vectors[first[items[i].text]]
            vectors.flush()
            write_json_atomic(state, {"done": hi, "total": len(items), "dim": dim})
            bar.update(hi - lo)
    return vectors


def _resume(path: Path, state: Path, shape: tuple[int, int]) -> tuple[int, np.ndarray | None]:
    """``(rows done, vectors opened for writing)`` of an earlier, interrupted run
    of the same build; ``(0, None)`` when there is none or it does not fit."""
    try:
        progress = json.loads(state.read_text(encoding="utf-8"))
        done = int(progress["done"])
        vectors = np.load(path, mmap_mode="r+")
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None
    if vectors.shape != shape or vectors.dtype != np.float32 or not 0 < done <= shape[0]:
        return 0, None
    return done, vectors


def _make_faiss(vectors: np.ndarray, config: IndexConfig):
    """Exact inner-product search below ``config.ann_min_chunks`` vectors, HNSW
    (approximate, inner product) from there on; filled block by block from the
    memory-mapped ``vectors``."""
    import faiss

    n, dim = vectors.shape
    if n >= config.ann_min_chunks:
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
    else:
        index = faiss.IndexFlatIP(dim)
    for lo in range(0, n, 16_384):
        index.add(np.ascontiguousarray(vectors[lo:lo + 16_384], dtype=np.float32))
    return index


def _load_vectors(path: Path) -> np.ndarray:
    """A ``.npy`` of vectors, memory-mapped read-only: only the rows read are paged in."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _remove_leftovers(folder: Path, keep: Path | None = None) -> None:
    """Delete what earlier builds of ``folder`` left beside it: the temporary
    folders of processes no longer running, and the work folders of interrupted
    builds of other documents or settings (``keep``, this build's own, is
    resumed instead)."""
    remove_dead_temps(folder)
    pattern = rf"\.{re.escape(folder.name)}\.build-[0-9a-f]{{16}}"
    for path in folder.parent.glob(f".{folder.name}.build-*"):
        if path.is_dir() and path != keep and re.fullmatch(pattern, path.name):
            remove_tree(path)


def _reusable_vectors(previous: Index | None, documents: list[Document],
                      model_name: str) -> dict:
    """``{(kind, doc_id, start, end): vector}`` from ``previous`` for unchanged
    documents. Only the model matters: the same document and offsets are the
    same text, whatever the other settings."""
    if previous is None or previous.model_name != model_name:
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
        try:
            verify(folder, manifest.get("files"))
        except DamagedFile as exc:
            current = exc.name
            raise
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
        if type(faiss_index).__name__ != manifest.get("faiss"):
            raise ValueError(f"is a {type(faiss_index).__name__}, manifest.json says "
                             f"{manifest.get('faiss')!r}")
        if faiss_index.ntotal:
            sample = np.unique(np.linspace(0, faiss_index.ntotal - 1, min(64, faiss_index.ntotal)).astype(np.int64))
            _check_unit_rows(faiss_index.reconstruct_batch(sample))
        if isinstance(faiss_index, faiss.IndexHNSW):
            faiss_index.hnsw.efSearch = int(manifest["config"].get("hnsw_ef_search", 64))
        current = "sentence_vectors.npy"
        sentence_vectors = _load_vectors(folder / current)
        if sentence_vectors.shape != (len(sentences), dim) or sentence_vectors.dtype != np.float32:
            raise ValueError(f"has shape {sentence_vectors.shape}, expected {(len(sentences), dim)}")
        _check_unit_rows(sentence_vectors)
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
        analysis = None  # an index built before the analysis was stored: stale, see stale_reason
        if manifest.get("analysis") == ANALYSIS_VERSION:
            current = "analysis/"
            analysis = SentenceAnalysis.load(folder / "analysis")
            if analysis.size != len(sentences):
                raise ValueError(f"has {analysis.size} sentences, expected {len(sentences)}")
    except (IndexMismatchError, IndexNotFoundError):
        raise
    except DamagedFile as exc:
        raise IndexCorruptError(f"index at {str(folder)!r} is damaged: {exc.name}: {exc}") from None
    except Exception as exc:  # any unreadable file becomes one clear message
        raise IndexCorruptError(
            f"index at {str(folder)!r} is unreadable: {current}: {type(exc).__name__}: {exc}"
        ) from None
    return Index(folder, manifest, documents, chunks, sentences, sentence_vectors,
                 faiss_index, lexical, sentence_df, analysis)


def _check_unit_rows(vectors: np.ndarray, sample: int = 64) -> None:
    """Raise ValueError unless a sample of ``vectors``' rows (spread over all of
    them) is finite with unit norm, as every stored vector is: a cheap check
    that catches damage inside a file too large to checksum on each open."""
    if not len(vectors):
        return
    rows = np.asarray(vectors[np.unique(np.linspace(0, len(vectors) - 1, min(sample, len(vectors)))
                                        .astype(np.int64))], dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1) if np.isfinite(rows).all() else None
    if norms is None or np.minimum(np.abs(norms - 1.0), norms).max() > 1e-3:   # unit, or empty text
        raise ValueError("holds vectors that are not unit length (the file is damaged)")


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
    if manifest.get("analysis") != ANALYSIS_VERSION:
        return (f"it holds no sentence analysis of version {ANALYSIS_VERSION} "
                f"(found {manifest.get('analysis')!r}; the vectors are reused)")
    old_config = manifest.get("config", {})
    changed = [f"{k} {old_config.get(k)!r} -> {v!r}"
               for k, v in config.to_dict().items()
               if old_config.get(k) != v and k not in SEARCH_SETTINGS]
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
    check_writable_path(folder)
    try:  # the common case, no lock needed: an index that fits
        index = load_index(folder)
        if stale_reason(index.manifest, documents, config, embedder.name) is None:
            log.info("Using the cached index at %s (%d chunks): nothing to embed.",
                     folder, len(index.chunks))
            index.set_search_settings(config)
            return index
    except (IndexNotFoundError, IndexCorruptError, IndexMismatchError):
        pass
    with folder_lock(folder, "building the index at"):
        index = _open_or_build(documents, folder, config=config, embedder=embedder,
                               progress=progress)
    index.set_search_settings(config)
    return index


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


def read_manifest(folder: Path) -> dict:
    """The manifest of the index in ``folder``, checked, without loading the index.
    Raises ``IndexNotFoundError`` when there is none, ``IndexCorruptError`` when
    it is unreadable or lacks a field."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(f"no index at {str(folder)!r}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        _check_manifest(manifest)
    except (OSError, ValueError, AttributeError) as exc:
        raise IndexCorruptError(f"index at {str(folder)!r} is unreadable: {MANIFEST}: "
                                f"{type(exc).__name__}: {exc}") from None
    return manifest


def disk_usage(folder: Path) -> int:
    """Bytes of the files in ``folder`` and below (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
