"""Tests for index.chunk.chunk_document: exact offsets, order, size, coverage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from index.chunk import chunk_document
from index.ingest import load_documents
from index.types import Document

DATA = Path(__file__).resolve().parents[2] / "data"
SIZES = [(200, 40), (80, 20), (120, 0), (300, 299), (1000, 100), (37, 11)]


def make_doc(text: str, doc_id: str = "doc.txt") -> Document:
    return Document(doc_id=doc_id, title=doc_id, text=text, path=doc_id,
                    sha256=hashlib.sha256(text.encode()).hexdigest(), size=len(text.encode()))


def check_chunks(doc: Document, chunks, size: int, first_id: int = 0) -> None:
    assert chunks, "a non-empty document gives at least one chunk"
    covered = bytearray(len(doc.text))
    previous = -1
    for n, c in enumerate(chunks):
        assert c.doc_id == doc.doc_id
        assert c.chunk_id == first_id + n
        assert 0 <= c.start < c.end <= len(doc.text)
        assert doc.text[c.start:c.end] == c.text
        assert len(c.text) <= size
        assert c.start > previous, f"chunk {c.chunk_id} starts at {c.start}, previous at {previous}"
        previous = c.start
        covered[c.start:c.end] = b"\x01" * (c.end - c.start)
    missed = [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not missed, f"characters not in any chunk: {[doc.text[i] for i in missed[:10]]} at {missed[:10]}"


def corpus_and_real_docs(corpus_dir) -> list[Document]:
    return load_documents([corpus_dir]) + load_documents([DATA / "china-kazakhstan.txt"])


@pytest.mark.parametrize(("size", "overlap"), SIZES)
def test_chunk_invariants_on_corpus_and_real_document(corpus_dir, size, overlap):
    docs = corpus_and_real_docs(corpus_dir)
    assert docs[-1].doc_id == "china-kazakhstan.txt"
    for first_id in (0, 7):
        for doc in docs:
            check_chunks(doc, chunk_document(doc, size, overlap, first_id=first_id), size, first_id)


def test_corpus_documents_split_into_several_chunks(corpus_dir):
    # The store tests rely on this: otherwise "several chunks per document" is untested.
    for doc in load_documents([corpus_dir]):
        assert len(chunk_document(doc, 200, 40)) >= 3, doc.doc_id


def test_overlap_is_used_when_text_has_no_paragraph_breaks():
    text = " ".join(f"word{i}" for i in range(200))
    chunks = chunk_document(make_doc(text), 100, 40)
    check_chunks(make_doc(text), chunks, 100)
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:])), "no chunk overlaps the previous one"


def test_short_document_is_one_chunk():
    doc = make_doc("  Just one line.  \n")
    (chunk,) = chunk_document(doc, 200, 40, first_id=3)
    assert chunk.text == "Just one line."
    assert (chunk.start, chunk.end, chunk.chunk_id) == (2, 16, 3)


@pytest.mark.parametrize(("size", "overlap"), [(200, 40), (60, 20), (45, 0), (100, 99)])
def test_repeated_sentence_gets_correct_increasing_offsets(size, overlap):
    # langchain's start_index is text.find(chunk, offset): with identical repeats it
    # can point at an earlier copy. Every offset must still be the true one.
    text = "The cat sat on the mat. " * 60
    doc = make_doc(text)
    chunks = chunk_document(doc, size, overlap)
    check_chunks(doc, chunks, size)
    assert len(chunks) > 5
    assert chunks[-1].end == len(text.rstrip())


@pytest.mark.parametrize(("size", "overlap"), [(200, 40), (50, 10), (30, 29)])
def test_repeated_paragraphs_and_lines(size, overlap):
    text = ("Always carry an umbrella in London.\n\n" * 10
            + "Same line\n" * 20
            + "aaaa " * 50)
    doc = make_doc(text)
    check_chunks(doc, chunk_document(doc, size, overlap), size)


def test_unbroken_text_is_cut_by_characters():
    text = "x" * 1000
    doc = make_doc(text)
    chunks = chunk_document(doc, 100, 10)
    check_chunks(doc, chunks, 100)
    assert chunks[-1].end == 1000


def test_unicode_text_keeps_character_offsets():
    text = ("“Cash is king,” said the banker – and he meant it… 🙂 Ünïcödé wörds. " * 12)
    doc = make_doc(text)
    for size, overlap in [(64, 16), (200, 40)]:
        check_chunks(doc, chunk_document(doc, size, overlap), size)


# --- known bugs -------------------------------------------------------------------

# A paragraph of ~190 characters ending in "See the notes.", then the same words as a
# paragraph of their own, then another long paragraph: the short paragraph becomes a
# chunk of its own.
REPEAT_IN_TAIL = (
    "The committee met on Monday to discuss the budget for the coming year, and after a "
    "long and rather heated debate it agreed to fund the new library wing and the new "
    "garden. See the notes.\n\n"
    "See the notes.\n\n"
    "The second meeting, held on Thursday, covered staffing: two new librarians will be "
    "hired in the spring, and volunteers will run the reading club on Saturdays and "
    "during the school holidays."
)


def test_short_chunk_repeating_the_end_of_the_previous_chunk():
    doc = make_doc(REPEAT_IN_TAIL)
    chunks = chunk_document(doc, 200, 40)
    standalone = REPEAT_IN_TAIL.index("See the notes.\n\nThe second")
    assert any(c.start <= standalone and standalone + 14 <= c.end for c in chunks)
    check_chunks(doc, chunks, 200)


def test_whitespace_runs_with_large_overlap_do_not_crash():
    doc = make_doc("\n\n\n x\n ")
    check_chunks(doc, chunk_document(doc, 4, 3), 4)


# Lines that repeat, as in docstrings ("Returns:", "Args:"): the splitter then
# emits chunks that lie wholly inside the previous one's overlap and whose text
# also comes again later. Such a chunk once sent the offset search to the later
# repeat, and the next chunk was "lost" (RuntimeError).
REPEATED_LINES = [
    "Returns:", "    model: the model", "Args:", "    data: input data",
    "providers (list): providers to use",
    "Quantize the tensor per group and return it with its scale.",
    "See the reference for details.",
    "    n (int): how many samples to take; -1 means all of them.",
]


@pytest.mark.parametrize("seed", range(0, 400, 1))
def test_repeated_lines_keep_their_offsets(seed):
    import random

    rng = random.Random(seed)
    paragraphs = ["\n".join(rng.choice(REPEATED_LINES) for _ in range(rng.randint(1, 6)))
                  for _ in range(rng.randint(3, 25))]
    text = "\n\n".join(paragraphs)
    doc = Document("d.txt", "d", text, "/d", "0" * 64, len(text))
    chunks = chunk_document(doc, 200, 40)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert all(a.start < b.start and a.end < b.end for a, b in zip(chunks, chunks[1:]))
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
