"""An index, calibration or ONNX export that cannot be written: one ``WriteError``
line naming the folder and the reason, never a traceback, and no
``.NAME.tmp-*``, ``.NAME.build-*`` or ``.NAME.old-*`` folder left behind.

We run as root, where permissions stop nothing: failures come from paths
that fail for root too (under a regular file, /proc) and from monkeypatching
one OS call at a chosen step. All offline, with the fake embedder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from index.config import IndexConfig
from index.errors import WriteError
from index.ingest import load_documents
from index.store import build_index, load_index, open_index
from qa.storage import write_calibration

CFG = IndexConfig(chunk_size=200, chunk_overlap=40)


def leftovers(parent: Path) -> list[str]:
    """The temporary, work and old-copy folders beside the indexes in ``parent``."""
    if not parent.is_dir():
        return []
    return sorted(p for p in os.listdir(parent)
                  if any(mark in p for mark in (".tmp-", ".build-", ".old-")))


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message, message
    return message


@pytest.fixture
def docs(corpus_dir):
    return load_documents([corpus_dir])


def build(docs, folder, embedder):
    return build_index(docs, folder, config=CFG, embedder=embedder, progress=False)


def test_an_index_under_a_regular_file(docs, tmp_path, fake_embedder):
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    folder = tmp_path / "notes.txt" / "idx"
    with pytest.raises(WriteError) as info:
        open_index(docs, folder, config=CFG, embedder=fake_embedder, progress=False)
    assert one_line(info.value) == (f"cannot write the index at {str(folder)!r}: "
                                    f"{str(tmp_path / 'notes.txt')!r} is a file, not a folder")


def test_an_index_in_proc(docs, fake_embedder):
    with pytest.raises(WriteError) as info:
        open_index(docs, Path("/proc/docqa-idx"), config=CFG, embedder=fake_embedder,
                   progress=False)
    assert one_line(info.value).startswith("cannot write the index at '/proc/docqa-idx': ")
    assert leftovers(Path("/proc")) == []


def test_an_index_path_that_is_not_utf8(docs, tmp_path, fake_embedder):
    folder = tmp_path / os.fsdecode(b"idx-\xff")
    with pytest.raises(WriteError) as info:
        open_index(docs, folder, config=CFG, embedder=fake_embedder, progress=False)
    one_line(info.value).encode("utf-8")   # printable: the bad byte is escaped
    assert "not valid UTF-8" in str(info.value) and os.listdir(tmp_path) == ["corpus"]


def fail_at(monkeypatch, target: str, error: type[OSError] = PermissionError):
    def boom(*args, **kwargs):
        raise error(13, "Permission denied")

    monkeypatch.setattr(target, boom)


@pytest.mark.parametrize("target", [
    "numpy.lib.format.open_memmap",          # the work folder's vectors
    "index.files.os.replace",                # progress.json (write_json_atomic), then the vectors' move
    "index.build.write_tables",              # text.bin and the tables in the temporary folder
    "numpy.save",                            # analysis/ arrays
    "faiss.write_index",                     # index.faiss
])
@pytest.mark.parametrize("existing", [False, True], ids=["first build", "rebuild"])
def test_a_write_that_fails_at_any_step(docs, corpus_dir, tmp_path, fake_embedder, monkeypatch,
                                        target, existing):
    parent = tmp_path / "indexes"
    folder = parent / "idx"
    if existing:
        old = build(docs, folder, fake_embedder)
        (corpus_dir / "weather.txt").write_text("New weather. It snows.", encoding="utf-8")
        docs = load_documents([corpus_dir])
    fail_at(monkeypatch, target)
    with pytest.raises(WriteError) as info:
        open_index(docs, folder, config=CFG, embedder=fake_embedder, progress=False)
    monkeypatch.undo()
    assert one_line(info.value) == f"cannot write the index at {str(folder)!r}: Permission denied"
    assert leftovers(parent) == []
    if existing:
        assert load_index(folder).chunks == old.chunks, "the old index is kept"
    else:
        assert not folder.exists()


def test_the_final_rename_fails(docs, corpus_dir, tmp_path, fake_embedder, monkeypatch):
    parent = tmp_path / "indexes"
    folder = parent / "idx"
    old = build(docs, folder, fake_embedder)
    (corpus_dir / "money.txt").write_text("Money is new here.", encoding="utf-8")
    real_rename = os.rename

    def rename(src, dst):
        if ".tmp-" in Path(src).name:
            raise PermissionError(13, "Permission denied", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(WriteError, match="Permission denied"):
        open_index(load_documents([corpus_dir]), folder, config=CFG, embedder=fake_embedder,
                   progress=False)
    monkeypatch.undo()
    assert leftovers(parent) == [] and load_index(folder).chunks == old.chunks


def test_faiss_own_failure_becomes_the_reason(docs, tmp_path, fake_embedder, monkeypatch):
    def faiss_fails(index, path):
        raise RuntimeError("Error in faiss::FileIOWriter::FileIOWriter(const char*) at io.cpp:103: "
                           f"Error: 'f' failed: could not open {path} for writing: No space left on device")

    monkeypatch.setattr("faiss.write_index", faiss_fails)
    with pytest.raises(WriteError) as info:
        build(docs, tmp_path / "idx", fake_embedder)
    assert one_line(info.value).endswith("for writing: No space left on device")
    assert "faiss::" not in str(info.value) and leftovers(tmp_path) == []


def test_a_read_only_index_folder_is_rebuilt_without_leaving_its_old_copy(
        docs, corpus_dir, tmp_path, fake_embedder, monkeypatch):
    from test_files import as_if_not_root

    folder = tmp_path / "indexes" / "idx"
    build(docs, folder, fake_embedder)
    for p in [*folder.rglob("*"), folder]:
        if p.is_dir():
            p.chmod(0o555)
    (corpus_dir / "weather.txt").write_text("New weather. It snows.", encoding="utf-8")
    as_if_not_root(monkeypatch)
    index = open_index(load_documents([corpus_dir]), folder, config=CFG, embedder=fake_embedder,
                       progress=False)
    assert "snows" in index.documents["weather.txt"].text
    assert os.listdir(folder.parent) == ["idx"]


def test_a_calibration_that_cannot_be_written(docs, tmp_path, fake_embedder, monkeypatch):
    from qa import QA

    index = build(docs, tmp_path / "idx", fake_embedder)
    with pytest.raises(WriteError) as info:
        write_calibration(tmp_path / "idx" / "calibration.json", {"threshold": 0.5})  # a path, not the folder
    assert one_line(info.value).startswith("cannot write ")
    fail_at(monkeypatch, "index.files.os.replace")
    bot = QA(index, fake_embedder)
    with pytest.raises(WriteError) as info:
        bot.save_threshold(0.4)
    path = tmp_path / "idx" / "calibration.json"
    assert one_line(info.value) == f"cannot write {str(path)!r}: Permission denied"
    assert bot.threshold != 0.4 and not [p for p in os.listdir(tmp_path / "idx") if ".tmp-" in p]


# --- the ONNX export ---------------------------------------------------------------

@pytest.fixture
def no_model(monkeypatch, tmp_path):
    """``export_onnx`` without loading or exporting the real model."""
    import index.onnx_embed as onnx_embed

    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(onnx_embed, "model_path", lambda name: weights)
    monkeypatch.setattr(onnx_embed, "_load_sentence_transformer", lambda path: object())
    return onnx_embed


def test_an_onnx_export_under_a_regular_file(no_model, tmp_path):
    (tmp_path / "models").write_text("x", encoding="utf-8")
    folder = tmp_path / "models" / "minilm"
    with pytest.raises(WriteError) as info:
        no_model.export_onnx("m", folder)
    assert one_line(info.value) == f"cannot write the ONNX export at {str(folder)!r}: Not a directory"


def test_an_onnx_export_that_fails_midway_leaves_nothing(no_model, tmp_path, monkeypatch):
    def graph(model, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(no_model, "_export_graph", graph)
    folder = tmp_path / "models" / "minilm"
    with pytest.raises(WriteError, match="Permission denied"):
        no_model.export_onnx("m", folder)
    assert os.listdir(folder.parent) == []


def test_an_unwritable_cache_only_costs_the_fast_encoder(tmp_path, monkeypatch, caplog):
    """The lock folder and the export both live in the cache: when it cannot
    be written, questions are encoded by the embedder, with one warning line."""
    from index.embed import Embedder
    from qa.api import query_encoder

    (tmp_path / "file").write_text("x", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file" / "cache"))
    embedder = Embedder()   # lazy: the model is not loaded here
    with caplog.at_level(logging.WARNING, logger="qa.api"):
        assert query_encoder(embedder) is embedder
    (record,) = [r for r in caplog.records if r.name == "qa.api"]
    assert "cannot write the lock folder" in record.getMessage()
    assert "\n" not in record.getMessage()
