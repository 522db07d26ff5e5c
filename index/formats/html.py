"""HTML with selectolax (Lexbor): the visible text of the body, in document
order. Scripts, styles, navigation, forms and the head are left out; blocks
(paragraphs, list items, table rows, headings) are separated by line breaks,
table cells by tabs; white space is folded as a browser folds it, except in
``<pre>``. Headings h1–h6 are the sections. The title is ``<title>``, else the
first h1."""

from __future__ import annotations

import re

from index.formats import ConversionError, Converted, sections

_SKIP = frozenset("script style nav noscript template svg head iframe object canvas button select "
                  "option input textarea math".split())
_BLOCK = frozenset("p div ul ol dl dt dd table thead tbody tfoot section article header footer main "
                   "aside blockquote pre figure figcaption address form fieldset details summary "
                   "caption hr body html center".split())
_LINE = frozenset("li tr br".split())
_CELL = frozenset(("td", "th"))
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_SPACE = re.compile(r"\s+")
_RANK = {"": 0, "\t": 1, "\n": 2, "\n\n": 3}   # a stronger break wins
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)""", re.IGNORECASE)


def decode(data: bytes, what: str = "HTML") -> str:
    if b"\x00" in data:
        raise ConversionError(f"is a binary file, not {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        found = _CHARSET.search(data[:4096])
        try:
            return data.decode(found.group(1).decode("ascii") if found else "cp1252", errors="replace")
        except LookupError:
            return data.decode("cp1252", errors="replace")


def convert_html(data: bytes) -> Converted:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(decode(data))
    text, headings = visible_text(tree.body or tree.root)
    if not text.strip():
        raise ConversionError("has no visible text")
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    if not title and headings:
        title = next((h for level, _, h in headings if level == 1), "")
    return Converted(text, title or None, sections(headings, len(text)))


class _Writer:
    """Text pieces with pending breaks: a break is written only before more text."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.pending = ""       # "\n\n", "\n", "\t" or ""
        self.space = False      # a folded space waits before the next word

    def brk(self, kind: str) -> None:
        if self.length and _RANK[kind] > _RANK[self.pending]:
            self.pending = kind
        self.space = False

    def write(self, text: str, pre: bool = False) -> None:
        if not pre:
            folded = _SPACE.sub(" ", text)
            if not folded.strip():
                self.space = self.space or bool(folded)
                return
            lead, core, trail = folded[0] == " ", folded.strip(" "), folded[-1] == " "
            if (lead or self.space) and not self.pending and self.length:
                core = " " + core
            self.space = trail
            text = core
        elif not text:
            return
        if self.pending:
            self._put(self.pending)
            self.pending = ""
        self._put(text)

    def flush(self) -> int:
        """Write a pending break now; the offset where the next text goes."""
        if self.pending:
            self._put(self.pending)
            self.pending = ""
        self.space = False
        return self.length

    def _put(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def text(self) -> str:
        return "".join(self.parts)


def visible_text(root) -> tuple[str, list[tuple[int, int, str]]]:
    """The visible text under ``root`` and its headings ``(level, start, text)``."""
    w = _Writer()
    headings: list[tuple[int, int, str]] = []
    stack = [(root, False, 0)]   # (node, leaving, pre depth)
    open_heading: list[tuple[int, int, int]] = []   # (level, start offset, first piece)
    while stack:
        node, leaving, pre = stack.pop()
        tag = node.tag
        if leaving:
            if tag in _HEADINGS and open_heading:
                level, start, first_part = open_heading.pop()
                words = " ".join("".join(w.parts[first_part:]).split())
                if words:
                    headings.append((level, start, words))
                w.brk("\n\n")
            elif tag in _BLOCK:
                w.brk("\n\n" if tag in ("p", "pre", "blockquote", "table", "figure") else "\n")
            elif tag in _LINE:
                w.brk("\n")
            continue
        if tag == "-text":
            w.write(node.text_content or "", pre=pre > 0)
            continue
        if tag in _SKIP or tag.startswith("_") or tag == "-comment":
            continue
        if tag in _HEADINGS:
            w.brk("\n\n")
            open_heading.append((_HEADINGS[tag], w.flush(), len(w.parts)))
        elif tag in _BLOCK:
            w.brk("\n\n" if tag in ("p", "pre", "blockquote", "table", "figure") else "\n")
        elif tag in _LINE:
            w.brk("\n")
        elif tag in _CELL:
            w.brk("\t")
        if tag == "br":
            continue
        stack.append((node, True, pre))
        inner = pre + (tag == "pre")
        children = list(node.iter(include_text=True))
        for child in reversed(children):
            stack.append((child, False, inner))
    return w.text(), headings
