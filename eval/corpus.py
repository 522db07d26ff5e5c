"""Large corpora of real English text that every machine has offline: the
docstrings of the installed Python modules (the standard library, then the
virtual environment's packages), for the benchmark's scaling series.

Each module with enough prose becomes one ``.txt`` document: its dotted name
as a title, then its module, class and function docstrings as paragraphs. The
bundled article comes first, so the dev questions still have their answers.

    >>> from eval.corpus import write_corpus
    >>> info = write_corpus(Path("/tmp/corpus-2400"), 2400)   # >= 2,400 chunks
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

from index.chunk import chunk_document
from index.ingest import load_documents
from qa import IndexConfig, InputError
from qa.api import BUNDLED

MIN_DOCSTRING = 120      # characters: shorter ones are mostly one-line signatures
MIN_DOCUMENT = 1_000     # characters of docstrings for a module to become a document
MAX_SOURCE = 2_000_000   # bytes: skip generated giants
SOURCE = ("the documents asked for (default: the bundled article), then the docstrings of the "
          "installed Python modules (standard library, then site-packages, in path order; "
          "ASCII docstrings of >= 120 characters, modules with >= 1,000 characters of them, "
          "identical texts once), one .txt document per module, until the chunks are enough")


def source_roots() -> list[Path]:
    """Where the modules are: the standard library, then this environment's packages."""
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"]), Path(paths["purelib"])]
    return [r for i, r in enumerate(roots) if r.is_dir() and r not in roots[:i]]


def module_texts(roots: list[Path] | None = None) -> Iterator[tuple[str, str]]:
    """``(dotted module name, text)`` for each module with enough docstring prose,
    in a fixed order (roots in turn, paths sorted). Identical texts appear once."""
    seen: set[str] = set()
    for root in roots if roots is not None else source_roots():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            if any(part in ("test", "tests", "idlelib", "site-packages") or part.startswith(".")
                   for part in rel.parts[:-1]):
                continue
            text = _docstrings(path)
            if len(text) < MIN_DOCUMENT:
                continue
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            yield name, f"{name}\n\n{text}\n"


def _docstrings(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_SOURCE:
            return ""
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
        return ""
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and len(doc) >= MIN_DOCSTRING and doc.isascii() and _printable(doc):
                parts.append(doc.strip())
    return "\n\n".join(parts)


def _printable(text: str) -> bool:
    """No control characters but line breaks and tabs (a docstring can hold a
    NUL, which makes the file binary)."""
    return all(ch >= " " or ch in "\n\t" for ch in text)


def write_corpus(folder: Path, min_chunks: int, *, config: IndexConfig | None = None,
                 first: list[Path] | None = None, roots: list[Path] | None = None) -> dict:
    """Write a corpus of at least ``min_chunks`` chunks (as ``config`` cuts them) to
    ``folder``: the ``first`` files (default: the bundled article), then module
    docstrings. Atomic: built beside ``folder``, renamed into place. An existing
    ``folder`` written by an earlier call with the same arguments is kept as is.
    Returns what it holds: ``{"documents", "chunks", "bytes", "source"}``.
    Raises ``ValueError`` when the installed modules hold too little text."""
    config = config if config is not None else IndexConfig()
    first = list(first) if first is not None else [BUNDLED]
    folder = Path(folder)
    marker = folder / ".corpus"
    key = f"{min_chunks} {config.chunk_size} {config.chunk_overlap} {[str(p) for p in first]}"
    if marker.is_file() and marker.read_text().splitlines()[0] == key:
        return _describe(folder, config)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        chunks = 0
        for i, path in enumerate(first):
            shutil.copyfile(path, tmp / f"{i:05d}-{Path(path).name}")
        for doc in load_documents([tmp]):
            chunks += _chunk_count(doc, config)
        for i, (name, text) in enumerate(module_texts(roots), start=len(first)):
            if chunks >= min_chunks:
                break
            path = tmp / f"{i:05d}-{name[:80]}.txt"
            path.write_text(text, encoding="utf-8")
            chunks += _chunk_count(load_documents([path])[0], config)
        if chunks < min_chunks:
            raise InputError(f"the installed modules hold only {chunks:,} chunks of docstrings, "
                             f"fewer than the {min_chunks:,} asked for")
        (tmp / ".corpus").write_text(f"{key}\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _describe(folder, config)


def _chunk_count(doc, config: IndexConfig) -> int:
    return len(chunk_document(doc, config.chunk_size, config.chunk_overlap))


def _describe(folder: Path, config: IndexConfig) -> dict:
    documents = load_documents([folder])
    return {
        "documents": len(documents),
        "chunks": sum(_chunk_count(d, config) for d in documents),
        "bytes": sum(d.size for d in documents),
        "source": SOURCE,
    }
