"""The index on disk, in one import: the format and its manifest
(``index.manifest``, ``index.tables``), building and staleness
(``index.build``), and search over a loaded index (``index.search``)."""

from __future__ import annotations

import os
from pathlib import Path

from index.build import EMBED_BATCH, Previous, build_index, check_writable_path, open_index, stale_reason
from index.manifest import (CALIBRATION, FORMAT_VERSION, MANIFEST, OWN_FILES, Manifest,
                            read_manifest)
from index.search import SEARCH_SETTINGS, Index, load_index

__all__ = ["CALIBRATION", "EMBED_BATCH", "FORMAT_VERSION", "MANIFEST", "OWN_FILES", "SEARCH_SETTINGS",
           "Index", "Manifest", "Previous", "build_index", "check_writable_path", "disk_usage",
           "load_index", "open_index", "read_manifest", "stale_reason"]


def disk_usage(folder: Path) -> int:
    """Bytes of the files in ``folder`` and below (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
