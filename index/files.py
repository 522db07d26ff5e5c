"""Writing folders and files so that a crash or a second process never leaves
half of one: temporary folders renamed into place, clean-up of the ones killed
processes left, and an exclusive lock per folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (ours or another user's)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def check_replaceable(folder: Path, own: tuple[str, ...], what: str, error=ValueError) -> None:
    """Raise ``error`` unless ``folder`` is missing, empty or holds nothing but
    the names in ``own`` (ours to replace); a folder with anyone else's files in
    it is never replaced. ``what`` names the kind of folder in the message."""
    if folder.exists() and not folder.is_dir():
        raise error(f"{what} path {str(folder)!r} is a file, not a folder")
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if p.name not in own)
        if foreign:
            raise error(f"refusing to overwrite {str(folder)!r}: it holds files that are not "
                        f"part of {'an' if what[0] in 'aeiouAEIOU' else 'a'} {what} "
                        f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})")


def temp_folder_for(folder: Path) -> Path:
    """A new, empty temporary folder beside ``folder``, named after it and this
    process (``.NAME.tmp-PID-...``), for ``swap_in`` to rename into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-{os.getpid()}-", dir=folder.parent))


def swap_in(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``, replacing (then deleting) an existing one."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(folder, old)
    os.rename(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_dead_temps(folder: Path) -> None:
    """Delete the temporary folders of ``folder`` (``temp_folder_for``, and the
    old copies ``swap_in`` makes) left by processes no longer running: a killed
    process never reaches its clean-up."""
    name = re.escape(folder.name)
    for path in folder.parent.glob(f".{folder.name}.*-*"):
        m = re.fullmatch(rf"\.{name}\.(?:tmp|old)-(\d+)-.*", path.name)
        if m and path.is_dir() and not pid_alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def folder_lock(folder: Path, what: str = "building"):
    """An exclusive lock for writing ``folder`` (POSIX; elsewhere none). The lock
    file lives in the system's temp folder, named by a hash of ``folder``'s path,
    so nothing is left beside a user's folders. A process that has to wait logs
    it once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: writes are still atomic, only not serialised
        yield
        return
    locks = Path(tempfile.gettempdir()) / "docqa-locks"
    locks.mkdir(exist_ok=True)
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:24]
    with open(locks / f"{key}.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Another process is %s %s: waiting for it.", what, folder)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
