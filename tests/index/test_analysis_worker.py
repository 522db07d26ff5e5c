"""The parse of a large build in a child process (``index.analysis_worker``):
the same arrays as a parse here, read from the tables alone, and a clear error
when it fails."""

from __future__ import annotations

import numpy as np
import pytest

from index.analysis import Layers, parse_layers
from index.analysis_worker import AnalysisWorkerError, parse_apart
from index.tables import distinct_sentence_texts, distinct_texts, write_tables
from index.types import Document, Sentence

TEXTS = ["Fog was common in London in 1880.", "The harvest was 12,400 tonnes.",
         "Returns the value.", "Tea is grown in Assam, a state of India.",
         "Über 40 °C im Juli.", "Returns the value."]


def _tables(folder):
    """Tables of two documents whose sentences are TEXTS (one repeated)."""
    docs, sentences = [], []
    for d, part in enumerate((TEXTS[:3], TEXTS[3:])):
        text = " ".join(part)
        docs.append(Document(f"d{d}", f"Doc {d}", text, f"d{d}.txt", "0" * 64, len(text)))
        at = 0
        for t in part:
            start = text.index(t, at)
            sentences.append(Sentence(f"d{d}", len(sentences), start, start + len(t), t))
            at = start + len(t)
    text_row, firsts = distinct_texts(sentences)
    folder.mkdir()
    write_tables(folder, docs, [], sentences, text_row)
    return [sentences[i].text for i in firsts]


def test_the_distinct_texts_come_back_from_the_tables_in_row_order(tmp_path):
    texts = _tables(tmp_path / "t")
    assert texts == TEXTS[:5]   # the repeat has no row of its own
    assert distinct_sentence_texts(tmp_path / "t") == texts


def test_a_parse_apart_stores_what_a_parse_here_stores(tmp_path):
    texts = _tables(tmp_path / "t")
    reports = []
    here = parse_layers(texts, spill=tmp_path / "here", report=reports.append)
    assert sum(reports) == len(texts)
    apart = parse_apart(tmp_path / "t", tmp_path / "apart")
    assert isinstance(apart, Layers)
    assert apart.strings == here.strings and apart.kinds == here.kinds
    np.testing.assert_array_equal(apart.lemma_ids, here.lemma_ids)
    assert sorted(apart.arrays) == sorted(here.arrays)
    for name, values in here.arrays.items():
        assert apart.arrays[name].dtype == values.dtype, name
        np.testing.assert_array_equal(apart.arrays[name], values, err_msg=name)


def test_a_file_the_parse_apart_cannot_read_is_an_os_error_naming_it(tmp_path):
    _tables(tmp_path / "t")
    (tmp_path / "t" / "text.bin").unlink()
    with pytest.raises(FileNotFoundError, match="text.bin"):
        parse_apart(tmp_path / "t", tmp_path / "spill")


def test_a_failed_parse_apart_is_one_clear_error(tmp_path):
    _tables(tmp_path / "t")
    rows = np.load(tmp_path / "t" / "sentences.npy")
    rows["text_row"] = rows["text_row"][::-1]   # damaged: not numbered in order of use
    np.save(tmp_path / "t" / "sentences.npy", rows)
    with pytest.raises(AnalysisWorkerError, match="the parse process failed: ValueError: "
                                                   ".*not numbered in order of use"):
        parse_apart(tmp_path / "t", tmp_path / "spill")
    assert not (tmp_path / "spill" / Layers.META).exists()
