"""An index opened for search: dense and lexical search over chunks, vectors
by id, and the sentences and analysis the reader reads. ``load_index``
opens and checks a folder (``index.manifest`` describes its files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from index.analysis import ANALYSIS_VERSION, SentenceAnalysis
from index.config import IndexConfig
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from index.integrity import DamagedFile, sample_blocks, verify
from index.lexical import LexicalIndex
from index.manifest import FORMAT_VERSION, MANIFEST, READABLE_FORMATS, Manifest, read_manifest_data
from index.tables import ChunkTable, DocumentTable, SentenceTable, Tables
from index.types import Chunk, Hit, Sentence

# Settings of how an index is searched, not of what it holds: applied when it is
# opened (Index.set_search_settings); a change never makes it stale.
SEARCH_SETTINGS = ("hnsw_ef_search",)
SENTENCE_VECTOR_DTYPE = np.float16   # halves the largest file; cosines move by < 1e-3
UNIT_BLOCK = 16   # rows per contiguous run that check_unit_rows reads (unit_sample)


class Index:
    """A loaded index: FAISS over chunks, BM25 over chunks, sentences with
    vectors, each document's text. Rows live in memory-mapped files
    (``index.tables``): ``chunks``, ``sentences`` and ``documents`` make their
    objects when one is asked for."""

    def __init__(self, folder: Path, manifest: Manifest, tables: Tables,
                 sentence_vectors: np.ndarray, faiss_index, lexical: LexicalIndex,
                 sentence_df: dict[str, int], analysis: SentenceAnalysis | None = None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.tables = tables
        self.documents = DocumentTable(tables)
        self.chunks = ChunkTable(tables, tables.chunk_rows)
        self.sentences = SentenceTable(tables, tables.sentence_rows)
        self.sentence_vectors = sentence_vectors      # one row per distinct sentence text
        self.faiss_index = faiss_index
        self.lexical = lexical
        self.sentence_df = sentence_df
        self._analysis = analysis.with_rows(self.sentences.text_rows()) if analysis is not None else None

    @property
    def analysis(self) -> SentenceAnalysis:
        """Each sentence's terms, spans and words (``index.analysis``): stored with
        the index; worked out now for an index of an older build that lacks it."""
        if self._analysis is None:
            self._analysis = SentenceAnalysis.build([s.text for s in self.sentences])
        return self._analysis

    @property
    def model_name(self) -> str:
        return self.manifest.model.name

    @property
    def dim(self) -> int:
        return self.manifest.model.dim

    def search(self, query_vector: np.ndarray, top_k: int) -> list[Hit]:
        """Dense search: the ``top_k`` chunks with the highest cosine similarity
        to ``query_vector`` (shape ``(dim,)``, L2-normalised), best first.
        Asking for more than the index holds returns every chunk."""
        return self._search(self.faiss_index, query_vector, top_k)

    def dense_ranking(self, query_vector: np.ndarray, top_k: int) -> list[tuple[int, float]]:
        """``search`` as ``(chunk_id, cosine)`` pairs, making no ``Chunk``."""
        return self._ranking(self.faiss_index, query_vector, top_k)

    def lexical_ranking(self, query: str, top_k: int) -> list[tuple[int, float]]:
        """``search_lexical`` as ``(chunk_id, BM25 score)`` pairs, making no ``Chunk``."""
        return self.lexical.search(query, top_k)

    def fetch_chunks(self, chunk_ids) -> list[Chunk]:
        """The chunks ``chunk_ids``, in that order (``index.backend.SearchBackend``)."""
        return [self.chunks[int(i)] for i in chunk_ids]

    def reader_view(self, hits: list[Hit], words: list[str], terms: list[str]) -> "Index":
        """What the reader reads for ``hits``: the index itself, which holds
        every sentence (``index.backend.SearchBackend``; a remote backend
        returns an ``index.payload.ReaderView`` of the hits' packs)."""
        return self

    @property
    def sentence_count(self) -> int:
        """Sentences in the index (the N of the reader's IDF)."""
        return len(self.sentences)

    def _search(self, faiss_index, query_vector: np.ndarray, top_k: int) -> list[Hit]:
        return [Hit(self.chunks[i], s, dense=s)
                for i, s in self._ranking(faiss_index, query_vector, top_k)]

    def _ranking(self, faiss_index, query_vector: np.ndarray, top_k: int) -> list[tuple[int, float]]:
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
        return [(i, s) for s, i in zip(scores[0].tolist(), ids[0].tolist()) if i >= 0]

    def chunk_vectors(self, chunk_ids) -> np.ndarray:
        """The stored vectors of ``chunk_ids``, one float32 row each (so ``qa/``
        never reaches into FAISS)."""
        return self.faiss_index.reconstruct_batch(np.asarray(chunk_ids, dtype=np.int64))

    def sentence_vectors_of(self, sentence_ids) -> np.ndarray:
        """The stored vectors of ``sentence_ids``, one float32 row each."""
        rows = self.sentences.text_rows()[np.asarray(sentence_ids, dtype=np.int64)]
        return np.asarray(self.sentence_vectors[rows], dtype=np.float32)

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
        return [self.sentences[i] for i in self.chunks.sentence_rows(chunk.chunk_id)]

    def previous_sentence(self, sentence_id: int) -> int | None:
        """The id of the sentence before ``sentence_id`` in the same document, or None."""
        if sentence_id > 0 and self.sentences.same_document(sentence_id - 1, sentence_id):
            return sentence_id - 1
        return None


def load_index(folder: Path, *, formats: tuple[int, ...] = (FORMAT_VERSION,)) -> Index:
    """Open the index in ``folder``: nothing is read into memory but the
    manifest, the vocabularies and the FAISS graph; the rest (the FAISS
    vectors included) is mapped.

    Raises ``IndexNotFoundError`` when there is none, ``IndexMismatchError``
    when its format version is not one of ``formats`` (only the current one,
    unless a rebuild opens an older index to reuse its parts:
    ``READABLE_FORMATS``), and ``IndexCorruptError`` (naming the
    file) when a file is unreadable, damaged (its checksum, for files small
    enough to check on each open) or disagrees with the others.
    """
    import faiss

    folder = Path(folder)
    if set(formats) - set(READABLE_FORMATS):   # a caller's mistake, not a damaged index
        raise ValueError(f"cannot read format versions {sorted(set(formats) - set(READABLE_FORMATS))}")
    data = read_manifest_data(folder)
    current = MANIFEST
    try:
        if not isinstance(data, dict) or data.get("format_version") not in formats:
            found = data.get("format_version") if isinstance(data, dict) else None
            raise IndexMismatchError(f"index at {str(folder)!r} has format version {found!r}, "
                                     f"this program reads {FORMAT_VERSION}")
        manifest = Manifest.from_dict(data)
        dim = manifest.model.dim
        try:
            verify(folder, manifest.files)
        except DamagedFile as exc:
            current = exc.name
            raise
        current = "the tables"
        tables = Tables(folder, manifest.documents)
        tables.check(manifest.counts.texts)
        n_chunks, n_sentences = len(tables.chunk_rows), len(tables.sentence_rows)
        counts = manifest.counts
        if (counts.documents, counts.chunks, counts.sentences) != \
                (len(tables.docs), n_chunks, n_sentences):
            raise ValueError("counts disagree with manifest.json")
        current = "index.faiss"
        # Memory-mapped (the vectors of a flat or HNSW index): only the pages a
        # search touches are read, and they count as file cache, not as this
        # process's own memory (50,002 chunks: 97 MB).
        faiss_index = faiss.read_index(str(folder / current), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
        if faiss_index.ntotal != n_chunks or faiss_index.d != dim:
            raise ValueError(f"holds {faiss_index.ntotal} vectors of dimension {faiss_index.d}, "
                             f"expected {n_chunks} of {dim}")
        if type(faiss_index).__name__ != manifest.faiss:
            raise ValueError(f"is a {type(faiss_index).__name__}, manifest.json says "
                             f"{manifest.faiss!r}")
        if faiss_index.ntotal:
            check_unit_rows(faiss_index.reconstruct_batch(unit_sample(faiss_index.ntotal)))
        if isinstance(faiss_index, faiss.IndexHNSW):
            faiss_index.hnsw.efSearch = int(manifest.config.get("hnsw_ef_search", 64))
        current = "sentence_vectors.npy"
        sentence_vectors = np.load(folder / current, mmap_mode="r", allow_pickle=False)
        n_texts = manifest.counts.texts
        if sentence_vectors.shape != (n_texts, dim) or sentence_vectors.dtype != SENTENCE_VECTOR_DTYPE:
            raise ValueError(f"has shape {sentence_vectors.shape} and dtype {sentence_vectors.dtype}, "
                             f"expected {(n_texts, dim)} {np.dtype(SENTENCE_VECTOR_DTYPE)}")
        check_unit_rows(sentence_vectors)
        current = "sentence_df.json"
        sentence_df = json.loads((folder / current).read_text(encoding="utf-8"))
        if not isinstance(sentence_df, dict):
            raise ValueError("is not a JSON object")
        current = "lexical/"
        lexical = LexicalIndex.load(folder / "lexical")
        if lexical.size != n_chunks:
            raise ValueError(f"has {lexical.size} rows, expected {n_chunks}")
        analysis = None  # an index built before the analysis was stored: stale, see stale_reason
        if manifest.analysis == ANALYSIS_VERSION:
            current = "analysis/"
            analysis = SentenceAnalysis.load(folder / "analysis")
            if analysis.stored != n_texts:
                raise ValueError(f"has {analysis.stored} rows, expected {n_texts} (one per distinct "
                                 "sentence text)")
    except (IndexMismatchError, IndexNotFoundError):
        raise
    except DamagedFile as exc:
        raise IndexCorruptError(f"index at {str(folder)!r} is damaged: {exc.name}: {exc}") from None
    except Exception as exc:  # any unreadable file becomes one clear message
        raise IndexCorruptError(
            f"index at {str(folder)!r} is unreadable: {current}: {type(exc).__name__}: {exc}"
        ) from None
    return Index(folder, manifest, tables, sentence_vectors, faiss_index, lexical, sentence_df,
                 analysis)


def unit_sample(n: int) -> np.ndarray:
    """The rows ``check_unit_rows`` reads of ``n``: ``index.integrity.sample_blocks``
    with runs of 16 (all rows up to 64, else 16 at the head, the middle and the
    tail). Contiguous, because each page a check touches in a mapped file stays
    in the process's RSS, and the kernel maps pages in runs (on this machine a
    row read alone mapped ~1.2 MB): 64 rows spread over 784,562 sentence
    vectors cost 79 MB, three runs of 16 cost 3."""
    return sample_blocks(np.arange(n, dtype=np.int64), UNIT_BLOCK)


def check_unit_rows(vectors: np.ndarray) -> None:
    """Raise ValueError unless a sample of ``vectors``' rows (``unit_sample``, or
    all of them when given a sample already) is finite with unit norm, as every
    stored vector is: a cheap check that catches damage inside a file too large
    to checksum on each open."""
    if not len(vectors):
        return
    rows = np.asarray(vectors[unit_sample(len(vectors))], dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1) if np.isfinite(rows).all() else None
    tolerance = 1e-3 if vectors.dtype == np.float32 else 1e-2   # float16 rounds each value
    if norms is None or np.minimum(np.abs(norms - 1.0), norms).max() > tolerance:   # unit, or empty text
        raise ValueError("holds vectors that are not unit length (the file is damaged)")
