"""Data passed between the indexing stages.

Offsets are half-open character offsets ``[start, end)`` into the original
document text everywhere: ``document.text[start:end] == text``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str     # path relative to the folder it was given in, or the file name
    title: str      # first Markdown heading, else a short first line, else the file name
    text: str       # exactly as read (UTF-8, BOM stripped): offsets point into it
    path: str       # where it was read from (absolute); informational only
    sha256: str     # of the UTF-8 bytes of ``text``
    size: int       # bytes of the file on disk


@dataclass(frozen=True, slots=True)
class Chunk:
    doc_id: str
    chunk_id: int   # row in chunks.npy == FAISS id
    start: int      # [start, end) in the document: doc.text[start:end] == text
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Sentence:
    doc_id: str
    sentence_id: int  # row in sentences.npy (its text_row: its row of sentence_vectors.npy)
    start: int        # [start, end) in the document
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved passage.

    ``score`` is the value the passage was ranked by (cosine similarity for
    dense search, BM25 for lexical search, the fused score for hybrid search);
    ``dense`` and ``lexical`` keep the per-retriever scores when known.
    """

    chunk: Chunk
    score: float
    dense: float | None = None
    lexical: float | None = None
