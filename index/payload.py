"""What the reader needs of one chunk, packed into one string that a search
backend stores beside the chunk (``index.milvus``), so that a query process
holding nothing but the backend's answers can read them.

A pack holds the sentences that overlap the chunk, and the one before the
first (the reader reads a sentence's predecessor for context): their
offsets in the document, their text, their stored vectors (float16, as the
embedded index stores them) and their ``SentenceAnalysis`` rows, with the
strings they use. ``ReaderView`` turns the packs of one question's passages
into what ``qa.read`` reads: sentences, their vectors and one analysis.
Sentence ids in a view are its own (0, 1, ...), not rows of any table.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from index.analysis import _LAYERS, SentenceAnalysis, narrowest
from index.types import Chunk, Sentence

PACK_VERSION = 1
# Columns of the analysis that hold ids into its string table.
TERM_COLUMNS = ("tokens_term", "span_terms", "ptok_pos", "ptok_dep", "ptok_ent", "ptok_lemma")
# Milvus' longest VARCHAR (bytes); a pack must fit one field.
MAX_PACK_BYTES = 65_535
# np.load parses each .npy header with ast.literal_eval, and CPython 3.11's AST
# builder is not safe across threads (it raised "SystemError: AST constructor
# recursion depth mismatch" under a web server's concurrent questions): one at a time.
_NPY_LOCK = threading.Lock()


@dataclass(frozen=True)
class Pack:
    """One chunk's sentences and their analysis (``pack_chunk``, ``unpack``)."""
    ordinals: np.ndarray          # each sentence's position in its document (0, 1, ...)
    starts: np.ndarray            # [start, end) in the document
    ends: np.ndarray
    texts: tuple[str, ...]
    vectors: np.ndarray           # float16, one row per sentence
    own: int                      # sentences [own:] overlap the chunk; [0:own] is the one before
    analysis: SentenceAnalysis    # row i is sentence i, strings local to the pack
    lemmas: tuple[str, ...]       # the pack's strings that are content lemmas (with a stored vector)


def document_bases(index) -> np.ndarray:
    """The first sentence row of each document row of an embedded ``index``
    (a sentence's ordinal is its row minus its document's base)."""
    docs = np.asarray(index.sentences.doc_ids())
    bases = np.zeros(len(index.documents), dtype=np.int64)
    if len(docs):
        starts = np.flatnonzero(np.concatenate([[True], docs[1:] != docs[:-1]]))
        bases[docs[starts]] = starts
    return bases


def pack_chunk(index, chunk_id: int, bases: np.ndarray) -> tuple[str, tuple[str, ...]]:
    """The pack of chunk ``chunk_id`` of the embedded ``index`` (``bases``:
    ``document_bases(index)``), as ASCII text, and its content lemmas (those
    with a stored vector: ``Pack.lemmas``, which an upload writes beside it).
    Raises ``ValueError`` when the text is longer than ``MAX_PACK_BYTES``."""
    rows = list(index.chunks.sentence_rows(chunk_id))
    own = 0
    if rows and rows[0] > 0 and index.sentences.same_document(rows[0] - 1, rows[0]):
        rows, own = [rows[0] - 1] + rows, 1
    rows_arr = np.asarray(rows, dtype=np.int64)
    table = index.sentences.rows
    text_rows = np.asarray(index.sentences.text_rows()[rows_arr], dtype=np.int64)
    stored = index.analysis
    stored = SentenceAnalysis(stored._a, stored.terms, stored.kinds)   # rows as stored
    sub = stored.select(text_rows)
    used = np.unique(np.concatenate([np.asarray(sub._a[c], dtype=np.int64) for c in TERM_COLUMNS]
                                    or [np.zeros(0, dtype=np.int64)]))
    arrays = {}
    for name, values in sub._a.items():
        if name in ("lemma_vectors", "vector_row"):
            continue
        values = np.asarray(values)
        if name in TERM_COLUMNS:
            values = np.searchsorted(used, values)
        arrays[name] = narrowest(values)
    with_vector = np.asarray(stored._vector_row)[used] >= 0 if len(used) else np.zeros(0, bool)
    docs = np.asarray(table["doc"][rows_arr], dtype=np.int64)
    texts = [index.sentences[r].text for r in rows]
    strings = [stored.terms[i] for i in used.tolist()]
    lemmas = np.flatnonzero(with_vector).tolist()
    header = {"v": PACK_VERSION, "own": own, "strings": strings, "kinds": list(stored.kinds),
              "lemmas": lemmas, "texts": texts}
    arrays["ordinals"] = narrowest(rows_arr - bases[docs])
    arrays["starts"] = narrowest(np.asarray(table["start"][rows_arr], dtype=np.int64))
    arrays["ends"] = narrowest(np.asarray(table["end"][rows_arr], dtype=np.int64))
    arrays["vectors"] = np.asarray(index.sentence_vectors[text_rows], dtype=np.float16)
    arrays["header"] = np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"),
                                     dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    if len(text) > MAX_PACK_BYTES:
        raise ValueError(f"chunk {chunk_id}'s sentences and analysis take {len(text):,} bytes "
                         f"packed, more than the {MAX_PACK_BYTES:,} a backend field holds")
    return text, tuple(strings[i] for i in lemmas)


def unpack(text: str) -> Pack:
    """The ``Pack`` that ``pack_chunk`` wrote as ``text``. Raises ``ValueError``
    when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
        with _NPY_LOCK, np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except Exception as exc:   # noqa: BLE001 - any damage is one error
        raise ValueError(f"not a chunk pack ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or header.get("v") != PACK_VERSION:
        raise ValueError(f"chunk pack of version {header.get('v') if isinstance(header, dict) else None!r}, "
                         f"this docqa reads {PACK_VERSION}")
    strings = header["strings"]
    core = {k: arrays.pop(k) for k in ("ordinals", "starts", "ends", "vectors")}
    analysis = SentenceAnalysis(arrays, strings, header["kinds"])
    n = len(core["ordinals"])
    if analysis.size != n or len(header["texts"]) != n or len(core["vectors"]) != n:
        raise ValueError("chunk pack's sentences, texts and analysis disagree")
    return Pack(core["ordinals"].astype(np.int64), core["starts"].astype(np.int64),
                core["ends"].astype(np.int64), tuple(header["texts"]), core["vectors"],
                int(header["own"]), analysis, tuple(strings[i] for i in header["lemmas"]))


def merge(parts: list[tuple[SentenceAnalysis, list[int]]], lemma_vectors: Mapping[str, np.ndarray],
          dim: int) -> SentenceAnalysis:
    """One analysis of the rows ``rows`` of each ``(analysis, rows)`` in
    ``parts``, in that order, over one string table; ``lemma_vectors``: the
    vectors of the content lemmas (and of any other word the reader may look
    up: each becomes a string of the result with its vector)."""
    strings: dict[str, int] = {}
    kinds: dict[str, int] = {}
    columns: dict[str, list[np.ndarray]] = {}
    ptrs = {layer: [np.zeros(1, dtype=np.int64)] for layer in _LAYERS}
    span_terms_total = 0
    for analysis, rows in parts:
        if not rows:
            continue
        sub = analysis.select(rows)
        remap = np.fromiter((strings.setdefault(s, len(strings)) for s in sub.terms), dtype=np.int64,
                            count=len(sub.terms))
        kind_map = np.fromiter((kinds.setdefault(k, len(kinds)) for k in sub.kinds), dtype=np.int64,
                               count=len(sub.kinds))
        for layer, cols in _LAYERS.items():
            ptr = np.asarray(sub._a[f"{layer}_ptr"], dtype=np.int64)
            ptrs[layer].append(ptr[1:] + ptrs[layer][-1][-1])
            for c in cols:
                name = f"{layer}_{c}"
                values = np.asarray(sub._a[name], dtype=np.int64)
                if name in TERM_COLUMNS:
                    values = remap[values]
                elif name == "spans_kind":
                    values = kind_map[values]
                elif name in ("spans_terms_lo", "spans_terms_hi"):
                    values = values + span_terms_total
                columns.setdefault(name, []).append(values)
        span_terms = np.asarray(sub._a["span_terms"], dtype=np.int64)
        columns.setdefault("span_terms", []).append(remap[span_terms])
        span_terms_total += len(span_terms)
    for word in lemma_vectors:
        strings.setdefault(word, len(strings))
    arrays = {f"{layer}_ptr": np.concatenate(p) for layer, p in ptrs.items()}
    for layer, cols in _LAYERS.items():
        for c in cols:
            name = f"{layer}_{c}"
            arrays[name] = np.concatenate(columns.get(name, [np.zeros(0, dtype=np.int64)]))
    arrays["span_terms"] = np.concatenate(columns.get("span_terms", [np.zeros(0, dtype=np.int64)]))
    vector_row = np.full(len(strings), -1, dtype=np.int64)
    words = [w for w in lemma_vectors if w in strings]
    vector_row[[strings[w] for w in words]] = np.arange(len(words))
    arrays["vector_row"] = vector_row
    arrays["lemma_vectors"] = (np.vstack([np.asarray(lemma_vectors[w], dtype=np.float32) for w in words])
                               if words else np.zeros((0, dim), dtype=np.float32))
    return SentenceAnalysis(arrays, list(strings), list(kinds))


class ReaderView:
    """What ``qa.read`` reads for one question, made from the packs of its
    passages alone: ``sentences_of``, ``sentence_vectors_of``, ``analysis``,
    ``previous_sentence``, ``sentence_df``, ``sentence_count`` and
    ``documents``, as an embedded ``index.search.Index`` has them.

    ``packs``: ``{chunk_id: Pack}``; ``lemma_vectors``: the stored vectors of
    the packs' content lemmas and of the question's words that are corpus
    lemmas; ``sentence_df``: document frequencies (over sentences) of at
    least the question's terms; ``sentence_count``: sentences in the corpus."""

    def __init__(self, packs: Mapping[int, Pack], chunks: Mapping[int, Chunk], *,
                 lemma_vectors: Mapping[str, np.ndarray], sentence_df: Mapping[str, int],
                 sentence_count: int, documents, dim: int) -> None:
        self.sentence_df = dict(sentence_df)
        self.sentence_count = int(sentence_count)
        self.documents = documents
        self._sentences: list[Sentence] = []
        self._vectors: list[np.ndarray] = []
        self._ordinals: list[int] = []
        self._local: dict[tuple[str, int], int] = {}
        self._of_chunk: dict[int, list[int]] = {}
        parts = []
        for chunk_id, pack in packs.items():
            doc_id = chunks[chunk_id].doc_id
            new = []
            own = []
            for k, ordinal in enumerate(pack.ordinals.tolist()):
                key = (doc_id, ordinal)
                sid = self._local.get(key)
                if sid is None:
                    sid = self._local[key] = len(self._sentences)
                    self._sentences.append(Sentence(doc_id, sid, int(pack.starts[k]),
                                                    int(pack.ends[k]), pack.texts[k]))
                    self._vectors.append(pack.vectors[k])
                    self._ordinals.append(ordinal)
                    new.append(k)
                if k >= pack.own:
                    own.append(sid)
            self._of_chunk[chunk_id] = own
            parts.append((pack.analysis, new))
        self.analysis = merge(parts, lemma_vectors, dim)

    def sentences_of(self, chunk: Chunk) -> list[Sentence]:
        return [self._sentences[i] for i in self._of_chunk.get(chunk.chunk_id, ())]

    def sentence_vectors_of(self, sentence_ids) -> np.ndarray:
        return np.asarray(np.vstack([self._vectors[int(i)] for i in sentence_ids]), dtype=np.float32)

    def previous_sentence(self, sentence_id: int) -> int | None:
        return self._local.get((self._sentences[sentence_id].doc_id, self._ordinals[sentence_id] - 1))
