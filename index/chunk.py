"""Split documents into overlapping chunks that keep exact character offsets."""

from __future__ import annotations

from index.types import Chunk, Document

# Paragraphs first, then lines, sentences, clauses, words. Separators stay at
# the end of the piece before them, so a chunk never starts with ". ".
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


def chunk_document(doc: Document, size: int, overlap: int, first_id: int = 0) -> list[Chunk]:
    """Cut ``doc.text`` into chunks of at most ``size`` characters.

    Chunk ids run from ``first_id``. Invariant: ``doc.text[c.start:c.end] == c.text``
    for every chunk, and starts strictly increase.

    langchain's ``start_index`` is ``text.find(chunk, offset)``: it can land on
    an earlier repeat of the same words, or be -1. So each offset is checked
    against what a chunk must be (new text, covering the first character the
    previous chunk left out), and searched again when wrong; a chunk that only
    repeats the previous one's text is dropped.
    """
    # Imported here: langchain takes ~0.5 s to import, and only indexing needs it.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=overlap,
        separators=SEPARATORS,
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )
    chunks: list[Chunk] = []
    prev_start, prev_end = -1, 0
    for piece in splitter.create_documents([doc.text]):
        text = piece.page_content
        # The splitter covers the text in order and drops only white space, so a
        # chunk that brings new text covers the first non-space character after
        # the previous chunk (``gap``). Its place is the occurrence of its text
        # that does; a chunk with none only repeats the previous one's overlap.
        gap = _first_non_space(doc.text, prev_end)
        start = piece.metadata.get("start_index", -1)
        if not _covers(doc.text, text, start, gap, prev_start):
            start = doc.text.find(text, max(prev_start + 1, gap - len(text) + 1), gap + len(text))
        if start < 0:
            if doc.text.find(text, max(prev_start, 0), prev_end) >= 0:
                continue  # a repeat of text the previous chunk already holds
            # The splitter returned text that is not in the document: never cite it.
            raise RuntimeError(f"chunker lost the offsets of a chunk of {doc.doc_id!r}")
        chunks.append(Chunk(doc.doc_id, first_id + len(chunks), start, start + len(text), text))
        prev_start, prev_end = start, start + len(text)
    return chunks


def _first_non_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _covers(doc_text: str, text: str, start: int, gap: int, prev_start: int) -> bool:
    """Whether ``text`` sits at ``start`` and covers position ``gap``, past ``prev_start``."""
    return prev_start < start <= gap < start + len(text) and \
        doc_text[start:start + len(text)] == text
