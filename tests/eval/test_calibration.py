"""Where ``python -m eval --calibrate`` keeps its threshold: ``index.store``'s
read/write_calibration and ``QA.save_threshold``, offline with the fake embedder.
(``QA.load`` picking the stored threshold up is in test_eval_cli.py, with the real model.)"""

from __future__ import annotations

import json
import logging

import pytest

from index.config import IndexConfig
from index.ingest import load_documents
from index.store import CALIBRATION, build_index, open_index
from qa.storage import read_calibration, write_calibration
from qa import QA

CFG = IndexConfig(chunk_size=200, chunk_overlap=40)


@pytest.fixture
def built(corpus_dir, tmp_path, fake_embedder):
    docs = load_documents([corpus_dir])
    return build_index(docs, tmp_path / "idx", config=CFG, embedder=fake_embedder, progress=False)


def test_write_then_read(tmp_path):
    write_calibration(tmp_path, {"threshold": 0.625, "best_f1": 0.75, "questions": 12})
    assert read_calibration(tmp_path) == {"threshold": 0.625, "best_f1": 0.75, "questions": 12}
    assert [p.name for p in tmp_path.iterdir()] == [CALIBRATION], "no temp file left"
    write_calibration(tmp_path, {"threshold": 0.25})
    assert read_calibration(tmp_path) == {"threshold": 0.25}


def test_threshold_is_read_as_a_float(tmp_path):
    (tmp_path / CALIBRATION).write_text('{"threshold": 1}', encoding="utf-8")
    stored = read_calibration(tmp_path)
    assert stored == {"threshold": 1.0} and isinstance(stored["threshold"], float)


def test_no_calibration(tmp_path):
    assert read_calibration(tmp_path) is None
    assert read_calibration(tmp_path / "missing") is None


@pytest.mark.parametrize("content", [
    "not json", "[0.5]", "{}", '{"threshold": null}', '{"threshold": "high"}',
    '{"threshold": 1.5}', '{"threshold": -0.1}', '{"threshold": NaN}', "",
])
def test_unreadable_calibration_is_ignored_with_a_warning(tmp_path, caplog, content):
    (tmp_path / CALIBRATION).write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="index.build"):
        assert read_calibration(tmp_path) is None
    assert any(CALIBRATION in r.getMessage() for r in caplog.records)


def test_failed_write_leaves_the_old_calibration(tmp_path):
    write_calibration(tmp_path, {"threshold": 0.4})
    with pytest.raises(TypeError):
        write_calibration(tmp_path, {"threshold": 0.9, "when": object()})   # not JSON
    assert read_calibration(tmp_path) == {"threshold": 0.4}
    assert [p.name for p in tmp_path.iterdir()] == [CALIBRATION]


def test_save_threshold_stores_it_with_the_index(built, fake_embedder):
    bot = QA(built, fake_embedder)
    assert bot.threshold_source == "model"      # no threshold given: the reader model's
    bot.save_threshold(0.7321, details={"best_f1": 0.8, "questions": 12})
    assert (bot.threshold, bot.threshold_source) == (0.7321, "calibrated")
    assert read_calibration(built.folder) == {"threshold": 0.7321, "best_f1": 0.8, "questions": 12}
    stored = json.loads((built.folder / CALIBRATION).read_text(encoding="utf-8"))
    assert stored["threshold"] == 0.7321


@pytest.mark.parametrize("bad", [-0.01, 1.01])
def test_save_threshold_refuses_a_threshold_outside_0_1(built, fake_embedder, bad):
    bot = QA(built, fake_embedder, threshold=0.5)
    with pytest.raises(ValueError):
        bot.save_threshold(bad)
    assert bot.threshold == 0.5 and read_calibration(built.folder) is None


def test_calibration_survives_reopening_but_not_a_rebuild(built, corpus_dir, fake_embedder):
    write_calibration(built.folder, {"threshold": 0.66})
    docs = load_documents([corpus_dir])
    same = open_index(docs, built.folder, config=CFG, embedder=fake_embedder, progress=False)
    assert read_calibration(same.folder) == {"threshold": 0.66}

    (corpus_dir / "money.txt").write_text("Money is changed now. Prices rose again.\n",
                                          encoding="utf-8")
    changed = load_documents([corpus_dir])
    rebuilt = open_index(changed, built.folder, config=CFG, embedder=fake_embedder, progress=False)
    assert rebuilt.folder == built.folder
    assert read_calibration(rebuilt.folder) is None, "a threshold fitted to other documents"
