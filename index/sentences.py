"""Rule-based sentence splitting for plain-text documents (standard library only).

``split_sentences(text, start, end)`` returns half-open ``(s, e)`` character spans
into the *whole* ``text`` for the sentences of ``text[start:end]``.  Contract:

* every span is non-empty and stripped: ``text[s:e] == text[s:e].strip()``;
* spans are ordered and disjoint, and every non-whitespace character of the
  region lies in exactly one span (nothing is dropped);
* any line break ends a sentence (headings and list items stand alone);
* only ``text[start:end]`` is consulted, so splitting a region equals splitting
  that slice and shifting the spans by ``start``.

>>> t = "Mr. Li paid $13.9 billion. Why? “Go.” Done"
>>> [t[s:e] for s, e in split_sentences(t)]
['Mr. Li paid $13.9 billion.', 'Why?', '“Go.”', 'Done']
"""

from __future__ import annotations

import re

# Same set of separators str.splitlines() uses, so "no span contains a line break"
# holds for every notion of a line break.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_CLOSERS = "\"'”’»)\\]"
_OPENERS = "\"'“‘„«(["

# One match per line-break run or per terminator run.  The terminator branch
# always consumes the whole run of terminators, closers and same-line spaces, so
# matching never backtracks over long runs like "......" (linear time); whether
# the run really ends a sentence is decided in Python, once per match.
_CANDIDATE = re.compile(
    rf"(?P<nl>[{_LINE_BREAKS}]+)"
    rf"|(?P<term>[.!?…]+)[{_CLOSERS}]*(?P<ws>[^\S{_LINE_BREAKS}]*)"
)
# Dotted acronyms: U.S, e.g, i.e, a.m (the final period is the candidate itself).
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
# Never followed by a sentence break.  "etc" is deliberately absent: a lower-case
# next word already blocks the split, and "etc. The" usually is a sentence end.
_ABBREV = frozenset(
    "mr mrs ms dr prof sr jr st mt vs cf al approx inc ltd co corp ph.d gen gov sen"
    " rep rev capt col lt sgt hon dept ave blvd messrs jan feb mar apr jun jul aug"
    " sep sept oct nov dec".split()
)
# Abbreviations only before a number ("No. 5", "Fig. 3"); "No. Then ..." splits.
_NUM_ABBREV = frozenset("no nos fig figs vol art pp".split())


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Return ``(s, e)`` spans into ``text`` of the sentences in ``text[start:end]``.

    A sentence ends at a line break, or after ``. ! ? … ...`` (plus closing quotes
    or brackets) followed by white space and a next word that does not start in
    lower case.  A single period after an abbreviation, an initial, a dotted
    acronym or a list number ("1.") does not end a sentence; periods inside
    numbers never do, as they are not followed by white space.

    >>> split_sentences("He paused… Then he spoke.\\nDone")
    [(0, 10), (11, 25), (26, 30)]
    """
    start, end, _ = slice(start, end).indices(len(text))
    cuts = [start]
    for m in _CANDIDATE.finditer(text, start, end):
        if m.group("term") is None:
            cuts.append(m.start())  # a line break always ends the sentence
            continue
        nxt = m.end()
        # Need same-line space and a next character on this line; otherwise the
        # period is inside a token ("13.9", "v2.0") or a line break/end follows.
        if not m.group("ws") or nxt >= end or text[nxt] in _LINE_BREAKS:
            continue
        nc = text[nxt]
        if nc.islower():  # "Wait… what", "“Why?” he asked", "etc. and"
            continue
        i = m.start()
        if m.group("term") == ".":
            before = text[max(cuts[-1], i - 32) : i]
            word = before.split()[-1] if before and not before[-1].isspace() else ""
            core = word.lstrip(_OPENERS)
            low = core.lower()
            if (
                (len(core) == 1 and core.isalpha())  # initials: "J. R. R. Tolkien"
                or _ACRONYM.fullmatch(core)  # "U.S. Army", "e.g. 5": prefer no split
                or low in _ABBREV
                or (low in _NUM_ABBREV and nc.isdigit())
                # "1. First item": a short number opening the sentence is a marker.
                or (core.isdigit() and len(core) <= 3 and not text[cuts[-1] : i - len(word)].strip())
            ):
                continue
        cuts.append(m.start("ws"))  # cut after the closers, before the space
    cuts.append(end)

    spans = []
    for a, b in zip(cuts, cuts[1:]):
        seg = text[a:b]
        s, e = a + len(seg) - len(seg.lstrip()), a + len(seg.rstrip())
        if s < e:
            spans.append((s, e))
    return spans
