"""Data passed between the indexing stages.

Offsets are half-open character offsets ``[start, end)`` into the original
document text everywhere: ``document.text[start:end] == text``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Region:
    """A place in a document that a citation names: a page of a PDF
    (``kind`` "page", ``label`` its number from 1) or a section under a
    heading (``kind`` "section", ``label`` the heading path, "Warranty ›
    Exclusions"). ``[start, end)`` in the document's text."""
    kind: str
    label: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str     # path relative to the folder it was given in, or the file name
    title: str      # first heading (or the file's own title), else a short first line, else the file name
    text: str       # what is indexed and cited: a text file exactly as read (UTF-8, BOM
                    # stripped), the text extracted from a PDF, HTML, DOCX or EPUB file
    path: str       # where it was read from (absolute); informational only
    sha256: str     # of the UTF-8 bytes of ``text``
    size: int       # bytes of the file on disk
    regions: tuple[Region, ...] = ()   # pages and sections, in order of start (index.formats)

    def page_of(self, offset: int) -> int | None:
        """The page (from 1) holding character ``offset``, or None (not a PDF)."""
        found = _innermost(self.regions, "page", offset)
        return int(found.label) if found else None

    def section_of(self, offset: int) -> str | None:
        """The heading path of the innermost section holding ``offset``, or None."""
        found = _innermost(self.regions, "section", offset)
        return found.label if found else None


def _innermost(regions: tuple[Region, ...], kind: str, offset: int) -> Region | None:
    """The region of ``kind`` holding ``offset`` that starts last (sections nest)."""
    best = None
    for r in regions:
        if r.kind == kind and r.start <= offset < r.end and (best is None or r.start >= best.start):
            best = r
    return best


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
