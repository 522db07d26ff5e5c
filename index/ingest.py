"""Read source files into ``Document``s, exactly as written (offsets point into them)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from index.errors import IngestError
from index.types import Document

SUFFIXES = (".txt", ".md", ".markdown")
# Longer first lines are paragraphs, not titles.
MAX_TITLE_CHARS = 100
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def load_documents(paths: list[str | Path], *, max_bytes: int | None = None) -> list[Document]:
    """Read every ``.txt``/``.md`` file named in ``paths`` (folders recursively).

    A file's ``doc_id`` is its path relative to the folder it was found in
    (POSIX separators), or its file name when given directly. Documents come
    back sorted by ``doc_id``. Raises ``IngestError`` naming the first file
    that cannot be used: a missing path, a binary or non-UTF-8 file, an
    empty file, an unsupported suffix, two files with the same ``doc_id``, or
    (when ``max_bytes`` is given) a file larger than ``max_bytes``.

    >>> [d.doc_id for d in load_documents(["data/"])]
    ['china-kazakhstan.txt']
    """
    if not paths:
        raise IngestError("no documents given")
    found: dict[str, Document] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise IngestError(f"no such file or folder: {str(raw)!r}")
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                raise IngestError(f"no .txt or .md files in folder {str(raw)!r}")
            pairs = [(p.relative_to(path).as_posix(), p) for p in files]
        else:
            if path.suffix.lower() not in SUFFIXES:
                raise IngestError(
                    f"unsupported file type {path.suffix or '(none)'!r} for {str(raw)!r}: "
                    f"use {', '.join(SUFFIXES)}"
                )
            pairs = [(path.name, path)]
        for doc_id, file in pairs:
            if doc_id in found:
                raise IngestError(
                    f"two documents share the id {doc_id!r}: {found[doc_id].path} and {file.resolve()}"
                )
            found[doc_id] = read_document(file, doc_id, max_bytes=max_bytes)
    return [found[k] for k in sorted(found)]


def read_document(path: Path, doc_id: str, *, max_bytes: int | None = None) -> Document:
    """Read one file as a ``Document``; ``IngestError`` names the file when it cannot."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise IngestError(
                f"{str(path)!r} is {_megabytes(size)}; the limit is {_megabytes(max_bytes)} per file")
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if b"\x00" in data:  # UTF-8 text never holds a NUL byte; binary files nearly always do
        raise IngestError(f"{str(path)!r} is a binary file, not text")
    try:
        # utf-8-sig strips a UTF-8 byte order mark and nothing else.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{str(path)!r} is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    if not text.strip():
        raise IngestError(f"{str(path)!r} is empty")
    return Document(
        doc_id=doc_id,
        title=title_of(text, fallback=path.name),
        text=text,
        path=str(path.resolve()),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        size=len(data),
    )


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def title_of(text: str, fallback: str) -> str:
    """The first Markdown heading, else a short first line, else ``fallback``."""
    heading = _HEADING.search(text)
    if heading:
        return heading.group(1).strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first and len(first) <= MAX_TITLE_CHARS:
        return first
    return fallback
