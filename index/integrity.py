"""Checksums of an index's files, so damage inside a file's data is caught.

The manifest records each file's size and CRC-32 (``file_records``, at build
time). Opening an index checks every file's size, and the checksums of its
files, smallest first, up to ``VERIFY_ON_OPEN_BYTES`` in all (a CRC-32 runs
at about 1 GB/s, so the bundled article's whole index takes about a
millisecond, and no open spends more than ~60 ms on it); the files past that
budget get the loader's cheap sanity checks on samples.
``verify(..., max_bytes=None)`` checks all of them (``python -m qa info --verify``).
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

VERIFY_ON_OPEN_BYTES = 64_000_000
BLOCK = 1 << 20


class DamagedFile(ValueError):
    """A file of an index does not match the manifest's record of it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name


def crc32(path: Path) -> str:
    value = 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            value = zlib.crc32(block, value)
    return f"{value:08x}"


def file_records(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, dict]:
    """``{relative path: {"bytes": n, "crc32": hex}}`` of every file under ``folder``
    but the names in ``skip`` (POSIX separators, sorted)."""
    folder = Path(folder)
    records = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name not in skip:
            records[name] = {"bytes": path.stat().st_size, "crc32": crc32(path)}
    return records


ON_OPEN = object()   # verify's default: VERIFY_ON_OPEN_BYTES as it is when called


def verify(folder: Path, records: dict | None, *, max_bytes=ON_OPEN) -> int:
    """Check the files of ``folder`` against ``records`` (from the manifest):
    every size, and the checksums of the files, smallest first, while their
    bytes add up to at most ``max_bytes`` (default ``VERIFY_ON_OPEN_BYTES``;
    None: all). Returns how many checksums were checked. Raises ``DamagedFile``
    naming the first file that is missing, of another size or damaged.
    ``records`` None (an index built before they were kept) checks nothing."""
    if not records:
        return 0
    if max_bytes is ON_OPEN:
        max_bytes = VERIFY_ON_OPEN_BYTES
    sizes = {}
    for name, record in records.items():
        try:
            size = os.stat(Path(folder) / name).st_size
        except OSError:
            raise DamagedFile(name, "it is missing") from None
        if size != record.get("bytes"):
            raise DamagedFile(name, f"it has {size:,} bytes, the manifest says {record.get('bytes'):,}")
        sizes[name] = size
    checked, spent = 0, 0
    for name in sorted(sizes, key=lambda n: (sizes[n], n)):
        spent += sizes[name]
        if max_bytes is not None and spent > max_bytes:
            break
        if crc32(Path(folder) / name) != records[name].get("crc32"):
            raise DamagedFile(name, "its checksum does not match the manifest (the file is damaged)")
        checked += 1
    return checked


SAMPLE_BLOCK = 1 << 15   # rows per block that a sampled check reads


def sample_blocks(rows: np.ndarray, block: int = SAMPLE_BLOCK) -> np.ndarray:
    """``rows`` when few; else three contiguous blocks of them, in order (head,
    middle, tail): a check of a large mapped array that reads a few pages, not
    the whole file (``verify`` with ``max_bytes=None`` checksums every byte)."""
    n = len(rows)
    if n <= 4 * block:
        return np.asarray(rows)
    mid = n // 2
    return np.concatenate([rows[:block], rows[mid:mid + block], rows[n - block:]])
