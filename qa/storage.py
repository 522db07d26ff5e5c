"""Where ``qa`` keeps things beside an index: the per-user cache folder and its
naming, and the abstention threshold calibrated for an index
(``calibration.json``, written by ``python -m eval --calibrate``). The index
folder's own files are ``index``'s (``index.manifest`` lists them)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from index.errors import IndexNotFoundError
from index.files import write_json_atomic
from index.store import CALIBRATION

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """The per-user folder of cached indexes (``~/.cache/docqa/indexes`` on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("docqa")) / "indexes"


def read_calibration(folder: Path) -> dict | None:
    """The calibration stored with the index in ``folder`` (``{"threshold": t, ...}``),
    or None when there is none or it is unreadable (logged)."""
    path = Path(folder) / CALIBRATION
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        threshold = float(data["threshold"])
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is outside [0, 1]")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("Ignoring %s: %s.", path, exc)
        return None
    return {**data, "threshold": threshold}


def write_calibration(folder: Path, data: dict) -> None:
    """Write ``data`` as the index's calibration, atomically (temp file, then
    rename). Raises ``WriteError`` naming the file when it cannot be written."""
    write_json_atomic(Path(folder) / CALIBRATION, data)


def index_dir_for(paths: list[str | Path]) -> Path:
    """Where the index of ``paths`` lives when no folder is given:
    ``$QA_INDEX_DIR``, else a per-user cache folder named after the paths."""
    env = os.environ.get("QA_INDEX_DIR")
    return Path(env) if env else default_index_dir(cache_root(), paths)


def no_index(folder: Path) -> IndexNotFoundError:
    """The error for a folder with no index, saying how to build one."""
    return IndexNotFoundError(f"no index at {str(folder)!r}: build one with "
                              f"python -m qa index PATH ... --index-dir {str(folder)!r}")


def default_index_dir(cache_root: Path, paths: list[str | Path]) -> Path:
    """A folder under ``cache_root`` named after the sources, one per set of paths."""
    resolved = sorted(str(Path(p).expanduser().resolve()) for p in paths)
    # surrogatepass: a path may hold undecodable bytes, as surrogates
    key = hashlib.sha256("\n".join(resolved).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in Path(resolved[0]).stem)[:40]
    return Path(cache_root) / f"{stem}-{key}"
