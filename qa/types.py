"""What the reader returns: ``Answer`` (a cited span) and ``Reply`` (one question's
result); ``Trace``, what evaluation and training need beside a reply, with its
``Candidate`` sentences."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from index.types import Hit, Sentence
from qa.question import Question

ABSTENTION = "The document does not say."
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True)
class Answer:
    text: str
    doc_id: str
    title: str
    start: int          # [start, end) in the document: doc.text[start:end] == text
    end: int
    sentence: str       # the supporting sentence; it contains the span
    sentence_start: int  # [sentence_start, sentence_end) in the document
    sentence_end: int
    confidence: float   # 0..1, see qa.read.confidence
    kind: str           # the answer kind the question asked for (qa.question)
    hit: Hit            # the passage it was read from
    page: int | None = None      # the PDF page (from 1) it is on; None for other formats
    section: str | None = None   # the heading path above it ("Warranty › Exclusions"), if any

    @property
    def citation(self) -> str:
        return self._cite(None)

    def _cite(self, doc_text: str | None) -> str:
        """Title, page (or, given ``doc_text``, the paragraph number), section,
        characters: ``citation`` and ``qa.types.citation``."""
        where = [f"page {self.page}"] if self.page is not None else \
            [f"paragraph {paragraph_number(doc_text, self.start)}"] if doc_text is not None else []
        section = [f"section {self.section}"] if self.section else []
        return ", ".join([self.title, *where, *section, f"characters {self.start}-{self.end}"])

    def to_dict(self) -> dict:
        return {
            "text": self.text, "sentence": self.sentence, "doc_id": self.doc_id,
            "title": self.title, "start": self.start, "end": self.end,
            "sentence_start": self.sentence_start, "sentence_end": self.sentence_end,
            "confidence": round(self.confidence, 4), "kind": self.kind,
            "chunk_id": self.hit.chunk.chunk_id, "page": self.page, "section": self.section,
        }


@dataclass(frozen=True)
class Candidate:
    """One sentence of the passages read, with its features (``qa.read.FEATURES`` order)."""
    sentence: Sentence
    hit: Hit                      # its best-ranked passage
    features: tuple[float, ...]


@dataclass(frozen=True)
class Trace:
    """What evaluation and training need beside a ``Reply``, from the same single
    encoding of the question (``QA.ask_traced``).

    ``ranking``: the passages ranked to a depth past those read
    (``ranking[:top_k]`` are the reply's ``passages``). The other fields are
    set only when asked for (``ask_traced(..., candidates=True)``): what the
    reader's models are fitted on (``eval.train_reader``), independent of the
    reader model that answered.
    """
    ranking: tuple[Hit, ...]
    question: Question | None = None       # the searched text, analysed (qa.question)
    candidates: tuple[Candidate, ...] = ()  # every sentence of the passages read, the
                                            # reader's input (qa.read.sentence_candidates)
    # Unit vectors of qa.features.question_words(question), one row each; None
    # when it has none. An array: left out of ==.
    word_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Reply:
    question: str
    answer: Answer | None          # None: the documents do not say
    answers: tuple[Answer, ...]    # candidates, best first, near-duplicates removed
    passages: tuple[Hit, ...]      # retrieved, best first; also when abstaining
    query: str = ""                # what was searched: the question, or a follow-up made
                                   # to stand alone (qa.followup); "" means the question
    # Where the time went, in milliseconds: encode_ms, retrieve_ms, read_ms
    # (a batch's encode time is shared equally among its questions).
    timings: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def searched(self) -> str:
        return self.query or self.question

    @property
    def abstained(self) -> bool:
        return self.answer is None

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "query": self.searched,
            "answer": self.answer.to_dict() if self.answer else None,
            "answers": [a.to_dict() for a in self.answers],
            "passages": [passage_dict(h) for h in self.passages],
        }


def passage_dict(hit: Hit) -> dict:
    c = hit.chunk
    return {"doc_id": c.doc_id, "chunk_id": c.chunk_id, "start": c.start, "end": c.end,
            "score": round(hit.score, 6),
            "dense": None if hit.dense is None else round(hit.dense, 6),
            "lexical": None if hit.lexical is None else round(hit.lexical, 6),
            "text": c.text}


def confidence_label(confidence: float) -> str:
    """A word for a confidence: high (>= 0.8), medium (>= 0.5) or low."""
    return "high" if confidence >= 0.8 else "medium" if confidence >= 0.5 else "low"


def paragraph_number(text: str, offset: int) -> int:
    """1-based number of the paragraph (blocks split by blank lines) holding ``offset``.

    >>> paragraph_number("One.\n\nTwo.", 6)
    2
    """
    return 1 + len(_PARAGRAPH_BREAK.findall(text[:offset].lstrip()))


# How a reply is cited and how an abstention offers passages: written once, here,
# for the command line (plain text) and the web UI (which escapes them).
CLOSEST_PASSAGES = 3   # passages an abstention offers


def citation(answer: Answer, doc_text: str) -> str:
    """Where the answer is: title, then its PDF page or the paragraph number,
    its section (the heading path) when the document has headings, and the
    character range: "report.pdf, page 4, characters 9120-9133".

    The range is the half-open ``[start, end)`` of the API, written ``start-end``.
    """
    return answer._cite(doc_text)


def passage_place(hit: Hit, documents) -> str:
    """Where a passage is: its document's title and character range."""
    c = hit.chunk
    title = documents[c.doc_id].title if c.doc_id in documents else c.doc_id
    return f"{title}, characters {c.start}-{c.end}"


def closest_passages(reply: "Reply") -> tuple[Hit, ...]:
    """The passages an abstention offers instead of an answer, best first."""
    return reply.passages[:CLOSEST_PASSAGES]


def snippet(text: str, limit: int) -> str:
    """``text`` with white space folded, cut at a word boundary to about ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"

