"""Building an index folder: chunk, split, embed, analyse and write it
atomically; resume an interrupted build; tell when an index is stale; reuse
what an older index holds (its vectors and analysis) when rebuilding."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from index import memory
from index.analysis import ANALYSIS_VERSION, SentenceAnalysis
from index.chunk import chunk_document
from index.config import IndexConfig
from index.embed import Embedder
from index.embed_worker import WorkerEmbedder
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, InputError, WriteError
from index.files import (check_replaceable, folder_lock, make_folder, remove_dead_temps, remove_tree,
                         swap_in, temp_folder_for, write_error, write_json_atomic)
from index.integrity import file_records
from index.lexical import LexicalIndex, document_frequencies
from index.manifest import (CALIBRATION, FORMAT_VERSION, MANIFEST, OWN_FILES, READABLE_FORMATS,
                            SAME_ANALYSIS_SINCE, Counts,
                            DocumentRecord, Manifest, ModelInfo, read_manifest_data)
from index.search import SEARCH_SETTINGS, SENTENCE_VECTOR_DTYPE, Index, load_index
from index.sentences import split_sentences
from index.tables import distinct_texts, write_tables
from index.types import Chunk, Document, Sentence

log = logging.getLogger(__name__)

EMBED_BATCH = 256  # texts per progress-bar step
# Sentences from which a build drops its models between stages (the embedding
# model before the parse, the parser before the lemmas are embedded; each loads
# again in 1-2 s when needed): below this their memory matters less than the time.
LARGE_BUILD = 100_000
COPY_ROWS = 65_536  # sentence vectors converted to float16 per step


def build_index(documents: list[Document], folder: Path, *, config: IndexConfig,
                embedder, previous: "Previous | Index | None" = None, progress: bool = True) -> Index:
    """Chunk, split, embed and write ``documents`` to ``folder``, atomically.

    Vectors of documents whose ``doc_id`` and SHA-256 are unchanged in
    ``previous`` (an index, or what ``Previous.read`` found in an older
    folder, built with the same model) are reused, so only new or changed
    documents are embedded; its sentence analysis is reused when it holds the
    same sentences.

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
    if isinstance(previous, Index):
        previous = Previous.of_index(previous)

    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    for doc in documents:
        chunks += chunk_document(doc, config.chunk_size, config.chunk_overlap, first_id=len(chunks))
        sentences += [Sentence(doc.doc_id, len(sentences) + i, s, e, doc.text[s:e])
                      for i, (s, e) in enumerate(split_sentences(doc.text))]
    large = len(sentences) >= LARGE_BUILD
    # Handed over in a list that _build empties, so that it can drop the
    # records (784,562 sentences: ~200 MB) once it has written them.
    cut = [chunks, sentences, Reuse.plan(previous, documents, embedder.name)]
    del chunks, sentences, previous
    if large and type(embedder) is Embedder and not embedder.loaded:
        # The model in a child process, gone between the stages: this process
        # never imports torch (index.embed_worker).
        worker = WorkerEmbedder.like(embedder)
        try:
            return _build(documents, folder, config, worker, cut, large, progress)
        finally:
            worker.release()
    return _build(documents, folder, config, embedder, cut, large, progress)


def _build(documents: list[Document], folder: Path, config: IndexConfig, embedder, cut: list,
           large: bool, progress: bool) -> Index:
    """``build_index`` once the texts are cut (``cut``: ``[chunks, sentences,
    Reuse]``, emptied here; ``large``: drop the models between stages).

    The stages, in the order that keeps the peak of memory low: embed
    (resumable); write the tables, the sentence statistics and BM25 into the
    work folder, and drop the chunk and sentence records; analyse the
    distinct sentence texts (the parse, then the lemma vectors); make FAISS;
    assemble the folder."""
    chunks, sentences, reuse = cut
    cut.clear()
    text_row, firsts = distinct_texts(sentences)
    work = folder.parent / f".{folder.name}.build-{_build_key(documents, config, embedder.name)}"
    with _writing(folder):
        make_folder(folder.parent)
        _remove_leftovers(folder, keep=work)
        work.mkdir(exist_ok=True)
    try:
        with _writing(folder, work):
            chunk_vectors = _embed_resumable(work, "chunk", chunks, reuse, embedder, progress,
                                             "Embedding chunks", distinct_texts(chunks))
            sentence_vectors = _embed_resumable(work, "sentence", sentences, reuse, embedder,
                                                progress, "Embedding sentences", (text_row, firsts))
    except KeyboardInterrupt:
        log.warning("Indexing interrupted; the finished batches are kept in %s, and the next "
                    "run on the same documents resumes from there.", work)
        raise
    dim = chunk_vectors.shape[1]
    counts = Counts(len(documents), len(chunks), len(sentences), len(firsts))
    analysis_from, analysis = reuse.analysis(sentences, documents, firsts)
    del reuse   # a previous index's records (a rebuild), no longer needed
    # The tables, the sentence statistics and BM25 are written now, into the
    # work folder, so that the records they are made from are not held
    # through the parse.
    made = work / "tables"
    with _writing(folder, work):
        remove_tree(made)
        made.mkdir()
        write_tables(made, documents, chunks, sentences, text_row)
        sentence_df = document_frequencies([s.text for s in sentences])
        (made / "sentence_df.json").write_text(json.dumps(sentence_df), encoding="utf-8")
        del sentence_df
        lexical = LexicalIndex.build([c.text for c in chunks], method=config.bm25_method,
                                     k1=config.bm25_k1, b=config.bm25_b)
        (made / "lexical").mkdir()
        lexical.save(made / "lexical")
        del lexical
    analyse = analysis_from is None and analysis is None
    texts = [sentences[i].text for i in firsts] if analyse and not large else []
    del chunks, sentences
    gc.collect()
    memory.trim()
    if analyse:
        # One row per distinct text. Lemmas are embedded through ``embed_words``
        # where the embedder has one (a test double counts them apart).
        embed = getattr(embedder, "embed_words", embedder.embed_texts)
        with _writing(folder, work):
            if large:
                _release(embedder)   # loaded again for the lemma vectors, after the parse
                # The parse in a child process (index.analysis_worker), reading
                # the texts from the tables just written.
                spill = work / "analysis"
                remove_tree(spill)
                analysis = SentenceAnalysis.build_apart(made, spill, embed=embed,
                                                        progress=progress)
            else:
                analysis = SentenceAnalysis.build(texts, progress=progress, embed=embed,
                                                  spill=work / "analysis")
        del texts
    if large:
        _release(embedder)
    faiss_index = _make_faiss(chunk_vectors, config)
    del chunk_vectors
    manifest = Manifest(
        format_version=FORMAT_VERSION, analysis=ANALYSIS_VERSION,
        model=ModelInfo(embedder.name, int(dim), True), faiss=type(faiss_index).__name__,
        config=config.to_dict(), counts=counts,
        documents=tuple(DocumentRecord(d.doc_id, d.title, d.path, d.sha256, d.size, d.regions)
                        for d in documents),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        sentence_vectors=np.dtype(SENTENCE_VECTOR_DTYPE).name,
    )

    with _writing(folder, work):
        tmp = temp_folder_for(folder)
        try:
            _write_faiss(faiss_index, tmp / "index.faiss")
            for path in made.iterdir():
                os.replace(path, tmp / path.name)
            _write_half(sentence_vectors, firsts, tmp / "sentence_vectors.npy")
            del sentence_vectors
            if analysis is not None:
                analysis.save(tmp / "analysis")
            else:
                _copy_folder(analysis_from, tmp / "analysis")
            manifest = replace(manifest, files=file_records(tmp, skip=(MANIFEST, CALIBRATION)))
            # The manifest goes last: a folder without one is never loaded.
            manifest.write(tmp)
            swap_in(tmp, folder)
        except BaseException:
            remove_tree(tmp)
            raise
    remove_tree(work)
    return load_index(folder)


def _release(embedder) -> None:
    """Drop ``embedder``'s model where it can (``Embedder.release``)."""
    release = getattr(embedder, "release", None)
    if release is not None:
        release()


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


def _write_half(vectors: np.ndarray, rows: list[int], path: Path) -> None:
    """Write the ``rows`` of ``vectors`` (float32, memory-mapped) to ``path`` as
    ``SENTENCE_VECTOR_DTYPE``, block by block (memory stays bounded)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=SENTENCE_VECTOR_DTYPE,
                                    shape=(len(rows), vectors.shape[1]))
    rows = np.asarray(rows, dtype=np.int64)
    for lo in range(0, len(rows), COPY_ROWS):
        out[lo:lo + COPY_ROWS] = vectors[rows[lo:lo + COPY_ROWS]]
        out.flush()
        memory.release(out)       # the pages done, out of this process's RSS
        memory.release(vectors)
    del out


def _copy_folder(source: Path, target: Path) -> None:
    """Copy the files of ``source`` to ``target``: hard links where the file
    system allows (stored files are never changed in place), else copies."""
    target.mkdir()
    for path in Path(source).iterdir():
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copy2(path, target / path.name)


def _build_key(documents: list[Document], config: IndexConfig, model_name: str) -> str:
    """Names the vectors of one build: the same documents, model and the settings
    that decide the embedded texts (chunking, sentence rules) give the same key,
    so an interrupted build is resumed only by a build that embeds the same
    texts, whatever its search settings. (The vectors in the work folder are
    float32 whatever the format stores, so the format version is not part of it.)"""
    texts = [config.chunk_size, config.chunk_overlap, config.text_rules]
    h = hashlib.sha256(json.dumps([2, model_name, texts,
                                   [(d.doc_id, d.sha256) for d in documents]]).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------- reuse

@dataclass
class Previous:
    """What an earlier index in the folder offers a rebuild: its model, each
    document's SHA-256, the ``(doc_id, start, end)`` of every chunk and
    sentence with their vectors, and its analysis folder (with the version of
    the analysis it holds). ``text_rows[i]`` is sentence i's row of
    ``sentence_vectors`` and of the analysis (None: row i). Read from a
    loaded ``Index``, or from the files of an index of an older format
    (``Previous.read``)."""
    model_name: str
    shas: dict[str, str]
    chunk_keys: list[tuple[str, int, int]]
    chunk_vectors: object            # (chunks, dim), or a callable giving them
    sentence_keys: list[tuple[str, int, int]]
    sentence_vectors: np.ndarray
    analysis: Path | None = None
    analysis_version: int | None = None
    text_rows: np.ndarray | None = None
    format_version: int = FORMAT_VERSION

    @classmethod
    def of_index(cls, index: Index) -> "Previous":
        t = index.tables
        ids = [r.doc_id for r in t.records]

        def keys(rows):
            return list(zip([ids[d] for d in rows["doc"].tolist()], rows["start"].tolist(),
                            rows["end"].tolist()))

        faiss_index = index.faiss_index
        return cls(index.model_name, {r.doc_id: r.sha256 for r in t.records},
                   keys(t.chunk_rows), lambda: faiss_index.reconstruct_n(0, faiss_index.ntotal),
                   keys(t.sentence_rows), index.sentence_vectors,
                   index.folder / "analysis", index.manifest.analysis,
                   np.asarray(t.sentence_rows["text_row"]), index.manifest.format_version)

    @classmethod
    def read(cls, folder: Path) -> "Previous | None":
        """What the index in ``folder`` offers, whatever its format version (one
        of ``READABLE_FORMATS``, or 2: records in ``chunks.jsonl``/``sentences.jsonl``, a
        vector and an analysis row per sentence); None when there is nothing
        usable (logged at debug level)."""
        import faiss

        try:
            data = read_manifest_data(folder)
            if data.get("format_version") in READABLE_FORMATS:
                return cls.of_index(load_index(folder, formats=READABLE_FORMATS))
            if data.get("format_version") != 2:
                return None

            def keys(name):
                with open(Path(folder) / name, encoding="utf-8") as f:
                    return [(r["doc_id"], r["start"], r["end"]) for r in map(json.loads, f) if r]

            faiss_index = faiss.read_index(str(Path(folder) / "index.faiss"))
            chunk_keys, sentence_keys = keys("chunks.jsonl"), keys("sentences.jsonl")
            vectors = np.load(Path(folder) / "sentence_vectors.npy", mmap_mode="r")
            if faiss_index.ntotal != len(chunk_keys) or len(vectors) != len(sentence_keys):
                return None
            return cls(data["model"]["name"], {d["doc_id"]: d["sha256"] for d in data["documents"]},
                       chunk_keys, lambda: faiss_index.reconstruct_n(0, faiss_index.ntotal),
                       sentence_keys, vectors, Path(folder) / "analysis", data.get("analysis"),
                       format_version=2)
        except Exception as exc:  # noqa: BLE001 - anything unreadable: build from scratch
            log.debug("Nothing reusable in %s: %s: %s", folder, type(exc).__name__, exc)
            return None

    def sentence_row(self, i: int) -> int:
        return i if self.text_rows is None else int(self.text_rows[i])


class Reuse:
    """Which rows of a build can be copied from ``Previous`` rather than embedded
    or analysed: ``rows[kind][(doc_id, start, end)]`` is the row in the previous
    index of an unchanged document's chunk or sentence."""

    def __init__(self, previous: Previous | None, same: set[str]) -> None:
        self.previous = previous
        self.same = same
        self.rows: dict[str, dict] = {"chunk": {}, "sentence": {}}
        self._vectors: dict[str, np.ndarray] = {}
        if previous is not None and same:
            for kind, keys in (("chunk", previous.chunk_keys), ("sentence", previous.sentence_keys)):
                self.rows[kind] = {k: i for i, k in enumerate(keys) if k[0] in same}

    @classmethod
    def plan(cls, previous: Previous | None, documents: list[Document], model_name: str) -> "Reuse":
        """Only the model matters for vectors: the same document and offsets are
        the same text, whatever the other settings."""
        if previous is None or previous.model_name != model_name:
            return cls(None, set())
        return cls(previous, {d.doc_id for d in documents if previous.shas.get(d.doc_id) == d.sha256})

    def vector(self, kind: str, key) -> np.ndarray | None:
        row = self.rows[kind].get(key)
        if row is None:
            return None
        if kind not in self._vectors:
            source = self.previous.chunk_vectors if kind == "chunk" else self.previous.sentence_vectors
            self._vectors[kind] = source() if callable(source) else source
        if kind == "sentence":
            row = self.previous.sentence_row(row)
        return self._vectors[kind][row]

    def dim(self) -> int | None:
        for kind in ("chunk", "sentence"):
            if self.rows[kind]:
                return int(len(self.vector(kind, next(iter(self.rows[kind])))))
        return None

    def analysis(self, sentences: list[Sentence], documents: list[Document], firsts: list[int]
                 ) -> tuple[Path | None, SentenceAnalysis | None]:
        """The previous analysis when it can stand for this build's (the same
        analysis version, every document unchanged, the same sentences):
        ``(its folder, None)`` when it is stored as this build would store it,
        ``(None, the rows this build needs)`` when it holds them in another
        layout or integer widths (an older format), else ``(None, None)``:
        analyse anew."""
        p = self.previous
        if p is None or p.analysis_version != ANALYSIS_VERSION or p.analysis is None \
                or not p.analysis.is_dir() or len(self.same) != len(documents) \
                or len(p.sentence_keys) != len(sentences):
            return None, None
        if any(k != (s.doc_id, s.start, s.end) for k, s in zip(p.sentence_keys, sentences)):
            return None, None
        rows = [p.sentence_row(i) for i in firsts]
        try:
            stored = SentenceAnalysis.load(p.analysis)
        except Exception as exc:  # noqa: BLE001 - unreadable: analyse anew
            log.debug("Cannot reuse the analysis in %s: %s", p.analysis, exc)
            return None, None
        log.info("Reusing the sentence analysis of the previous index (the same sentences).")
        if rows == list(range(stored.stored)):
            if p.format_version >= SAME_ANALYSIS_SINCE:
                return p.analysis, None
            return None, stored   # the same rows, saved again in this format's integer widths
        return None, stored.select(rows)


def _embed_resumable(work: Path, kind: str, items, reuse: Reuse, embedder, progress: bool,
                     desc: str, distinct: tuple[np.ndarray, list[int]]) -> np.ndarray:
    """The vectors of ``items``, row i for item i, in ``work/KIND_vectors.npy`` (a
    memory-mapped file). Rows are embedded in batches of ``EMBED_BATCH``, each
    written and recorded in ``work/KIND_progress.json`` before the next, so an
    interrupted run resumes after the last finished batch. Rows of unchanged
    documents are copied from ``reuse``, and a text seen before (boilerplate
    such as "Parameters" or "Returns") from its first row, instead of embedded
    (``distinct``: ``index.tables.distinct_texts(items)``)."""
    from tqdm.auto import tqdm

    path, state = work / f"{kind}_vectors.npy", work / f"{kind}_progress.json"
    keys = [(it.doc_id, it.start, it.end) for it in items]
    reused = reuse.rows[kind]
    text_row, firsts = distinct
    first = [firsts[r] for r in text_row.tolist()]   # row i's first row with the same text
    todo = sum(k not in reused for k in keys)
    dim = reuse.dim() or embedder.dim
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
                     if keys[i] not in reused and first[i] == i]
            if fresh:
                vectors[fresh] = embedder.embed_texts([items[i].text for i in fresh])
            for i in range(lo, hi):   # in order: a repeat's first row is filled by now
                if keys[i] in reused:
                    vectors[i] = reuse.vector(kind, keys[i])
                elif first[i] != i:
                    vectors[i] = vectors[first[i]]
            vectors.flush()
            write_json_atomic(state, {"done": hi, "total": len(items), "dim": dim})
            memory.trim()   # the batch's tensors, back to the system (index.memory)
            memory.release(vectors)   # and the batch's pages of the file
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
    memory-mapped ``vectors``.

    The HNSW graph keeps its vectors as float16 (``IndexHNSWSQ``, ``QT_fp16``):
    on the 50,026-chunk bench corpus the file is 58 MB instead of 97, recall@10
    against exact float32 search over 240 queries 0.995 either way, and a search
    0.6 ms instead of 0.8. Exact search keeps float32: it is small."""
    import faiss

    n, dim = vectors.shape
    if n >= config.ann_min_chunks:
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, config.hnsw_m,
                                  faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
    else:
        index = faiss.IndexFlatIP(dim)
    for lo in range(0, n, 16_384):
        index.add(np.ascontiguousarray(vectors[lo:lo + 16_384], dtype=np.float32))
        memory.release(vectors)
    return index


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


# ---------------------------------------------------------- load or build

def stale_reason(manifest: Manifest, documents: list[Document], config: IndexConfig,
                 model_name: str) -> str | None:
    """Why an index with ``manifest`` no longer fits, in words; None when it fits."""
    if manifest.model.name != model_name:
        return f"the model changed ({manifest.model.name} -> {model_name})"
    if manifest.analysis != ANALYSIS_VERSION:
        return (f"it holds no sentence analysis of version {ANALYSIS_VERSION} "
                f"(found {manifest.analysis!r}; the vectors are reused)")
    old_config = manifest.config
    changed = [f"{k} {old_config.get(k)!r} -> {v!r}"
               for k, v in config.to_dict().items()
               if old_config.get(k) != v and k not in SEARCH_SETTINGS]
    if changed:
        return "settings changed: " + ", ".join(changed)
    # A document's pages and sections count as its content: an index built
    # before they were read (or by another converter) is rebuilt, reusing vectors.
    old = {d.doc_id: (d.sha256, d.regions) for d in manifest.documents}
    new = {d.doc_id: (d.sha256, d.regions) for d in documents}
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
    def build(previous=None):
        return build_index(documents, folder, config=config, embedder=embedder,
                           previous=previous, progress=progress)

    try:
        index = load_index(folder)
    except IndexNotFoundError:
        log.info("No index at %s yet: building it.", folder)
        return build()
    except IndexMismatchError:   # another format: what still fits is reused
        try:
            found = read_manifest_data(folder).get("format_version")
        except (IndexNotFoundError, IndexCorruptError, AttributeError):
            found = None
        log.info("Rebuilding the index at %s: it has format version %s, this docqa writes %d "
                 "(reusing its vectors where the model and text match).", folder, found, FORMAT_VERSION)
        return build(Previous.read(folder))
    except IndexCorruptError as exc:
        log.warning("%s; rebuilding it.", exc)
        return build()
    reason = stale_reason(index.manifest, documents, config, embedder.name)
    if reason is None:
        log.info("Using the cached index at %s (%d chunks): nothing to embed.",
                 folder, len(index.chunks))
        return index
    log.info("Rebuilding the index at %s: %s.", folder, reason)
    if (folder / CALIBRATION).exists():
        log.info("The calibrated threshold is dropped with the old index; "
                 "run python -m eval ... --calibrate again.")
    return build(index)
