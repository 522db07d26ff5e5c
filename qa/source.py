"""The cited place as it looks in its source file: for an answer from a PDF,
a picture of its page with the boxes of the answer's characters, so a
viewer can draw the highlight where the reader will see it."""

from __future__ import annotations

import base64
import io
import logging
import os
from dataclasses import dataclass

from index.types import Document
from qa.types import Answer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PagePicture:
    page: int                 # from 1
    png: bytes                # the page, rendered
    width: float              # the page's size in PDF points
    height: float
    # The answer's highlight: one (left, top, right, bottom) per line of it, as
    # fractions of the page's width and height from its top left corner.
    boxes: tuple[tuple[float, float, float, float], ...]

    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def page_picture(answer: Answer, doc: Document, *, scale: float = 1.5) -> PagePicture | None:
    """The page ``answer`` is on, rendered at ``scale`` pixels per point,
    with its highlight; None when the answer is not from a PDF, or the PDF is
    no longer where it was indexed from (or has changed size since: its
    characters might have moved)."""
    if answer.page is None or not doc.path:
        return None
    region = next((r for r in doc.regions if r.kind == "page" and r.label == str(answer.page)), None)
    try:
        if region is None or os.path.getsize(doc.path) != doc.size:
            return None
        from index.formats.pdf import char_boxes, render_page

        width, height, boxes = char_boxes(doc.path, answer.page, answer.start - region.start,
                                          answer.end - region.start)
        image = render_page(doc.path, answer.page, scale=scale)
    except (OSError, ValueError, RuntimeError) as exc:   # gone, unreadable, no longer a PDF PDFium opens
        log.warning("Cannot show page %s of %s: %s", answer.page, doc.path, exc)
        return None
    out = io.BytesIO()
    image.save(out, format="PNG")
    return PagePicture(answer.page, out.getvalue(), width, height, tuple(_lines(boxes, width, height)))


def _lines(boxes, width: float, height: float):
    """Character boxes (PDF points, origin bottom left) merged line by line
    into fractions of the page from its top left."""
    lines: list[list[float]] = []
    for left, bottom, right, top in boxes:
        line = next((ln for ln in lines if min(top, ln[3]) - max(bottom, ln[1]) > 0.5 * (top - bottom)), None)
        if line is None:
            lines.append([left, bottom, right, top])
        else:
            line[:] = [min(line[0], left), min(line[1], bottom), max(line[2], right), max(line[3], top)]
    for left, bottom, right, top in lines:
        yield (left / width, 1 - top / height, right / width, 1 - bottom / height)
