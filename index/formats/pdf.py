"""PDF with pypdfium2 (PDFium, bundled in the wheel): each page's text layer,
pages in order, two newlines between pages; each page is a region.

A page's text is PDFium's, character for character: PDFium's line breaks
("\\r\\n") become " \\n" and other control characters a space, so character i
of a page's text is PDFium's character i of that page, and ``char_boxes``
finds the box of every character of a citation. PDFium is not thread-safe:
everything here holds ``LOCK``.
"""

from __future__ import annotations

import re
import threading

from index.formats import ConversionError, Converted, join
from index.types import Region

LOCK = threading.Lock()
PAGE_BREAK = "\n\n"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")


def convert_pdf(data: bytes) -> Converted:
    import pypdfium2 as pdfium

    if b"%PDF-" not in data[:1024]:
        raise ConversionError("is not a PDF (it has no %PDF- header)")
    with LOCK:
        pdf = _open(data)
        try:
            texts = []
            for i in range(len(pdf)):
                page = pdf[i]
                try:
                    textpage = page.get_textpage()
                    texts.append(clean(textpage.get_text_range()))
                    textpage.close()
                except pdfium.PdfiumError as exc:
                    raise ConversionError(f"is a corrupt PDF (page {i + 1}: {exc})") from None
                finally:
                    page.close()
            try:
                title = (pdf.get_metadata_dict(skip_empty=True).get("Title") or "").strip() or None
            except (pdfium.PdfiumError, UnicodeDecodeError, ValueError):   # a title is optional
                title = None
        finally:
            pdf.close()
    if not any(t.strip() for t in texts):
        raise ConversionError("has no text layer (a scanned PDF?); docqa does not do OCR")
    text, starts = join(texts, PAGE_BREAK)
    return Converted(text, title, tuple(Region("page", str(i + 1), at, at + len(t))
                                        for i, (t, at) in enumerate(zip(texts, starts))))


def clean(text: str) -> str:
    """PDFium's text of a page, the same length: line breaks as " \\n", other
    control characters as spaces."""
    return _CONTROL.sub(" ", text.replace("\r\n", " \n").replace("\r", "\n"))


def _open(source):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ConversionError("is an encrypted PDF; docqa cannot read it without its "
                                  "password") from None
        raise ConversionError(f"is a corrupt or truncated PDF ({exc})") from None


def char_boxes(path: str, page: int, first: int, last: int):
    """``(width, height, boxes)`` of page ``page`` (from 1) of the PDF at
    ``path``: its size in points, and the boxes ``(left, bottom, right, top)``
    (PDF points, origin bottom left) of its characters ``[first, last)``
    (offsets into the page's text), empty boxes (line breaks) left out."""
    with LOCK:
        pdf = _open(path)
        try:
            p = pdf[page - 1]
            width, height = p.get_size()
            textpage = p.get_textpage()
            n = textpage.count_chars()
            boxes = []
            for i in range(max(0, first), min(last, n)):
                left, bottom, right, top = textpage.get_charbox(i)
                if right > left and top > bottom:
                    boxes.append((left, bottom, right, top))
            textpage.close()
            p.close()
        finally:
            pdf.close()
    return width, height, boxes


def render_page(path: str, page: int, *, scale: float = 1.5):
    """Page ``page`` (from 1) of the PDF at ``path`` as a PIL image, ``scale``
    pixels per point."""
    with LOCK:
        pdf = _open(path)
        try:
            p = pdf[page - 1]
            image = p.render(scale=scale).to_pil()
            p.close()
        finally:
            pdf.close()
    return image
