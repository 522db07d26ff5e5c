"""What the reader needs to know of each sentence that does not depend on the
question, worked out once at index time instead of at every question:

- its terms with their offsets (``index.lexical.token_spans``);
- its typed candidate spans (``index.spans.find_spans``), with their terms;
- its parse (``index.parse``): spaCy tokens with part of speech, dependency
  label and head, entity label and lemma (``parse``), and the constituents
  that may answer a question (``constituents``);
- a MiniLM vector for each distinct lemma of a content word (``vectors``,
  ``token_vector_rows``), so the reader can tell "country" is near "Russia"
  and "founded" near "established" without encoding anything at question time.

Stored as flat integer arrays (one row per item, a pointer array per layer),
each in the narrowest integer type its values fit (``narrowest``: offsets
within a sentence and label ids mostly take one or two bytes, not four),
memory-mapped when loaded: a question touches only the rows of the sentences
it reads, so neither memory nor time per question grows with the corpus.
Offsets are relative to the sentence text, half-open.
"""

from __future__ import annotations

import json
import shutil
from array import array
from pathlib import Path

import numpy as np

from index import memory
from index.integrity import sample_blocks as _sample
from index.lexical import token_spans, tokenize
from index.parse import Constituent, parse_sentences
from index.spans import Span, find_spans

# Bump when what is stored changes meaning; indexes of another version are rebuilt
# (reusing their vectors).
ANALYSIS_VERSION = 4

# Layers: name -> columns (besides the per-sentence pointer ``NAME_ptr``).
_LAYERS = {
    "tokens": ("start", "end", "term"),
    "spans": ("start", "end", "kind", "terms_lo", "terms_hi"),
    # spaCy tokens; pos, dep, ent and lemma are ids into ``terms`` (one string table),
    # head is the head token's index within the sentence.
    "ptok": ("start", "end", "pos", "dep", "head", "ent", "lemma"),
    # Constituents (index.parse.Constituent): labels is a bit set over index.parse.LABELS.
    "cands": ("start", "end", "labels", "head", "first", "last"),
}
# Terms of spans, as rows of term ids, addressed by terms_lo/hi.
_TERM_LISTS = ("span_terms",)
# Lemmas embedded per call when their vectors go to a file (as many as one call
# embeds for every shared set's index, so their vectors are the same either way).
LEMMA_SLICE = 65_536
TRIM_EVERY = 4096   # sentences analysed between two index.memory.trim() calls
REPORT_EVERY = 256  # sentences analysed between two progress reports
# Parts of speech whose lemmas get a vector.
VECTOR_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV"})


class SentenceAnalysis:
    """The analysis of every sentence of an index; row i is sentence i."""

    def __init__(self, arrays: dict[str, np.ndarray], terms: list[str], kinds: list[str],
                 rows: np.ndarray | None = None, files: dict[str, Path] | None = None) -> None:
        self._a = arrays
        # Arrays that are already whole .npy files of their stored type (the
        # lemma vectors of a build): ``save`` copies the file.
        self._files = files or {}
        self.terms = terms
        self.kinds = kinds
        self.stored = len(arrays["tokens_ptr"]) - 1     # rows stored
        # Sentence i's row is rows[i] (sentences with the same text share one), or i.
        self._row_of = rows
        self.size = self.stored if rows is None else len(rows)
        # vectors[vector_row[string id]] is a lemma's unit vector (-1: it has none).
        self.vectors = arrays.get("lemma_vectors", np.zeros((0, 1), dtype=np.float32))
        self._vector_row = arrays.get("vector_row", np.full(len(terms), -1, dtype=np.int32))
        self._lemma_rows: dict[str, int] | None = None   # lemma -> row of vectors, made on first use

    def lemma_vector(self, word: str) -> np.ndarray | None:
        """The stored vector of ``word`` when it is one of the corpus' content
        lemmas (the same vector embedding ``word`` gives), else None."""
        if self._lemma_rows is None:
            rows = self._vector_row
            have = np.flatnonzero(rows >= 0)
            self._lemma_rows = {self.terms[i]: int(rows[i]) for i in have.tolist()}
        row = self._lemma_rows.get(word)
        return None if row is None else np.asarray(self.vectors[row], dtype=np.float32)

    def token_vector_rows(self, i: int) -> np.ndarray:
        """For each spaCy token of sentence ``i``, the row of its lemma in
        ``vectors``, or -1 (a function word, or an analysis without vectors)."""
        lo, hi = self._bounds("ptok", i)
        return self._vector_row[self._a["ptok_lemma"][lo:hi]]

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

    def parse(self, i: int) -> tuple[list, ...]:
        """Sentence ``i``'s spaCy tokens as columns ``(starts, ends, pos, deps,
        heads, ents, lemmas)``: lists of equal length, strings for the labels
        ("" for no entity)."""
        lo, hi = self._bounds("ptok", i)
        a, strings = self._a, self.terms
        cols = [a[f"ptok_{c}"][lo:hi].tolist() for c in _LAYERS["ptok"]]
        for k in (2, 3, 5, 6):
            cols[k] = [strings[t] for t in cols[k]]
        return tuple(cols)

    def constituents(self, i: int) -> list[Constituent]:
        """Sentence ``i``'s answer candidates (``index.parse.constituents``)."""
        lo, hi = self._bounds("cands", i)
        a = self._a
        cols = [a[f"cands_{c}"][lo:hi].tolist() for c in _LAYERS["cands"]]
        return [Constituent(*row) for row in zip(*cols)]

    def _bounds(self, layer: str, i: int) -> tuple[int, int]:
        if not 0 <= i < self.size:
            raise IndexError(f"sentence {i} is not in the analysis of {self.size} sentences")
        if self._row_of is not None:
            i = int(self._row_of[i])
        ptr = self._a[f"{layer}_ptr"]
        return int(ptr[i]), int(ptr[i + 1])

    def with_rows(self, rows: np.ndarray) -> "SentenceAnalysis":
        """This analysis read through ``rows``: sentence i is stored row
        ``rows[i]`` (an index stores one row per distinct sentence text)."""
        rows = np.asarray(rows)
        # Sampled (as the other checks on open): a full pass would read every page
        # of sentences.npy into the process (29 MB at 784,562 sentences).
        sample = _sample(rows)
        if len(sample) and not 0 <= int(sample.min()) <= int(sample.max()) < self.stored:
            raise ValueError(f"sentence rows point outside the {self.stored} rows stored")
        return SentenceAnalysis(self._a, self.terms, self.kinds, rows, self._files)

    def select(self, rows) -> "SentenceAnalysis":
        """A new analysis (in memory) holding the stored rows ``rows``, in that
        order: what an index of those sentences would have built (the
        vocabulary and lemma vectors are kept whole)."""
        rows = np.asarray(rows, dtype=np.int64)
        arrays = {k: self._a[k] for k in ("lemma_vectors", "vector_row") if k in self._a}
        term_lists = {}
        for layer, cols in _LAYERS.items():
            ptr = np.asarray(self._a[f"{layer}_ptr"])
            lo, hi = ptr[rows], ptr[rows + 1]
            take = _ranges(lo, hi)
            arrays[f"{layer}_ptr"] = np.concatenate([[0], np.cumsum(hi - lo)]).astype(np.int64)
            for c in cols:
                arrays[f"{layer}_{c}"] = np.asarray(self._a[f"{layer}_{c}"])[take]
            if layer == "spans":   # their terms: gathered, and re-pointed
                tlo, thi = arrays["spans_terms_lo"], arrays["spans_terms_hi"]
                term_lists["span_terms"] = np.asarray(self._a["span_terms"])[_ranges(tlo, thi)]
                new_lo = np.concatenate([[0], np.cumsum(thi - tlo)])[:-1]
                arrays["spans_terms_lo"] = new_lo.astype(np.int32)
                arrays["spans_terms_hi"] = (new_lo + (thi - tlo)).astype(np.int32)
        arrays.update(term_lists)
        for name in _TERM_LISTS:
            arrays.setdefault(name, np.zeros(0, dtype=np.int32))
        return SentenceAnalysis(arrays, self.terms, self.kinds)

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
    def build(cls, texts, *, progress: bool = False, embed=None,
              spill: Path | None = None) -> "SentenceAnalysis":
        """Analyse ``texts`` (the sentences, in order). ``embed``: a function
        from a list of strings to unit row vectors (``Embedder.embed_texts``)
        for the content lemmas; without it there are no lemma vectors.
        ``spill``: a folder to write each array to as a .npy file as soon as it
        is made (the lemma vectors ``LEMMA_SLICE`` at a time), holding it
        memory-mapped instead of in memory, so that the lemma vectors are
        embedded beside none of it: the bench's 50,026-chunk corpus of
        docstrings has 129 MB of integer arrays and 127,088 content lemmas
        (195 MB of vectors); ``save`` copies the files."""
        from tqdm.auto import tqdm

        texts = list(texts)
        with tqdm(total=len(texts), desc="Analysing sentences", unit="sentence", leave=False,
                  disable=not progress) as bar:
            layers = parse_layers(texts, spill=spill, report=bar.update)
        del texts
        return cls._with_lemma_vectors(layers, embed, spill)

    @classmethod
    def build_apart(cls, tables: Path, spill: Path, *, embed=None,
                    progress: bool = False) -> "SentenceAnalysis":
        """``build`` over the distinct sentence texts of the tables in
        ``tables`` (``index.tables.distinct_sentence_texts``), with the parse in
        a child process (``index.analysis_worker``) that writes its arrays to
        ``spill`` and exits: the parser's libraries and the heap a parse
        leaves behind (the parse process reached 718 MB over the bench's
        429,862 distinct sentences) are given back before the lemmas are
        embedded. Only the lemma vectors are made here."""
        from index.analysis_worker import parse_apart

        layers = parse_apart(Path(tables), Path(spill), progress=progress)
        return cls._with_lemma_vectors(layers, embed, spill)

    @classmethod
    def _with_lemma_vectors(cls, layers: "Layers", embed, spill: Path | None) -> "SentenceAnalysis":
        arrays, files, strings = layers.arrays, layers.files, layers.strings
        vector_row = np.full(len(strings), -1, dtype=np.int32)
        if embed is not None and len(layers.lemma_ids):
            lemma_ids = layers.lemma_ids
            path = Path(spill) / "lemma_vectors.npy" if spill is not None else None
            vectors = _embed_lemmas(embed, [strings[t] for t in lemma_ids.tolist()], path)
            vector_row[lemma_ids] = np.arange(len(lemma_ids), dtype=np.int32)
            if path is not None:
                files["lemma_vectors"] = path
            arrays["lemma_vectors"] = vectors
        else:
            _keep(arrays, files, spill, "lemma_vectors", np.zeros((0, 1), dtype=np.float32))
        _keep(arrays, files, spill, "vector_row", narrowest(vector_row))
        return cls(arrays, strings, layers.kinds, files=files)

    # ------------------------------------------------------------- storage

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, values in self._a.items():
            if name in self._files:   # copied by the system, not read through this process
                shutil.copyfile(self._files[name], folder / f"{name}.npy")
            else:
                np.save(folder / f"{name}.npy", narrowest(values))
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
                  for name in names + list(_TERM_LISTS) + ["lemma_vectors", "vector_row"]}
        analysis = cls(arrays, vocabulary["terms"], vocabulary["kinds"])
        rows = arrays["vector_row"]
        if len(rows) != len(analysis.terms) or (len(rows) and int(rows.max()) >= len(arrays["lemma_vectors"])):
            raise ValueError("vector_row.npy disagrees with the vocabulary or the vectors")
        for layer, cols in _LAYERS.items():
            ptr = arrays[f"{layer}_ptr"]
            if len(ptr) != analysis.size + 1 or any(len(arrays[f"{layer}_{c}"]) != ptr[-1]
                                                    for c in cols):
                raise ValueError(f"the {layer} arrays disagree with each other")
        for name, bound in (("tokens_term", len(analysis.terms)), ("span_terms", len(analysis.terms)),
                            ("spans_kind", len(analysis.kinds)),
                            *((f"ptok_{c}", len(analysis.terms)) for c in ("pos", "dep", "ent",
                                                                           "lemma"))):
            values = _sample(arrays[name])
            if len(values) and not 0 <= int(values.min()) <= int(values.max()) < bound:
                raise ValueError(f"{name}.npy points outside the vocabulary")
        return analysis


class Layers:
    """What a parse gives before the lemma vectors: the arrays (held, or mapped
    from their files in ``spill``), the string and kind tables, and the string
    ids of the content lemmas (sorted), whose vectors are made next."""

    META = "layers.json"

    def __init__(self, arrays: dict, files: dict, strings: list[str], kinds: list[str],
                 lemma_ids: np.ndarray) -> None:
        self.arrays, self.files = arrays, files
        self.strings, self.kinds, self.lemma_ids = strings, kinds, lemma_ids

    def write(self, spill: Path) -> None:
        """Record the tables beside the spilled arrays (the last file a parse
        writes: ``read`` refuses a folder without it)."""
        spill = Path(spill)
        np.save(spill / "lemma_ids.npy", self.lemma_ids)
        tmp = spill / (self.META + ".tmp")
        tmp.write_text(json.dumps({"version": ANALYSIS_VERSION, "strings": self.strings,
                                   "kinds": self.kinds, "arrays": sorted(self.files)}),
                       encoding="utf-8")
        tmp.replace(spill / self.META)

    @classmethod
    def read(cls, spill: Path) -> "Layers":
        spill = Path(spill)
        meta = json.loads((spill / cls.META).read_text(encoding="utf-8"))
        if meta.get("version") != ANALYSIS_VERSION:
            raise ValueError(f"{spill / cls.META}: analysis version {meta.get('version')!r}")
        files = {name: spill / f"{name}.npy" for name in meta["arrays"]}
        arrays = {name: np.load(path, mmap_mode="r", allow_pickle=False)
                  for name, path in files.items()}
        return cls(arrays, files, meta["strings"], meta["kinds"],
                   np.load(spill / "lemma_ids.npy", allow_pickle=False))


def parse_layers(texts: list[str], *, spill: Path | None = None, report=None) -> Layers:
    """Parse and analyse ``texts`` into the layers' arrays (``SentenceAnalysis.build``
    less the lemma vectors). ``spill``: write each array there and map it;
    ``report(n)``: called as every ``REPORT_EVERY`` more texts are done."""
    term_ids: dict[str, int] = {}
    kind_ids: dict[str, int] = {}
    # Typed arrays, not lists: 4 or 8 bytes a number instead of ~36, which
    # for a large corpus (millions of tokens) is the build's largest memory.
    cols = {f"{layer}_{c}": array("i") for layer, names in _LAYERS.items() for c in names}
    ptrs = {layer: array("q", [0]) for layer in _LAYERS}
    lists = {name: array("i") for name in _TERM_LISTS}
    content: set[int] = set()   # string ids of content lemmas

    def ids(terms) -> list[int]:
        return [term_ids.setdefault(t, len(term_ids)) for t in terms]

    def add_terms(name: str, terms) -> tuple[int, int]:
        lo = len(lists[name])
        lists[name].extend(ids(terms))
        return lo, len(lists[name])

    parses = parse_sentences(texts)   # lazily, batch by batch
    for n, (text, parsed) in enumerate(zip(texts, parses)):
        if n % TRIM_EVERY == TRIM_EVERY - 1:
            memory.trim()   # the parser's freed batches, back to the system (index.memory)
        if report is not None and n % REPORT_EVERY == REPORT_EVERY - 1:
            report(REPORT_EVERY)
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
        for row in zip(parsed.starts, parsed.ends, ids(parsed.pos), ids(parsed.deps),
                       parsed.heads, ids(parsed.ents), ids(parsed.lemmas)):
            for c, v in zip(_LAYERS["ptok"], row):
                cols[f"ptok_{c}"].append(v)
        for pos, lemma in zip(parsed.pos, parsed.lemmas):
            if pos in VECTOR_POS and lemma.strip():
                content.add(term_ids[lemma])
        for con in parsed.constituents:
            for c, v in zip(_LAYERS["cands"], (con.start, con.end, con.labels, con.head,
                                               con.first, con.last)):
                cols[f"cands_{c}"].append(v)
        for layer in _LAYERS:
            ptrs[layer].append(len(cols[f"{layer}_start"]))
    del parses
    if report is not None and len(texts) % REPORT_EVERY:
        report(len(texts) % REPORT_EVERY)
    # One column at a time, each dropped once copied narrow: the peak holds
    # one column twice, not the whole analysis.
    arrays, files = {}, {}
    if spill is not None:
        Path(spill).mkdir(parents=True, exist_ok=True)
    for source, dtype in ((cols, np.int32), (ptrs, np.int64), (lists, np.int32)):
        for k in list(source):
            _keep(arrays, files, spill, f"{k}_ptr" if source is ptrs else k,
                  narrowest(np.frombuffer(source.pop(k), dtype=dtype)))
    return Layers(arrays, files, list(term_ids), list(kind_ids),
                  np.array(sorted(content), dtype=np.int64))


def _keep(arrays: dict, files: dict, spill: Path | None, name: str, values: np.ndarray) -> None:
    """``arrays[name] = values``; with ``spill``, written there and mapped."""
    if spill is None:
        arrays[name] = values
        return
    files[name] = Path(spill) / f"{name}.npy"
    np.save(files[name], values)
    arrays[name] = np.load(files[name], mmap_mode="r")


def _embed_lemmas(embed, words: list[str], path: Path | None) -> np.ndarray:
    """``embed(words)`` as float32; with ``path``, written there as a .npy file
    ``LEMMA_SLICE`` words at a time and returned memory-mapped."""
    if path is None:
        return np.asarray(embed(words), dtype=np.float32)
    out = None
    for lo in range(0, len(words), LEMMA_SLICE):
        block = np.asarray(embed(words[lo:lo + LEMMA_SLICE]), dtype=np.float32)
        if out is None:
            out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                            shape=(len(words), block.shape[1]))
        out[lo:lo + len(block)] = block
        out.flush()
        memory.release(out)
    return out


def narrowest(values: np.ndarray) -> np.ndarray:
    """``values`` in the narrowest integer type that holds them all: 8, 16 or
    32 bits, unsigned when none is negative, else int64 (never uint64, which
    numpy mixes with int64 into float64). A copy only when the type changes;
    arrays of floats are returned as they are."""
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        return values
    lo, hi = (int(values.min()), int(values.max())) if len(values) else (0, 0)
    for dtype in ((np.uint8, np.uint16, np.uint32, np.int64) if lo >= 0
                  else (np.int8, np.int16, np.int32, np.int64)):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return values if values.dtype == dtype else values.astype(dtype)
    return values


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The concatenation of ``range(lo[k], hi[k])`` over k, as one index array."""
    lengths = (hi - lo).astype(np.int64)
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo.astype(np.int64) - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return starts + np.arange(total, dtype=np.int64)

