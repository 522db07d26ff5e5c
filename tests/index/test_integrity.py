"""Damage inside an index file's data (not only a truncated file or a bad
header) is caught: opening names the file and the index is rebuilt, or
``QA.open`` / ``python -m qa info --verify`` names it; never a traceback,
never a score outside its range."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from index import integrity
from index.config import IndexConfig
from index.errors import IndexCorruptError
from qa import QA, USER_ERRORS

QUESTION = "When is fog common in London?"


def damage(path: Path) -> None:
    """Flip 16 bytes in the data part of ``path``: past a .npy header (128
    bytes), in the middle of anything else."""
    data = bytearray(path.read_bytes())
    start = max(min(128, len(data) - 1), len(data) // 2) if path.suffix == ".npy" else len(data) // 2
    for i in range(start, min(start + 16, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def built(tmp_path, corpus_dir, fake_embedder):
    config = IndexConfig(model_name=fake_embedder.name, chunk_size=200, chunk_overlap=20)
    folder = tmp_path / "index"
    QA.load([corpus_dir], index_dir=folder, embedder=fake_embedder, encoder=fake_embedder,
            config=config, progress=False)
    return folder, config


def files_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != "manifest.json")


def test_the_manifest_records_every_file(built):
    folder, _ = built
    import json

    records = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert sorted(records) == files_of(folder) and len(records) > 20
    assert integrity.verify(folder, records, max_bytes=None) == len(records)


def test_damage_to_any_file_is_named_then_rebuilt(built, corpus_dir, fake_embedder, tmp_path, caplog):
    folder, config = built
    for name in files_of(folder):
        case = tmp_path / "cases" / name.replace("/", "_")
        shutil.copytree(folder, case)
        damage(case / name)

        with pytest.raises(IndexCorruptError) as opened:   # no source files: one line naming it
            QA.open(case, embedder=fake_embedder, encoder=fake_embedder)
        assert f"is damaged: {name}: its checksum does not match" in str(opened.value)

        from qa.cli import show_info
        with pytest.raises(IndexCorruptError, match=f"damaged: {name}:"):
            show_info(str(case), as_json=True, check=True)

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="index"):
            bot = QA.load([corpus_dir], index_dir=case, embedder=fake_embedder, encoder=fake_embedder,
                          config=config, progress=False)
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and name in warnings[0] and "rebuilding" in warnings[0], warnings
        reply = bot.ask(QUESTION)
        assert reply.passages
        for hit in reply.passages:
            assert -1.0001 <= hit.dense <= 1.0001 and 0 < hit.score <= 1
        for a in reply.answers:
            assert 0.0 <= a.confidence <= 1.0
        assert integrity.verify(case, __import__("json").loads(
            (case / "manifest.json").read_text(encoding="utf-8"))["files"], max_bytes=None)


def test_a_file_too_large_to_checksum_on_open_gets_sanity_checks(built, fake_embedder, monkeypatch):
    folder, _ = built
    monkeypatch.setattr(integrity, "VERIFY_ON_OPEN_BYTES", 0)   # every file counts as large
    vectors = np.load(folder / "sentence_vectors.npy", mmap_mode="r+")
    vectors[len(vectors) // 2] = 7.0   # finite, but no unit vector
    vectors.flush()
    del vectors
    with pytest.raises(IndexCorruptError, match="sentence_vectors.npy: .*not unit length"):
        QA.open(folder, embedder=fake_embedder, encoder=fake_embedder)
    from qa.cli import show_info
    with pytest.raises(IndexCorruptError, match="damaged: sentence_vectors.npy: its checksum"):
        show_info(str(folder), as_json=True, check=True)   # --verify checks every file in full


def test_errors_are_user_errors():
    assert issubclass(IndexCorruptError, USER_ERRORS)
