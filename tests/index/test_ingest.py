"""Tests for index.ingest.load_documents: ids, titles, exact text, and clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.errors import IngestError
from index.ingest import load_documents


# --- ids, titles, text ---------------------------------------------------------

def test_folder_gives_sorted_posix_ids_relative_to_it(corpus_dir, corpus_texts):
    docs = load_documents([corpus_dir])
    ids = [d.doc_id for d in docs]
    assert ids == sorted(corpus_texts)
    assert ids == ["money.txt", "notes/trains.md", "weather.txt"]
    assert all("\\" not in i and not i.startswith("/") for i in ids)


def test_file_given_directly_gets_its_name(corpus_dir):
    (doc,) = load_documents([corpus_dir / "notes" / "trains.md"])
    assert doc.doc_id == "trains.md"
    assert doc.path == str((corpus_dir / "notes" / "trains.md").resolve())


def test_several_paths_are_merged_and_sorted(tmp_path):
    (tmp_path / "b.txt").write_text("Bravo text.", encoding="utf-8")
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.md").write_text("Alpha text.", encoding="utf-8")
    docs = load_documents([tmp_path / "b.txt", str(folder)])
    assert [d.doc_id for d in docs] == ["a.md", "b.txt"]


def test_text_round_trips_exactly(corpus_dir, corpus_texts):
    for doc in load_documents([corpus_dir]):
        assert doc.text == corpus_texts[doc.doc_id]


def test_crlf_and_trailing_space_are_kept(tmp_path):
    raw = "First line  \r\nSecond line\r\n\r\n  indented\t\n"
    (tmp_path / "crlf.txt").write_bytes(raw.encode("utf-8"))
    (doc,) = load_documents([tmp_path / "crlf.txt"])
    assert doc.text == raw


def test_sha256_and_size_are_recorded(corpus_dir):
    for doc in load_documents([corpus_dir]):
        data = (corpus_dir / doc.doc_id).read_bytes()
        assert doc.size == len(data)
        assert doc.sha256 == hashlib.sha256(data).hexdigest()
        assert doc.sha256 == hashlib.sha256(doc.text.encode("utf-8")).hexdigest()


def test_utf8_bom_is_stripped(tmp_path):
    body = "Title line\nBody “quoted” text.\n"
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    (doc,) = load_documents([path])
    assert doc.text == body
    assert not doc.text.startswith("\ufeff")
    assert doc.title == "Title line"
    assert doc.size == len(body.encode("utf-8")) + 3  # bytes on disk, BOM included
    assert doc.sha256 == hashlib.sha256(body.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# Trains of Europe\n\nBody.", "Trains of Europe"),
        ("Intro paragraph line\n\n## Second level heading ##\nBody.", "Second level heading"),
        ("   \n\nShort first line\nMore text follows here.", "Short first line"),
        ("#hashtag is not a heading\nbody", "#hashtag is not a heading"),
        ("word " * 40 + "\nSecond line.", "doc.md"),  # a 200-character first line is a paragraph
    ],
)
def test_title(tmp_path, text, title):
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    (doc,) = load_documents([path])
    assert doc.title == title


def test_corpus_titles(corpus_dir):
    titles = {d.doc_id: d.title for d in load_documents([corpus_dir])}
    assert titles["notes/trains.md"] == "Trains of Europe"
    assert titles["money.txt"] == "Money talks, they say. “Cash is king,” said the banker – and he meant it."


def test_hidden_files_and_folders_are_skipped(corpus_dir):
    (corpus_dir / ".hidden.txt").write_text("secret", encoding="utf-8")
    (corpus_dir / ".git").mkdir()
    (corpus_dir / ".git" / "notes.md").write_text("git internals", encoding="utf-8")
    (corpus_dir / "notes" / ".cache").mkdir()
    (corpus_dir / "notes" / ".cache" / "x.txt").write_text("cached", encoding="utf-8")
    ids = [d.doc_id for d in load_documents([corpus_dir])]
    assert ids == ["money.txt", "notes/trains.md", "weather.txt"]


def test_hidden_parent_of_the_given_folder_does_not_hide_everything(tmp_path):
    folder = tmp_path / ".config" / "docs"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("Alpha.", encoding="utf-8")
    assert [d.doc_id for d in load_documents([folder])] == ["a.txt"]


def test_other_suffixes_in_a_folder_are_ignored(corpus_dir):
    (corpus_dir / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (corpus_dir / "sheet.odt").write_bytes(b"PK\x03\x04")
    assert len(load_documents([corpus_dir])) == 3


# --- errors name the offending path ---------------------------------------------

def assert_ingest_error(paths, must_name: Path | str) -> IngestError:
    with pytest.raises(IngestError) as info:
        load_documents(paths)
    assert str(must_name) in str(info.value), str(info.value)
    return info.value


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.txt"
    assert_ingest_error([missing], missing)


def test_binary_file(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"looks like text\x00but is not")
    assert_ingest_error([path], path)


def test_binary_file_inside_a_folder(corpus_dir):
    path = corpus_dir / "blob.md"
    path.write_bytes(b"\x00\x01\x02")
    assert_ingest_error([corpus_dir], path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Café au lait, naïve façade.".encode("latin-1"))
    assert_ingest_error([path], path)


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  ", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_or_whitespace_only_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    assert_ingest_error([path], path)


@pytest.mark.parametrize("name", ["paper.odt", "README"])
def test_unsupported_suffix(tmp_path, name):
    path = tmp_path / name
    path.write_text("some text", encoding="utf-8")
    assert_ingest_error([path], path)


def test_folder_without_text_files(tmp_path):
    folder = tmp_path / "sheets"
    folder.mkdir()
    (folder / "a.odt").write_bytes(b"PK\x03\x04")
    (folder / ".hidden.txt").write_text("hidden files do not count", encoding="utf-8")
    assert_ingest_error([folder], folder)


def test_two_files_with_the_same_doc_id(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "same.txt").write_text("one", encoding="utf-8")
    (b / "same.txt").write_text("two", encoding="utf-8")
    err = assert_ingest_error([a, b / "same.txt"], (b / "same.txt").resolve())
    assert "same.txt" in str(err)
    assert str((a / "same.txt").resolve()) in str(err)


def test_same_folder_twice_is_a_duplicate(corpus_dir):
    assert_ingest_error([corpus_dir, corpus_dir], "money.txt")


def test_no_paths():
    with pytest.raises(IngestError):
        load_documents([])


def test_max_bytes_refuses_a_large_file_naming_it(tmp_path):
    from index.errors import IngestError
    from index.ingest import load_documents

    big = tmp_path / "big.txt"
    big.write_text("word " * 3000, encoding="utf-8")
    assert load_documents([big], max_bytes=20_000)[0].size == 15_000
    with pytest.raises(IngestError, match=r"big\.txt.*0\.0 MB per file|big\.txt.*the limit is"):
        load_documents([big], max_bytes=10_000)


# --- special files, size limits, names (issue 11) --------------------------------

def call_with_timeout(fn, seconds: float):
    """``(finished, result or exception)`` of ``fn()`` run in a thread for at most ``seconds``."""
    import threading

    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["value"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), box.get("value")


def test_a_fifo_named_txt_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    finished, result = call_with_timeout(lambda: load_documents([fifo]), 10)
    if not finished:
        open(fifo, "wb").close()   # give the blocked reader its end of file
        pytest.fail("reading a FIFO named .txt blocked")
    assert isinstance(result, IngestError), result
    assert str(result) == f"{str(fifo)!r} is not a regular file (a FIFO)"


def test_a_link_to_a_device_is_refused(tmp_path):
    # /dev/null, not /dev/zero: code that reads devices would read /dev/zero until memory runs out.
    link = tmp_path / "z.txt"
    link.symlink_to("/dev/null")
    with pytest.raises(IngestError) as info:
        load_documents([link])
    assert str(info.value) == f"{str(link)!r} is not a regular file (a character device)"


def test_a_socket_named_md_is_refused(tmp_path):
    import socket

    path = tmp_path / "s.md"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(IngestError, match=r"is not a regular file \(a socket\)"):
            load_documents([path])


def test_special_files_in_a_folder_are_skipped(tmp_path):
    import os

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha text.", encoding="utf-8")
    os.mkfifo(folder / "pipe.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    finished, result = call_with_timeout(lambda: load_documents([folder]), 10)
    if not finished:
        open(folder / "pipe.txt", "wb").close()
        pytest.fail("walking a folder blocked on a FIFO")
    assert [d.doc_id for d in result] == ["a.txt"]


def test_never_reads_more_than_the_limit(tmp_path, monkeypatch):
    """A file that grows after its size was read (or whose size lies, as in
    /proc) is read only up to the limit, then refused."""
    import io
    import os

    path = tmp_path / "growing.txt"
    path.write_text("x" * 50_000, encoding="utf-8")
    real_stat, reads = os.stat, []

    def small_stat(p, *args, **kwargs):
        st = real_stat(p, *args, **kwargs)
        return os.stat_result((st.st_mode, *st[1:6], 10, *st[7:])) if str(p) == str(path) else st

    real_read = io.BufferedReader.read

    class Reader(io.BufferedReader):
        def read(self, n=-1):
            reads.append(n)
            return real_read(self, n)

    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "stat", small_stat)
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Reader(real_fdopen(fd, mode, buffering=0)))
    with pytest.raises(IngestError, match=r"growing\.txt.* the limit is 1,000 bytes per file"):
        load_documents([path], max_bytes=1_000)
    assert reads and all(0 <= n <= 1_001 for n in reads), reads


def test_the_size_limit_message_says_how_to_raise_it(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 60_000, encoding="utf-8")
    with pytest.raises(IngestError) as info:
        load_documents([big], max_bytes=200_000)
    assert str(info.value) == (f"{str(big)!r} is 0.3 MB; the limit is 0.2 MB per file "
                               "(raise it with --max-file-mb MB, or max_file_bytes= in Python)")


def test_a_file_name_that_is_not_utf8_is_refused_by_name(tmp_path):
    import os

    path = tmp_path / os.fsdecode(b"caf\xe9.txt")   # Latin-1 bytes: "\udce9" in Python
    path.write_text("Text in a file with a Latin-1 name.", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        load_documents([path])
    message = str(info.value)
    message.encode("utf-8")   # printable and JSON-safe: the bad byte is escaped
    assert "caf\\udce9.txt" in message and "not valid UTF-8" in message


def test_a_path_with_a_nul_is_refused():
    with pytest.raises(IngestError, match="NUL"):
        load_documents(["a\0b.txt"])


def _title_as_defined(text: str, fallback: str) -> str:
    """``title_of`` as its docstring defines it, the slow way."""
    import re

    from index.ingest import MAX_TITLE_CHARS

    heading = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE).search(text)
    if heading:
        return heading.group(1).strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if first and len(first) <= MAX_TITLE_CHARS else fallback


_TITLE_PIECES = ["#", "##", "# ", "#Title", " # A heading #", "   ## Sub", "    # code",
                 "\n", "\r\n", "\r", "\x0c", "\u2028", " ", "\t", "word", "a" * 120, "x#y",
                 "Title line", "#######", "# é ✓"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TITLE_PIECES) | st.text(max_size=8), max_size=14))
def test_a_title_is_the_first_heading_else_a_short_first_line(pieces):
    from index.ingest import _HEADING, first_heading, title_of

    text = "".join(pieces)
    fast, slow = first_heading(text), _HEADING.search(text)
    assert (fast and fast.span()) == (slow and slow.span())
    assert title_of(text, "f.txt") == _title_as_defined(text, "f.txt")


def test_a_folder_lists_what_rglob_lists_and_resolves_each_file(tmp_path):
    """``folder_files`` against its definition (``Path.rglob``, regular files
    only, hidden parts skipped, links to folders not followed)."""
    import os

    from index.ingest import SUFFIXES, folder_files

    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "linked.txt").write_text("Linked file.", encoding="utf-8")
    (outside / "deep" / "inner.md").write_text("# Inner", encoding="utf-8")
    root = tmp_path / "docs"
    for rel in ("a.txt", "B.MD", "notes.markdown", "skip.odt", "sub/c.txt", "sub/x/y/d.md",
                ".hidden.txt", ".git/e.txt", "sub/.cache/f.txt", "sub/x/g.TXT"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("Some text.", encoding="utf-8")
    (root / "link.txt").symlink_to(outside / "linked.txt")
    (root / "sub" / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "broken.txt").symlink_to(tmp_path / "nowhere.txt")
    os.mkfifo(root / "sub" / "pipe.txt")

    expected = sorted(
        (p.relative_to(root).as_posix(), str(p.resolve())) for p in root.rglob("*")
        if p.suffix.lower() in SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts))
    got = folder_files(root)
    assert [(doc_id, resolved or str(path.resolve())) for doc_id, path, resolved in got] == expected
    assert [doc_id for doc_id, _, _ in got] == ["B.MD", "a.txt", "link.txt", "notes.markdown",
                                                "sub/c.txt", "sub/x/g.TXT", "sub/x/y/d.md"]
    assert dict((d, r) for d, _, r in got)["link.txt"] is None   # a link: resolved when read
    docs = load_documents([root])
    assert next(d for d in docs if d.doc_id == "link.txt").path == str(outside / "linked.txt")
    assert next(d for d in docs if d.doc_id == "a.txt").path == str(root.resolve() / "a.txt")
