"""Documents, chunks and sentences stored as columns of numbers, not records.

The text of every document is stored once, UTF-8, in ``text.bin``. A table
row holds a document's row and the ``[start, end)`` character offsets of a
chunk or sentence in that document (the offsets every answer cites), plus
the same span's ``[byte_start, byte_end)`` in ``text.bin``, so its text is
one slice and one decode, without decoding the document around it.

Loading maps the files and makes no Python object per row: ``ChunkTable`` and
``SentenceTable`` are sequences that make a ``Chunk`` or ``Sentence`` when
one is asked for, so memory and load time stay flat as the corpus grows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from index.integrity import sample_blocks as _sample
from index.types import Chunk, Document, Sentence

TEXT = "text.bin"
DOCUMENTS = "documents.npy"
CHUNKS = "chunks.npy"
SENTENCES = "sentences.npy"

DOCUMENT_DTYPE = np.dtype([("byte_start", "<i8"), ("byte_end", "<i8"), ("chars", "<i8")])


def _span_dtypes(offset: str) -> tuple[np.dtype, np.dtype]:
    """``(chunk dtype, sentence dtype)`` with offsets of type ``offset``."""
    span = [("doc", "<i4"), ("start", offset), ("end", offset),
            ("byte_start", offset), ("byte_end", offset)]
    # A chunk also records the sentences overlapping it: rows [sent_lo, sent_hi).
    # A sentence also records its text's row: sentences with the same text
    # (boilerplate, page headers) share one vector and one analysis row.
    return (np.dtype(span + [("sent_lo", offset), ("sent_hi", offset)]),
            np.dtype(span + [("text_row", "<i4")]))


# Offsets are 32-bit while ``text.bin`` is under 2 GiB (every offset, character
# or byte, and every sentence row is below its size), else 64-bit: 24 bytes a
# sentence instead of 40 (784,562 sentences: 19 MB, not 31). Both are read.
CHUNK_DTYPE, SENTENCE_DTYPE = _span_dtypes("<i4")
WIDE_CHUNK_DTYPE, WIDE_SENTENCE_DTYPE = _span_dtypes("<i8")
NARROW_LIMIT = 2**31
DOCUMENT_CACHE = 16   # decoded documents kept (a citation shows its whole document)


def distinct_texts(sentences: list[Sentence]) -> tuple[np.ndarray, list[int]]:
    """``(text_row, firsts)``: each sentence's row among the distinct texts, and
    the sentence that first has each distinct text (rows in order of first use)."""
    row_of: dict[str, int] = {}
    firsts: list[int] = []
    text_row = np.empty(len(sentences), dtype=np.int32)
    for i, s in enumerate(sentences):
        row = row_of.setdefault(s.text, len(row_of))
        if row == len(firsts):
            firsts.append(i)
        text_row[i] = row
    return text_row, firsts


def write_tables(folder: Path, documents: list[Document], chunks: list[Chunk],
                 sentences: list[Sentence], text_row: np.ndarray) -> None:
    """Write ``text.bin`` and the three tables for ``documents`` (in manifest
    order), ``chunks`` and ``sentences`` (each sorted by document, then start,
    as the build makes them; ``text_row`` from ``distinct_texts``) into ``folder``."""
    folder = Path(folder)
    row_of = {d.doc_id: i for i, d in enumerate(documents)}
    doc_rows = np.zeros(len(documents), dtype=DOCUMENT_DTYPE)
    byte_maps = []
    offset = 0
    with open(folder / TEXT, "wb") as f:
        for i, d in enumerate(documents):
            data = d.text.encode("utf-8", "surrogatepass")
            f.write(data)
            doc_rows[i] = (offset, offset + len(data), len(d.text))
            byte_maps.append(_ByteOffsets(d.text, offset))
            offset += len(data)
    np.save(folder / DOCUMENTS, doc_rows)
    narrow = offset < NARROW_LIMIT

    def spans(items, dtype):
        names = ("doc", "start", "end", "byte_start", "byte_end")
        columns = [np.empty(len(items), dtype=np.int64) for _ in names]
        for i, it in enumerate(items):   # one pass, each column filled as it goes
            doc = row_of[it.doc_id]
            to_bytes = byte_maps[doc]
            for column, value in zip(columns, (doc, it.start, it.end, to_bytes(it.start),
                                               to_bytes(it.end))):
                column[i] = value
        rows = np.zeros(len(items), dtype=dtype)
        for name, column in zip(names, columns):
            rows[name] = column
        return rows

    sentence_rows = spans(sentences, SENTENCE_DTYPE if narrow else WIDE_SENTENCE_DTYPE)
    sentence_rows["text_row"] = text_row
    chunk_rows = spans(chunks, CHUNK_DTYPE if narrow else WIDE_CHUNK_DTYPE)
    lo, hi = sentence_ranges(chunk_rows, sentence_rows, len(documents))
    chunk_rows["sent_lo"], chunk_rows["sent_hi"] = lo, hi
    np.save(folder / CHUNKS, chunk_rows)
    np.save(folder / SENTENCES, sentence_rows)


class _ByteOffsets:
    """Character offset -> byte offset in ``text.bin`` for one document: exact
    and O(1) for ASCII text, by a prefix sum of UTF-8 lengths otherwise."""

    def __init__(self, text: str, base: int) -> None:
        self.base = base
        self.prefix = None
        if not text.isascii():
            widths = np.fromiter((len(ch.encode("utf-8", "surrogatepass")) for ch in text),
                                 dtype=np.uint8, count=len(text))
            prefix = np.concatenate([[0], np.cumsum(widths, dtype=np.int64)])
            # 4 bytes a character, not 8, for any document under 2 GiB of UTF-8.
            self.prefix = prefix.astype(np.int32) if prefix[-1] < 2**31 else prefix

    def __call__(self, char: int) -> int:
        return self.base + (char if self.prefix is None else int(self.prefix[char]))


def sentence_ranges(chunks: np.ndarray, sentences: np.ndarray, n_documents: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For each chunk row, the sentence rows ``[lo, hi)`` that overlap it.
    Sentences of a document are contiguous and sorted by start."""
    lo = np.zeros(len(chunks), dtype=np.int64)
    hi = np.zeros(len(chunks), dtype=np.int64)
    first = np.searchsorted(sentences["doc"], np.arange(n_documents + 1), side="left")
    for doc in np.unique(chunks["doc"]).tolist():
        rows = np.flatnonzero(chunks["doc"] == doc)
        a, b = int(first[doc]), int(first[doc + 1])
        ends, starts = sentences["end"][a:b], sentences["start"][a:b]
        # first sentence ending after the chunk starts .. first starting at or after its end
        lo[rows] = a + np.searchsorted(ends, chunks["start"][rows], side="right")
        hi[rows] = a + np.searchsorted(starts, chunks["end"][rows], side="left")
    return lo, np.maximum(lo, hi)


class Tables:
    """The mapped text and tables of an index folder."""

    def __init__(self, folder: Path, records) -> None:
        folder = Path(folder)
        self.records = tuple(records)       # index.manifest.DocumentRecord, in row order
        # Plain arrays over the mapped files: np.memmap's own __getitem__ is
        # Python, ~3 us a row (0.2 ms a question at 50,026 chunks).
        # np.memmap refuses an empty file (an index of empty documents).
        self.text = (np.asarray(np.memmap(folder / TEXT, dtype=np.uint8, mode="r"))
                     if (folder / TEXT).stat().st_size else np.zeros(0, dtype=np.uint8))
        self.docs, self.chunk_rows, self.sentence_rows = (
            np.asarray(np.load(folder / name, mmap_mode="r", allow_pickle=False))
            for name in (DOCUMENTS, CHUNKS, SENTENCES))
        for name, rows, dtypes in ((DOCUMENTS, self.docs, (DOCUMENT_DTYPE,)),
                                   (CHUNKS, self.chunk_rows, (CHUNK_DTYPE, WIDE_CHUNK_DTYPE)),
                                   (SENTENCES, self.sentence_rows,
                                    (SENTENCE_DTYPE, WIDE_SENTENCE_DTYPE))):
            if rows.dtype not in dtypes or rows.ndim != 1:
                raise ValueError(f"{name} has dtype {rows.dtype}, expected {dtypes[0]}")
        self._decoded: OrderedDict[int, str] = OrderedDict()

    def check(self, texts: int, *, sample: bool = True) -> None:
        """Raise ``ValueError`` naming the file unless every row points inside
        its document, names one of the ``texts`` distinct sentence texts, and
        the tables agree with each other (vectorised; what a damaged file
        breaks). ``sample``: check blocks of a large table, not every row
        (opening an index reads a few pages, not the whole file)."""
        docs, n = self.docs, len(self.records)
        if len(docs) != n:
            raise ValueError(f"{DOCUMENTS} has {len(docs)} rows, the manifest {n} documents")
        size = len(self.text)
        if n and not ((docs["byte_start"] >= 0).all() and (docs["byte_end"] >= docs["byte_start"]).all()
                      and (docs["byte_end"] <= size).all() and (docs["chars"] >= 0).all()
                      and (docs["chars"] <= docs["byte_end"] - docs["byte_start"]).all()):
            raise ValueError(f"{DOCUMENTS} points outside {TEXT}")
        for name, rows in ((SENTENCES, self.sentence_rows), (CHUNKS, self.chunk_rows)):
            if not len(rows):
                continue
            rows = _sample(rows) if sample else np.asarray(rows)
            doc = rows["doc"]
            if doc.min() < 0 or doc.max() >= n or (np.diff(doc) < 0).any():
                raise ValueError(f"{name} names a document that does not exist")
            d = docs[doc]
            if not ((rows["start"] >= 0).all() and (rows["end"] >= rows["start"]).all()
                    and (rows["end"] <= d["chars"]).all()
                    and (rows["byte_start"] >= d["byte_start"]).all()
                    and (rows["byte_end"] >= rows["byte_start"]).all()
                    and (rows["byte_end"] <= d["byte_end"]).all()
                    and (rows["byte_end"] - rows["byte_start"] >= rows["end"] - rows["start"]).all()):
                raise ValueError(f"{name} has a row pointing outside its document")
        rows = _sample(self.chunk_rows) if sample else self.chunk_rows
        if len(rows) and ((rows["sent_lo"] < 0).any() or (rows["sent_hi"] < rows["sent_lo"]).any()
                          or (rows["sent_hi"] > len(self.sentence_rows)).any()):
            raise ValueError(f"{CHUNKS} names sentences that do not exist")
        rows = _sample(self.sentence_rows) if sample else self.sentence_rows
        if len(rows) and not 0 <= int(rows["text_row"].min()) <= int(rows["text_row"].max()) < texts:
            raise ValueError(f"{SENTENCES} names a text row that does not exist")

    def slice_text(self, byte_start: int, byte_end: int) -> str:
        data = bytes(self.text[byte_start:byte_end])
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:   # damage past what opening samples: shown, never raised
            return data.decode("utf-8", "replace")

    def document_text(self, row: int) -> str:
        text = self._decoded.get(row)
        if text is None:
            d = self.docs[row]
            text = self.slice_text(int(d["byte_start"]), int(d["byte_end"]))
            self._decoded[row] = text
            if len(self._decoded) > DOCUMENT_CACHE:
                self._decoded.popitem(last=False)
        else:
            self._decoded.move_to_end(row)
        return text


class DocumentTable(Mapping):
    """``{doc_id: Document}`` over the tables; a document's text is decoded when
    the document is asked for (the last ``DOCUMENT_CACHE`` are kept)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self.row_of = {r.doc_id: i for i, r in enumerate(tables.records)}

    def __getitem__(self, doc_id: str) -> Document:
        row = self.row_of[doc_id]
        r = self._t.records[row]
        return Document(r.doc_id, r.title, self._t.document_text(row), r.path, r.sha256, r.size,
                        r.regions)

    def __iter__(self):
        return iter(self.row_of)

    def __len__(self) -> int:
        return len(self.row_of)

    def __contains__(self, doc_id) -> bool:
        return doc_id in self.row_of


class _SpanTable(Sequence):
    _make = None

    def __init__(self, tables: Tables, rows: np.ndarray) -> None:
        self._t = tables
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self.rows)
        if not 0 <= i < len(self.rows):
            raise IndexError(f"row {i} is out of range")
        r = self.rows[i]
        return self._make(self._t.records[int(r["doc"])].doc_id, i, int(r["start"]), int(r["end"]),
                          self._t.slice_text(int(r["byte_start"]), int(r["byte_end"])))

    def __eq__(self, other) -> bool:   # the same rows, as lists of objects compare
        if isinstance(other, (_SpanTable, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None

    def doc_ids(self) -> np.ndarray:
        """The document row of every item (``records[row].doc_id`` names it)."""
        return self.rows["doc"]


class ChunkTable(_SpanTable):
    """The chunks, row i = FAISS id i, as ``Chunk`` objects made on access."""
    _make = Chunk

    def sentence_rows(self, chunk_id: int) -> range:
        r = self.rows[chunk_id]
        return range(int(r["sent_lo"]), int(r["sent_hi"]))


class SentenceTable(_SpanTable):
    """The sentences, row i = sentence i, as ``Sentence`` objects made on access."""
    _make = Sentence

    def text_rows(self) -> np.ndarray:
        """Each sentence's row among the distinct texts (its vector, its analysis)."""
        return self.rows["text_row"]

    def same_document(self, a: int, b: int) -> bool:
        return int(self.rows[a]["doc"]) == int(self.rows[b]["doc"])


def distinct_sentence_texts(folder: Path) -> list[str]:
    """The distinct sentence texts of the tables in ``folder``, in row order
    (``text_row``; the build's ``firsts``), read from ``text.bin`` and
    ``sentences.npy`` alone."""
    folder = Path(folder)
    rows = np.load(folder / SENTENCES, mmap_mode="r", allow_pickle=False)
    if not len(rows):
        return []
    text_row = np.asarray(rows["text_row"])
    # The first sentence with each row, in row order; rows are numbered in
    # order of first use, so these rise.
    rows_of, firsts = np.unique(text_row, return_index=True)
    if not np.array_equal(rows_of, np.arange(len(rows_of))) or (np.diff(firsts) < 0).any():
        raise ValueError(f"{folder / SENTENCES}: text rows are not numbered in order of use")
    data = np.memmap(folder / TEXT, dtype=np.uint8, mode="r")
    starts = rows["byte_start"][firsts].tolist()
    ends = rows["byte_end"][firsts].tolist()
    return [bytes(data[a:b]).decode("utf-8", "surrogatepass") for a, b in zip(starts, ends)]
