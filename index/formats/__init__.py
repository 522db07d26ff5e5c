"""Files of each format turned into the text docqa indexes and cites, with
the pages and sections a citation names (``index.types.Region``).

One module per format: ``text`` (.txt, and .md with its headings as
sections), ``pdf`` (pypdfium2), ``html`` (selectolax), ``docx``
(python-docx) and ``epub`` (zipfile + the HTML converter). Each takes the
file's bytes and returns a ``Converted``; a file it cannot read raises
``ConversionError``, whose message ``index.ingest`` puts after the file's
name. A converter checks that the bytes are what the suffix says, so a file
whose extension lies gets a message, not garbage.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from index.types import Region

# Suffix -> format name; the modules are imported when a file of theirs is read.
FORMATS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".pdf": "pdf",
           ".html": "html", ".htm": "html", ".docx": "docx", ".epub": "epub"}
SUFFIXES = tuple(FORMATS)
# A DOCX or EPUB may unpack to at most this much (a zip bomb unpacks to gigabytes).
MAX_UNPACKED_BYTES = 256 * 1024 * 1024


class ConversionError(ValueError):
    """A file that cannot be converted; the message completes "'FILE' ...", e.g.
    "is an encrypted PDF"."""


@dataclass(frozen=True)
class Converted:
    text: str
    title: str | None                 # None: ``index.ingest`` picks one from the text
    regions: tuple[Region, ...] = ()


# What a file's first bytes say it is, to catch an extension that lies.
_MAGIC = ((b"%PDF-", "a PDF"), (b"PK\x03\x04", "a zip archive"), (b"\x89PNG", "a PNG image"),
          (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"\xd0\xcf\x11\xe0", "an old Office (OLE) file"))
_EXPECTED = {"pdf": "a PDF", "docx": "a zip archive", "epub": "a zip archive"}
_NAMES = {"pdf": "a PDF", "docx": "a Word (.docx) file", "epub": "an EPUB file", "html": "HTML",
          "text": "text", "markdown": "text"}


def sniff(data: bytes) -> str | None:
    """What the first bytes of ``data`` say it is ("a PDF", "a zip archive"...), or None."""
    head = data[:8]
    return next((what for magic, what in _MAGIC if head.startswith(magic)), None)


def convert(data: bytes, fmt: str) -> Converted:
    """``data`` (a whole file) of format ``fmt`` (a value of ``FORMATS``)."""
    found = sniff(data)
    if found is None and fmt == "pdf" and b"%PDF-" in data[:1024]:
        found = "a PDF"        # a header after some junk is still a PDF to PDFium
    if found != _EXPECTED.get(fmt) and (found is not None or fmt in _EXPECTED):
        raise ConversionError(f"is {found or 'not ' + _NAMES[fmt]}"
                              f"{', not ' + _NAMES[fmt] + ' as its name says' if found else ''}")
    if fmt == "pdf":
        from index.formats.pdf import convert_pdf
        return convert_pdf(data)
    if fmt == "html":
        from index.formats.html import convert_html
        return convert_html(data)
    if fmt == "docx":
        from index.formats.docx import convert_docx
        return convert_docx(data)
    if fmt == "epub":
        from index.formats.epub import convert_epub
        return convert_epub(data)
    from index.formats.text import convert_text
    return convert_text(data, markdown=fmt == "markdown")


def open_zip(data: bytes, what: str, *, limit: int | None = None) -> zipfile.ZipFile:
    """``data`` as a zip archive, refusing one that is not a zip, is corrupt,
    or unpacks to more than ``limit`` bytes (``MAX_UNPACKED_BYTES``)."""
    limit = MAX_UNPACKED_BYTES if limit is None else limit
    if not data.startswith(b"PK"):
        raise ConversionError(f"is not a valid {what} file (it is not a zip archive)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ConversionError(f"is a corrupt or truncated {what} file ({exc})") from None
    if total > limit:
        raise ConversionError(f"unpacks to {total / 1e6:,.0f} MB, over the limit of "
                              f"{limit / 1e6:,.0f} MB: a zip bomb, or too large to read")
    return archive


def read_member(archive: zipfile.ZipFile, name: str, what: str) -> bytes:
    """One file of ``archive``; a corrupt member is a ``ConversionError``.
    What a member really unpacks to is capped as well as what it declares."""
    try:
        info = archive.getinfo(name)
        with archive.open(info) as f:
            data = f.read(info.file_size + 1)
    except KeyError:
        raise ConversionError(f"is not a valid {what} file (it has no {name})") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ConversionError(f"is a corrupt or truncated {what} file ({exc})") from None
    if len(data) > info.file_size:
        raise ConversionError(f"is a corrupt {what} file ({name} is larger than it says)")
    return data


def join(blocks: list[str], separator: str) -> tuple[str, list[int]]:
    """``separator.join(blocks)`` and where each block starts in it."""
    starts, at = [], 0
    for block in blocks:
        starts.append(at)
        at += len(block) + len(separator)
    return separator.join(blocks), starts


def sections(headings: list[tuple[int, int, str]], end: int) -> tuple[Region, ...]:
    """Section regions from ``(level, start, heading text)`` in order: each
    section runs from its heading to the next heading of the same or a higher
    level (or ``end``), and is labelled with the path of headings above it."""
    out: list[Region] = []
    stack: list[tuple[int, str]] = []    # (level, text) of the open headings
    open_at: list[int] = []              # the start of each open heading, in stack order
    for level, start, text in headings:
        while stack and stack[-1][0] >= level:
            out.append(Region("section", _path(stack), open_at.pop(), start))
            stack.pop()
        stack.append((level, text))
        open_at.append(start)
    while stack:
        out.append(Region("section", _path(stack), open_at.pop(), end))
        stack.pop()
    return tuple(sorted(out, key=lambda r: (r.start, -r.end)))


def _path(stack: list[tuple[int, str]]) -> str:
    return " › ".join(" ".join(t.split()) for _, t in stack)
