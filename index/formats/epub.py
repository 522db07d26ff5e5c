"""EPUB with the standard library's zipfile and the HTML converter (not
EbookLib, which is AGPL): the chapters in spine order, two blank lines
apart. Each chapter is a section named by its first heading (or its
``<title>``, or "Chapter N"); the headings inside it are sections under it.
The archive's size is checked before anything is unpacked."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from index.formats import ConversionError, Converted, join, open_zip, read_member, sections
from index.types import Region

_WHAT = "EPUB"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_HTML_TYPES = ("application/xhtml+xml", "text/html")


def convert_epub(data: bytes) -> Converted:
    from selectolax.lexbor import LexborHTMLParser

    from index.formats.html import decode, visible_text

    archive = open_zip(data, _WHAT)
    container = _xml(read_member(archive, "META-INF/container.xml", _WHAT), "META-INF/container.xml")
    rootfile = container.find(f".//{_CONTAINER}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise ConversionError("is not a valid EPUB file (its container names no package file)")
    opf_path = rootfile.get("full-path")
    opf = _xml(read_member(archive, opf_path, _WHAT), opf_path)
    base = posixpath.dirname(opf_path)
    items = {i.get("id"): i for i in opf.iter(f"{_OPF}item")}
    found = opf.find(f".//{_DC}title")
    book_title = " ".join("".join(found.itertext()).split()) if found is not None else ""
    chapters: list[tuple[str, str, list]] = []   # (name, text, headings)
    for n, ref in enumerate(opf.iter(f"{_OPF}itemref")):
        item = items.get(ref.get("idref"))
        if item is None or item.get("media-type") not in _HTML_TYPES:
            continue
        name = posixpath.normpath(posixpath.join(base, unquote(item.get("href", ""))))
        tree = LexborHTMLParser(decode(read_member(archive, name, _WHAT), "XHTML"))
        text, headings = visible_text(tree.body or tree.root)
        if not text.strip():
            continue
        title_node = tree.css_first("title")
        chapter = (headings[0][2] if headings else "") or \
            (" ".join(title_node.text().split()) if title_node is not None else "") or f"Chapter {n + 1}"
        chapters.append((chapter, text, headings))
    text, starts = join([t for _, t, _ in chapters], "\n\n\n")
    regions: list[Region] = []
    for (chapter, chapter_text, headings), at in zip(chapters, starts):
        regions.append(Region("section", chapter, at, at + len(chapter_text)))
        for r in sections(headings, len(chapter_text)):
            # The chapter's own heading names the chapter; the ones under it nest in it.
            label = r.label if r.label == chapter or r.label.startswith(chapter + " › ") \
                else f"{chapter} › {r.label}"
            if label != chapter:
                regions.append(Region("section", label, at + r.start, at + r.end))
    if not text.strip():
        raise ConversionError("has no text in its chapters")
    return Converted(text, book_title or None, tuple(sorted(regions, key=lambda r: (r.start, -r.end))))


def _xml(data: bytes, name: str):
    if b"<!ENTITY" in data:   # entity expansion: the "billion laughs"; EPUBs never need it
        raise ConversionError(f"is not a safe EPUB file ({name} declares entities)")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConversionError(f"is a corrupt EPUB file ({name}: {exc})") from None
