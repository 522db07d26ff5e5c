"""Writing folders and files so that a crash or a second process never leaves
half of one: temporary folders renamed into place, clean-up of the ones killed
processes left, and an exclusive lock per folder.

A failure to write becomes one ``WriteError`` line naming the path and the
OS's reason (``write_error``), and leaves no temporary folder behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from index.errors import WriteError

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


def write_error(what: str, path: str | Path, exc: OSError) -> WriteError:
    """``WriteError("cannot write WHAT at 'PATH': REASON")``, one line, for
    ``raise write_error(...) from None``. ``what`` may be empty."""
    reason = " ".join((exc.strerror or str(exc) or type(exc).__name__).split())
    error = WriteError(f"cannot write {what + ' at ' if what else ''}{str(path)!r}: {reason}")
    error.reason = reason
    return error


def temp_folder_for(folder: Path) -> Path:
    """A new, empty temporary folder beside ``folder``, named after it and this
    process (``.NAME.tmp-PID-...``), for ``swap_in`` to rename into place.
    Raises ``OSError`` when it cannot be made."""
    make_folder(folder.parent)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-{os.getpid()}-", dir=folder.parent))


def make_folder(folder: Path) -> None:
    """``mkdir -p folder``. A file in the way raises ``NotADirectoryError``
    (``mkdir`` says "File exists", which reads as if all were well)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), exc.filename) from None


def swap_in(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``, replacing (then deleting) an existing one.

    Raises ``OSError`` when a rename fails; ``folder`` is then as it was. An
    old copy that cannot be deleted (say, read-only folders of another user)
    is logged as a warning and left as ``.NAME.old-PID-...``, which a later
    build deletes (``remove_dead_temps``): the new folder is in place anyway."""
    old = None
    if folder.exists() or folder.is_symlink():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except OSError:
        if old is not None:
            os.rename(old, folder)   # put the old one back
        raise
    if old is not None and not remove_tree(old):
        log.warning("Could not delete the old copy %s; delete it by hand.", old)


def remove_tree(path: Path) -> bool:
    """Delete the folder ``path`` with everything in it; True when it is gone.

    Read-only folders inside it (which stop their owner deleting what they
    hold) are made writable and the deletion is tried again. Never raises."""
    for attempt in range(2):
        try:
            shutil.rmtree(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if attempt == 0:
                _make_writable(path)
    return not os.path.lexists(path)


def _make_writable(path: Path) -> None:
    """``u+rwx`` on ``path`` and every folder below it (not following links),
    each before it is listed."""
    def allow(p: str) -> None:
        with suppress(OSError):
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) | stat.S_IRWXU)

    allow(str(path))
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            allow(os.path.join(root, d))


def remove_dead_temps(folder: Path) -> None:
    """Delete the temporary folders of ``folder`` (``temp_folder_for``, and the
    old copies ``swap_in`` makes) left by processes no longer running: a killed
    process never reaches its clean-up."""
    name = re.escape(folder.name)
    for path in folder.parent.glob(f".{folder.name}.*-*"):
        m = re.fullmatch(rf"\.{name}\.(?:tmp|old)-(\d+)-.*", path.name)
        if m and path.is_dir() and not pid_alive(int(m.group(1))):
            remove_tree(path)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename.
    Raises ``WriteError`` naming ``path`` when it cannot be written; the
    temporary file is removed whatever happens."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        tmp.write_text(text, encoding="utf-8", errors="backslashreplace")
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error("", path, exc) from None
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)


def lock_folder() -> Path:
    """Where ``folder_lock`` keeps its lock files: ``locks/`` in the user's cache
    folder (``platformdirs.user_cache_dir("docqa")``, which follows
    ``$XDG_CACHE_HOME``), private to the user."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("docqa")) / "locks"


@contextmanager
def folder_lock(folder: Path, what: str = "building"):
    """An exclusive lock for writing ``folder`` (POSIX; elsewhere none). The lock
    file lives in the user's own ``lock_folder()`` (made with mode 0o700, not
    a shared temp folder that others could fill or read), named by a hash of
    ``folder``'s path, so nothing is left beside a user's folders. A process
    that has to wait logs it once. Raises ``WriteError`` naming the lock
    folder when it cannot be made or written."""
    try:
        import fcntl
    except ImportError:  # not POSIX: writes are still atomic, only not serialised
        yield
        return
    locks = lock_folder()
    # surrogatepass: a path may hold undecodable bytes, as surrogates
    key = hashlib.sha256(str(Path(folder).resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:24]
    try:
        locks.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(locks / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise write_error("the lock folder", locks, exc) from None
    with os.fdopen(fd, "r+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Another process is %s %s: waiting for it.", what, folder)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
