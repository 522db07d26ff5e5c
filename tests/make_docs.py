"""Documents of every format, made by the tests themselves: PDFs with fpdf2,
DOCX with python-docx, EPUB with zipfile, HTML as text. Each returns bytes."""

from __future__ import annotations

import io
import os
import zipfile

import matplotlib

# A Unicode TrueType font that ships with matplotlib (a dependency), for non-ASCII pages.
UNICODE_FONT = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")


def pdf(pages: list, *, title: str | None = None, password: str | None = None) -> bytes:
    """A PDF with one page per entry of ``pages``. An entry is a string (one
    column of text), ``("columns", left, right)`` (two columns side by side),
    ``("table", header, rows, after)`` (a table, then a paragraph), or
    ``("image",)`` (a picture and no text: a scanned page)."""
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_auto_page_break(True, margin=15)
    doc.add_font("dejavu", fname=UNICODE_FONT)
    doc.set_font("dejavu", size=11)
    if title:
        doc.set_title(title)
    for page in pages:
        doc.add_page()
        if isinstance(page, str):
            doc.multi_cell(0, 6, page)
        elif page[0] == "columns":
            _, left, right = page
            top = doc.get_y()
            doc.set_xy(10, top)
            doc.multi_cell(90, 6, left)
            doc.set_xy(110, top)
            doc.multi_cell(90, 6, right)
        elif page[0] == "table":
            _, header, rows, after = page
            with doc.table(first_row_as_headings=False) as table:
                for row in [header, *rows]:
                    cells = table.row()
                    for value in row:
                        cells.cell(value)
            doc.ln(4)
            doc.multi_cell(0, 6, after)
        elif page[0] == "image":
            from PIL import Image

            picture = Image.new("RGB", (200, 100), (200, 200, 200))
            doc.image(picture, x=20, y=20, w=120)
    if password:
        from fpdf.enums import EncryptionMethod

        doc.set_encryption(owner_password=password + "-owner", user_password=password,
                           encryption_method=EncryptionMethod.RC4)
    return bytes(doc.output())


def docx(blocks: list, *, title: str | None = None) -> bytes:
    """A Word file: each block is ``("heading", level, text)``, ``("p", text)``
    or ``("table", rows)``."""
    import docx as python_docx

    doc = python_docx.Document()
    if title:
        doc.core_properties.title = title
    for block in blocks:
        if block[0] == "heading":
            doc.add_heading(block[2], level=block[1])
        elif block[0] == "p":
            doc.add_paragraph(block[1])
        elif block[0] == "table":
            rows = block[1]
            table = doc.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def epub(chapters: list[tuple[str, str]], *, title: str = "A Book") -> bytes:
    """An EPUB 3 whose spine holds ``chapters``: ``(heading, body HTML)``
    each; the manifest lists them in reverse, so only the spine gives the order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", (
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            '</rootfiles></container>'))
        items = "".join(f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>'
                        for i in reversed(range(len(chapters))))
        spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
        z.writestr("OEBPS/content.opf", (
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
            f'</metadata><manifest>{items}</manifest><spine>{spine}</spine></package>'))
        for i, (heading, body) in enumerate(chapters):
            z.writestr(f"OEBPS/text/ch{i}.xhtml", (
                '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                f'<head><title>{heading}</title></head><body><h1>{heading}</h1>{body}</body></html>'))
    return out.getvalue()


def zip_bomb(member: str, size: int, *, extra: dict[str, str] | None = None) -> bytes:
    """A zip archive holding ``member``: ``size`` zero bytes, deflated to almost nothing."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in (extra or {}).items():
            z.writestr(name, text)
        with z.open(member, "w", force_zip64=True) as f:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(block)
    return out.getvalue()


BAD_FILES = ("locked.pdf", "scan.pdf", "cut.pdf", "notes.pdf", "fake.docx", "fake.epub", "image.html",
             "empty.html", "cut.docx", "bomb.docx", "bomb.epub")
BOMB_LIMIT = 8 * 1000 * 1000   # the tests set index.formats.MAX_UNPACKED_BYTES to this


def bad_files() -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, what the one-line error says of it), for every kind
    of file docqa refuses (issue 13). The bombs assume ``BOMB_LIMIT``."""
    good = pdf(["Some text on a page."])
    return {
        "locked.pdf": (pdf(["secret"], password="pw"),
                       "is an encrypted PDF; docqa cannot read it without its password"),
        "scan.pdf": (pdf([("image",)]), "has no text layer (a scanned PDF?); docqa does not do OCR"),
        "cut.pdf": (good[:len(good) // 2], "is a corrupt or truncated PDF"),
        "notes.pdf": (b"These are plain notes, not a PDF.", "is not a PDF"),
        "fake.docx": (good, "is a PDF, not a Word (.docx) file as its name says"),
        "fake.epub": (docx([("p", "x")]), "is not a valid EPUB file (it has no META-INF/container.xml)"),
        "image.html": (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "is a PNG image, not HTML as its name says"),
        "empty.html": (b"<html><head><title>T</title><script>x()</script></head><body> </body></html>",
                       "has no visible text"),
        "cut.docx": (docx([("p", "Some text.")])[:300], "is a corrupt or truncated Word (.docx) file"),
        # The limit is BOMB_LIMIT here, 256 MiB in use.
        "bomb.docx": (zip_bomb("word/document.xml", 12 << 20),
                      "unpacks to 13 MB, over the limit of 8 MB: a zip bomb, or too large to read"),
        "bomb.epub": (zip_bomb("OEBPS/ch1.xhtml", 12 << 20,
                             extra={"META-INF/container.xml": "<container/>"}),
                      "unpacks to 13 MB, over the limit of 8 MB"),
    }
