"""Word (.docx) with python-docx: paragraphs and tables in body order, a
blank line between paragraphs, tables row by row (cells separated by tabs).
Paragraphs styled "Heading N" (or "Title") are the sections. The title is
the document's own (core properties), else its "Title" paragraph, else its
first heading. The archive's size is checked before python-docx opens it."""

from __future__ import annotations

import io
import re

from index.formats import ConversionError, Converted, join, open_zip, read_member, sections

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def convert_docx(data: bytes) -> Converted:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    archive = open_zip(data, "Word (.docx)")
    read_member(archive, "word/document.xml", "Word (.docx)")   # present and readable
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:   # python-docx raises many kinds (KeyError, XMLSyntaxError, ValueError...)
        raise ConversionError(f"is a corrupt Word (.docx) file ({type(exc).__name__}: {exc})") from None
    blocks: list[str] = []
    levels: list[int] = []    # per block: its heading level, 0 for none
    title = (document.core_properties.title or "").strip()
    title_para = ""

    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(child, document)
            text = p.text.strip()
            if not text:
                continue
            style = ((p.style.name if p.style is not None else "") or "").strip()
            m = _HEADING_STYLE.match(style)
            blocks.append(text)
            levels.append(int(m.group(1)) if m else 0)
            if not m and style.lower() == "title" and not title_para:
                title_para = text
        elif tag == "tbl":
            rows = []
            for row in Table(child, document).rows:
                cells, seen = [], set()
                for cell in row.cells:
                    if id(cell._tc) in seen:   # a merged cell is repeated per grid column
                        continue
                    seen.add(id(cell._tc))
                    cells.append(" ".join(cell.text.split()))
                if any(cells):
                    rows.append("\t".join(cells))
            if rows:
                blocks.append("\n".join(rows))
                levels.append(0)
    text, starts = join(blocks, "\n\n")
    headings = [(level, start, block) for level, start, block in zip(levels, starts, blocks) if level]
    if not text.strip():
        raise ConversionError("has no text")
    title = title or title_para or next((h for _, _, h in headings), "")
    return Converted(text, title or None, sections(headings, len(text)))
