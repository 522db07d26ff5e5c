"""Tests for index.files: atomic swaps, deleting read-only folders, atomic JSON,
and the per-user lock folder. Failures to write are one ``WriteError`` line
naming the path, and leave no temporary file or folder behind.

We run as root, where permissions do not stop writes: failures come from
paths that fail for root too (under a regular file, /proc) and from
monkeypatched OS calls.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from index.errors import WriteError
from index.files import folder_lock, lock_folder, remove_tree, swap_in, write_json_atomic


def as_if_not_root(monkeypatch) -> None:
    """Make ``os.unlink``/``os.rmdir`` refuse, as they do for anyone but root,
    to delete an entry of a folder that lacks the owner's write permission."""
    def guarded(real):
        def call(path, *, dir_fd=None):
            parent = os.fstat(dir_fd) if dir_fd is not None else os.stat(os.path.dirname(path) or ".")
            if not parent.st_mode & stat.S_IWUSR:
                raise PermissionError(13, "Permission denied", path)
            return real(path, dir_fd=dir_fd)
        return call

    monkeypatch.setattr(os, "unlink", guarded(os.unlink))
    monkeypatch.setattr(os, "rmdir", guarded(os.rmdir))


def make_read_only_tree(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text("{}", encoding="utf-8")
    (folder / "sub" / "b.npy").write_bytes(b"x")
    for p in (folder / "sub", folder):
        p.chmod(0o555)


def test_swap_in_deletes_a_read_only_old_folder(tmp_path, monkeypatch):
    """A read-only index folder is replaced, and its old copy deleted: no
    ``.NAME.old-*`` is left (``rmtree(ignore_errors=True)`` left it)."""
    folder, tmp = tmp_path / "idx", tmp_path / ".idx.tmp-1-x"
    make_read_only_tree(folder)
    tmp.mkdir()
    (tmp / "new.json").write_text("{}", encoding="utf-8")
    as_if_not_root(monkeypatch)
    swap_in(tmp, folder)
    assert sorted(os.listdir(tmp_path)) == ["idx"]
    assert os.listdir(folder) == ["new.json"]


def test_remove_tree_reports_what_it_cannot_delete(tmp_path, monkeypatch):
    folder = tmp_path / "stuck"
    make_read_only_tree(folder)
    monkeypatch.setattr(os, "chmod", lambda *a, **k: None)   # chmod fails to help
    as_if_not_root(monkeypatch)
    assert remove_tree(folder) is False and folder.exists()
    monkeypatch.undo()
    assert remove_tree(folder) is True and not folder.exists()
    assert remove_tree(tmp_path / "never-there") is True


def test_swap_in_puts_the_old_folder_back_when_the_new_one_cannot_go_in(tmp_path, monkeypatch):
    folder, tmp = tmp_path / "idx", tmp_path / ".idx.tmp-1-x"
    folder.mkdir()
    (folder / "old.json").write_text("{}", encoding="utf-8")
    tmp.mkdir()
    real_rename = os.rename

    def failing(src, dst):
        if Path(src) == tmp:
            raise PermissionError(13, "Permission denied", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(PermissionError):
        swap_in(tmp, folder)
    assert os.listdir(folder) == ["old.json"]
    assert not [p for p in os.listdir(tmp_path) if ".old-" in p]


@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_write_json_atomic_failure_is_one_line_naming_the_file(tmp_path, where):
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    path = tmp_path / "file.txt" / "c.json" if where == "under a file" else Path("/proc/docqa.json")
    with pytest.raises(WriteError) as info:
        write_json_atomic(path, {"a": 1})
    message = str(info.value)
    assert message.startswith(f"cannot write {str(path)!r}: ") and "\n" not in message
    assert os.listdir(tmp_path) == ["file.txt"]


def test_write_json_atomic_removes_its_temp_file_when_the_rename_fails(tmp_path, monkeypatch):
    def failing(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(WriteError, match=r"c\.json'?: Permission denied"):
        write_json_atomic(tmp_path / "c.json", {"a": 1})
    assert os.listdir(tmp_path) == []


def test_write_json_atomic_keeps_undecodable_names_readable(tmp_path):
    write_json_atomic(tmp_path / "c.json", {"name": os.fsdecode(b"caf\xe9.txt")})
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8")) == {"name": "caf\udce9.txt"}


# --- the lock folder ---------------------------------------------------------------

def test_locks_live_in_the_users_cache_folder_private_to_them(tmp_path):
    cache = Path(os.environ["XDG_CACHE_HOME"])   # conftest points it at a temp folder
    assert lock_folder() == cache / "docqa" / "locks"
    with folder_lock(tmp_path / "idx"):
        locks = cache / "docqa" / "locks"
        assert stat.S_IMODE(locks.stat().st_mode) == 0o700
        (lock,) = locks.iterdir()
        assert lock.suffix == ".lock" and stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_lock_folder_that_cannot_be_made_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file" / "cache"))
    with pytest.raises(WriteError) as info:
        with folder_lock(tmp_path / "idx"):
            pytest.fail("locked without a lock folder")
    locks = tmp_path / "file" / "cache" / "docqa" / "locks"
    assert str(info.value) == f"cannot write the lock folder at {str(locks)!r}: Not a directory"
