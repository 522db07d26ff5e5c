"""Candidate answer spans inside a sentence, found by pattern and labelled with a kind.

Kinds: ``money``, ``percent``, ``date``, ``number`` and ``name`` (a capitalised
phrase: person, organisation or place). Offsets are relative to the sentence
text passed in; the reader shifts them into the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUAL = (r"(?:(?:more|less|fewer) than|over|under|about|around|approximately|almost|nearly"
         r"|roughly|up to|at least|at most|some|only|just|nearly|below|above)\s+")
_NUM = r"\d+(?:[.,]\d+)*"
# "bn", "m", "k" are scales only glued to the number ("£304m", "$2bn").
_SCALE = r"(?:\s*(?:trillion|billion|million|thousand|hundred|mln)\b|(?:bn|tn|m|k)\b)"
_CURRENCY_WORDS = (r"(?:(?:US|U\.S\.|American|Hong Kong|Canadian|Australian)\s+)?"
                   r"(?:dollars?|euros?|pounds?(?: sterling)?|yuan|renminbi|rubles?|roubles?|tenge"
                   r"|yen|rupees?|francs?|marks?|USD|EUR|GBP|CNY|RMB|KZT)\b")
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November"
          r"|December|Jan\.|Feb\.|Mar\.|Apr\.|Jun\.|Jul\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)")
_NUMBER_WORDS = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
                 r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty"
                 r"|fifty|sixty|seventy|eighty|ninety|hundred|thousand|dozen|dozens|hundreds"
                 r"|thousands|millions|billions)")

_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("money", re.compile(
        rf"(?:{_QUAL})?(?:(?:US|U\.S\.)?[$€£¥]\s?{_NUM}{_SCALE}?(?:\s+{_CURRENCY_WORDS})?"
        rf"|{_NUM}{_SCALE}?\s+{_CURRENCY_WORDS})", re.I)),
    ("percent", re.compile(
        rf"(?:{_QUAL})?(?:{_NUM}\s?(?:%|percent\b|per cent\b|percentage points?\b)"
        r"|(?:a|one|two|three)[\s-](?:third|quarter|fifth|tenth)s?\b|\bhalf\b)", re.I)),
    ("date", re.compile(
        rf"(?:\b\d{{1,2}}\s+{_MONTH}(?:,?\s+\d{{4}})?|{_MONTH}(?:\s+\d{{1,2}}(?:st|nd|rd|th)?\b)?"
        rf"(?:,?\s+\d{{4}})?|\b(?:early|mid|late)[\s-]\d{{4}}s?\b|\b\d{{1,2}}(?:st|nd|rd|th)"
        r"\s+(?:and\s+\d{1,2}(?:st|nd|rd|th)\s+)?centur(?:y|ies)\b|\b(?:1[0-9]|20)\d\d(?:s\b|\b)"
        r"|\b(?:a few|several|many|some|\d+|two|three|four|five|ten)\s+(?:years?|months?|decades?"
        r"|weeks?|days?|centuries)\s+ago\b|\b(?:last|next|this)\s+(?:year|month|decade|century)\b)")),
    ("number", re.compile(
        rf"(?:{_QUAL})?(?:(?<![\w/-]){_NUM}{_SCALE}?|\b{_NUMBER_WORDS}(?:[\s-]{_NUMBER_WORDS})*\b)", re.I)),
]

# A capitalised word: "Kassym-Jomart", "EXIM", "O’Neill", "U.S."; connectors may
# join two of them ("Bank of China", "Douglas & Sarah Allison Foundation").
_CAP = r"(?:[A-Z][\w’'\-]*\w|[A-Z](?:\.[A-Z])+\.?|[A-Z])"
_NAME = re.compile(rf"{_CAP}(?:(?:\s+(?:of|the|for|and|&|de|du|da|del|van|von|der|al|bin|el|la|le))*"
                   rf"\s+{_CAP})*")
# Capitalised only because they open a sentence or clause; never a name on their own.
_NOT_NAMES = frozenset("""a an the this that these those it its in on at of to for by with from as
and or but if when while since after before during although though however thus therefore
between among under over into through across against toward towards upon within near via
also moreover furthermore meanwhile according established with without despite there here
some many most all each every both other another such what which who whom whose where why how
is are was were be been has have had do does did will would can could should may might must
we they he she i you our their his her my your us them one two first second new""".split())


@dataclass(frozen=True)
class Span:
    kind: str
    start: int   # [start, end) in the sentence text
    end: int
    text: str


def find_spans(text: str) -> list[Span]:
    """Every candidate span in ``text``, by kind; an amount of money is not also
    listed as a bare number, nor a year as a number.

    >>> [(s.kind, s.text) for s in find_spans("The Bank of China lent $13.9 billion in 2013.")]
    [('money', '$13.9 billion'), ('date', '2013'), ('name', 'Bank of China')]
    """
    spans: list[Span] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            s, e = m.span()
            if s == e or any(s < te and ts < e for ts, te in taken):
                continue
            spans.append(Span(kind, s, e, m.group()))
            taken.append((s, e))
    for m in _NAME.finditer(text):
        spans += _name_spans(text, m.start(), m.end(), taken)
    return spans


def _name_spans(text: str, s: int, e: int, taken: list[tuple[int, int]]) -> list[Span]:
    words = list(re.finditer(r"\S+", text[s:e]))
    # Drop leading words that are capitalised only by position ("According", "The").
    while words and words[0].group().lower().strip("’'") in _NOT_NAMES:
        words.pop(0)
    # A trailing connector or lone initial-free stop word cannot end a name.
    while words and words[-1].group().lower() in _NOT_NAMES:
        words.pop()
    if not words:
        return []
    s, e = s + words[0].start(), s + words[-1].end()
    if any(s < te and ts < e for ts, te in taken):
        return []
    out = [Span("name", s, e, text[s:e])]
    # "Atyrau and Shymkent" is also offered as its parts ("&" stays inside names:
    # "Douglas & Sarah Allison Foundation").
    if " and " in text[s:e]:
        pos = s
        for piece in re.split(r"\s+and\s+", text[s:e]):
            ps = text.index(piece, pos)
            pos = ps + len(piece)
            if piece[:1].isupper() and piece.lower() not in _NOT_NAMES:
                out.append(Span("name", ps, pos, piece))
    return out
