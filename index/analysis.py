"""What the reader needs to know of each sentence that does not depend on the
question, worked out once at index time instead of at every question:

- its terms with their offsets (``index.lexical.token_spans``);
- its typed candidate spans (``index.spans.find_spans``), with their terms;
- its words as the descriptive-answer search sees them (``words``): offsets,
  whether the word has content, its terms, and which clause it is in.

Stored as flat integer arrays (one row per item, a pointer array per layer),
memory-mapped when loaded: a question touches only the rows of the sentences
it reads, so neither memory nor time per question grows with the corpus.
Offsets are relative to the sentence text, half-open.
"""

from __future__ import annotations

import json
import re
from array import array
from pathlib import Path

import numpy as np

from index.lexical import token_spans, tokenize
from index.spans import Span, find_spans

# Bump when what is stored changes meaning; indexes of another version are rebuilt
# (reusing their vectors).
ANALYSIS_VERSION = 1

# Words for the descriptive-answer search: runs of anything but white space and
# clause punctuation, trimmed of sentence-final punctuation; a clause break sits
# between two words when clause punctuation or a spaced dash separates them.
_WORD = re.compile(r"[^\s,;:()\[\]“”\"«»–—]+")
_WORD_BREAK = re.compile(r"[,;:()\[\]“”\"«»–—]|\s-\s")
_EDGE_PUNCT = ".?!'’"

# Layers: name -> columns (besides the per-sentence pointer ``NAME_ptr``).
_LAYERS = {
    "tokens": ("start", "end", "term"),
    "spans": ("start", "end", "kind", "terms_lo", "terms_hi"),
    "words": ("start", "end", "content", "clause", "terms_lo", "terms_hi"),
}
# Terms of spans and of words, as rows of term ids, addressed by terms_lo/hi.
_TERM_LISTS = ("span_terms", "word_terms")


def sentence_words(text: str) -> list[tuple[int, int, bool, tuple[str, ...], int]]:
    """``(start, end, content, terms, clause)`` for each word of ``text``:
    ``content`` is whether it has any term (not only stop words)."""
    words = []
    clause, prev_end = 0, 0
    for m in _WORD.finditer(text):
        s, e = m.start(), m.end()
        while e > s and text[e - 1] in _EDGE_PUNCT:
            e -= 1
        if e == s:
            continue
        if _WORD_BREAK.search(text, prev_end, s):
            clause += 1
        terms = tuple(tokenize(text[s:e]))
        words.append((s, e, bool(terms), terms, clause))
        prev_end = m.end()
    return words


class SentenceAnalysis:
    """The analysis of every sentence of an index; row i is sentence i."""

    def __init__(self, arrays: dict[str, np.ndarray], terms: list[str], kinds: list[str]) -> None:
        self._a = arrays
        self.terms = terms
        self.kinds = kinds
        self.size = len(arrays["tokens_ptr"]) - 1

    # ------------------------------------------------------------- reading

    def tokens(self, i: int) -> list[tuple[int, int, str]]:
        """``token_spans`` of sentence ``i``."""
        lo, hi = self._bounds("tokens", i)
        a, terms = self._a, self.terms
        return [(s, e, terms[t]) for s, e, t in zip(a["tokens_start"][lo:hi].tolist(),
                                                     a["tokens_end"][lo:hi].tolist(),
                                                     a["tokens_term"][lo:hi].tolist())]

    def spans(self, i: int, text: str) -> list[tuple[Span, tuple[str, ...]]]:
        """``find_spans(text)`` of sentence ``i`` (whose text is ``text``), each
        with its terms (``tokenize(span.text)``)."""
        rows, terms = self._rows("spans", "span_terms", i)
        return [(Span(self.kinds[k], s, e, text[s:e]), terms[tlo:thi])
                for s, e, k, tlo, thi in rows]

    def words(self, i: int) -> list[tuple[int, int, bool, tuple[str, ...], int]]:
        """``sentence_words`` of sentence ``i``."""
        rows, terms = self._rows("words", "word_terms", i)
        return [(s, e, bool(c), terms[tlo:thi], clause) for s, e, c, clause, tlo, thi in rows]

    def _bounds(self, layer: str, i: int) -> tuple[int, int]:
        if not 0 <= i < self.size:
            raise IndexError(f"sentence {i} is not in the analysis of {self.size} sentences")
        ptr = self._a[f"{layer}_ptr"]
        return int(ptr[i]), int(ptr[i + 1])

    def _rows(self, layer: str, term_list: str, i: int):
        """The rows of ``layer`` for sentence ``i`` (its columns in ``_LAYERS``
        order, with terms_lo/hi made relative), and the terms they point into."""
        lo, hi = self._bounds(layer, i)
        if lo == hi:
            return [], ()
        columns = [self._a[f"{layer}_{c}"][lo:hi].tolist() for c in _LAYERS[layer]]
        first, last = columns[-2][0], columns[-1][-1]
        columns[-2] = [t - first for t in columns[-2]]
        columns[-1] = [t - first for t in columns[-1]]
        terms = tuple(self.terms[t] for t in self._a[term_list][first:last].tolist())
        return zip(*columns), terms

    # ------------------------------------------------------------ building

    @classmethod
    def build(cls, texts, *, progress: bool = False) -> "SentenceAnalysis":
        """Analyse ``texts`` (the sentences, in order)."""
        from tqdm.auto import tqdm

        term_ids: dict[str, int] = {}
        kind_ids: dict[str, int] = {}
        # Typed arrays, not lists: 4 or 8 bytes a number instead of ~36, which
        # for a large corpus (millions of tokens) is the build's largest memory.
        cols = {f"{layer}_{c}": array("i") for layer, names in _LAYERS.items() for c in names}
        ptrs = {layer: array("q", [0]) for layer in _LAYERS}
        lists = {name: array("i") for name in _TERM_LISTS}

        def ids(terms) -> list[int]:
            return [term_ids.setdefault(t, len(term_ids)) for t in terms]

        def add_terms(name: str, terms) -> tuple[int, int]:
            lo = len(lists[name])
            lists[name].extend(ids(terms))
            return lo, len(lists[name])

        for text in tqdm(texts, desc="Analysing sentences", unit="sentence", leave=False,
                         disable=not progress):
            for s, e, t in token_spans(text):
                cols["tokens_start"].append(s)
                cols["tokens_end"].append(e)
                cols["tokens_term"].append(term_ids.setdefault(t, len(term_ids)))
            for span in find_spans(text):
                lo, hi = add_terms("span_terms", tokenize(span.text))
                for c, v in zip(_LAYERS["spans"], (span.start, span.end,
                                                   kind_ids.setdefault(span.kind, len(kind_ids)),
                                                   lo, hi)):
                    cols[f"spans_{c}"].append(v)
            for s, e, content, terms, clause in sentence_words(text):
                lo, hi = add_terms("word_terms", terms)
                for c, v in zip(_LAYERS["words"], (s, e, int(content), clause, lo, hi)):
                    cols[f"words_{c}"].append(v)
            for layer in _LAYERS:
                ptrs[layer].append(len(cols[f"{layer}_start"]))
        arrays = {k: np.frombuffer(v, dtype=np.int32).copy() for k, v in cols.items()}
        arrays.update({f"{layer}_ptr": np.frombuffer(p, dtype=np.int64).copy()
                       for layer, p in ptrs.items()})
        arrays.update({k: np.frombuffer(v, dtype=np.int32).copy() for k, v in lists.items()})
        return cls(arrays, list(term_ids), list(kind_ids))

    # ------------------------------------------------------------- storage

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, values in self._a.items():
            np.save(folder / f"{name}.npy", values)
        (folder / "vocabulary.json").write_text(json.dumps(
            {"version": ANALYSIS_VERSION, "terms": self.terms, "kinds": self.kinds}), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "SentenceAnalysis":
        """Load (memory-mapped) what ``save`` wrote. Raises ``ValueError`` when a
        file is missing or the arrays disagree with each other."""
        folder = Path(folder)
        vocabulary = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        if vocabulary.get("version") != ANALYSIS_VERSION:
            raise ValueError(f"analysis version {vocabulary.get('version')!r}, "
                             f"expected {ANALYSIS_VERSION}")
        names = [f"{layer}_{c}" for layer, cols in _LAYERS.items() for c in ("ptr", *cols)]
        # Plain arrays over the mapped files: slicing a np.memmap costs more.
        arrays = {name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r",
                                           allow_pickle=False))
                  for name in names + list(_TERM_LISTS)}
        analysis = cls(arrays, vocabulary["terms"], vocabulary["kinds"])
        for layer, cols in _LAYERS.items():
            ptr = arrays[f"{layer}_ptr"]
            if len(ptr) != analysis.size + 1 or any(len(arrays[f"{layer}_{c}"]) != ptr[-1]
                                                    for c in cols):
                raise ValueError(f"the {layer} arrays disagree with each other")
        for name, bound in (("tokens_term", len(analysis.terms)), ("span_terms", len(analysis.terms)),
                            ("word_terms", len(analysis.terms)), ("spans_kind", len(analysis.kinds))):
            if len(arrays[name]) and not 0 <= int(arrays[name].min()) <= int(arrays[name].max()) < bound:
                raise ValueError(f"{name}.npy points outside the vocabulary")
        return analysis
