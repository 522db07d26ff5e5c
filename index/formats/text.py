"""Plain text and Markdown: the file's own text, exactly as written (UTF-8, a
byte order mark stripped). Markdown's ATX headings ("## Warranty") are its
sections; a "#" line inside a fenced code block is not a heading."""

from __future__ import annotations

import re
from bisect import bisect_left

from index.formats import ConversionError, Converted, sections

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)


def convert_text(data: bytes, *, markdown: bool = False) -> Converted:
    if b"\x00" in data:  # UTF-8 text never holds a NUL byte; binary files nearly always do
        raise ConversionError("is a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConversionError(f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise ConversionError("is empty")
    return Converted(text, None, markdown_sections(text) if markdown and "#" in text else ())


def markdown_sections(text: str):
    """The sections of Markdown ``text`` under its ATX headings."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    headings = []
    for m in _HEADING.finditer(text):
        if bisect_left(fences, m.start()) % 2:   # inside a fenced block
            continue
        headings.append((len(m.group(1)), m.start(), m.group(2)))
    return sections(headings, len(text)) if headings else ()
