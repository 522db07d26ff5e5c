"""The Python API checks its arguments once, where they enter (``qa.api``):
every bad value is a ``ValueError`` (``QuestionError`` for questions) whose
one-line message names it, never a ``TypeError`` from deep inside, and
never a value silently taken for another. Offline, with the fake embedder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from index.config import IndexConfig
from index.errors import IngestError
from qa import QA, USER_ERRORS, QuestionError
from qa.config import DEFAULT_MAX_FILE_BYTES


def load(paths, tmp_path, embedder, **kwargs) -> QA:
    config = IndexConfig(model_name=embedder.name, chunk_size=200, chunk_overlap=40)
    return QA.load(paths, index_dir=tmp_path / "idx", config=config, embedder=embedder,
                   progress=False, **kwargs)


@pytest.fixture
def bot(corpus_dir, tmp_path, fake_embedder) -> QA:
    return load([corpus_dir], tmp_path, fake_embedder)


def message_of(exc: BaseException) -> str:
    message = str(exc)
    assert isinstance(exc, USER_ERRORS) and message and "\n" not in message, repr(exc)
    return message


# --- invalid Unicode (defect 1) --------------------------------------------------------

@pytest.mark.parametrize("question, where", [
    ("a\ud800", 2), ("\udcff", 1), ("Who is \udcffthe president?", 8),   # "\udcff": a CLI's b"\xff"
    ("emoji \U0001F600 then \ud83d\ude00", 14),   # a surrogate pair in a str is still two lone ones
])
def test_a_lone_surrogate_is_a_question_error_by_position(bot, question, where):
    for call in (lambda: bot.ask(question), lambda: bot.ask_batch(["fine", question]),
                 lambda: bot.retrieve(question)):
        with pytest.raises(QuestionError) as info:
            call()
        message = message_of(info.value)
        assert f"invalid Unicode (a lone surrogate, U+{ord(question[where - 1]):04X}, " \
               f"at character {where})" in message
        message.encode("utf-8")                       # printable, and ...
        json.loads(json.dumps({"error": message}))    # ... sent as JSON (the web UI's /ask)


def test_valid_unicode_is_still_asked(bot):
    reply = bot.ask("Umbrella \u200f\u200b in London 🌧 ?")
    assert reply.passages


# --- top_k (defect 4) ------------------------------------------------------------------

@pytest.mark.parametrize("top_k", [0, -1, 2.5, math.nan, math.inf, "5", None, True, False,
                                   [5], np.float64(3.0), np.True_, 3 + 0j])
def test_top_k_must_be_a_whole_number(bot, top_k):
    for call in (lambda: bot.ask("umbrella", top_k=top_k),
                 lambda: bot.ask_batch(["umbrella"], top_k=top_k),
                 lambda: bot.retrieve("umbrella", top_k=top_k)):
        with pytest.raises(ValueError) as info:
            call()
        message = message_of(info.value)
        assert message.startswith("top_k must be a whole number >= 1, got ")
        assert f"({type(top_k).__name__})" in message


@pytest.mark.parametrize("top_k", [1, np.int64(2), np.uint8(3), 10**30])
def test_any_integer_top_k_works(bot, top_k):
    hits = bot.retrieve("umbrella in London", top_k=top_k)
    assert 1 <= len(hits) <= min(int(top_k), len(bot.index.chunks))
    assert len(bot.ask("umbrella in London", top_k=top_k).passages) == len(hits)


# --- paths, questions, threshold (defect 4) -----------------------------------------------

def test_a_single_path_is_one_path(corpus_dir, tmp_path, fake_embedder):
    one = corpus_dir / "weather.txt"
    for paths in (str(one), one):
        assert list(load(paths, tmp_path, fake_embedder).index.documents) == ["weather.txt"]


@pytest.mark.parametrize("paths, words", [
    ([], "paths is empty: give at least one file or folder, or None for the bundled article"),
    ((), "paths is empty"),
    (5, "got int"), (b"notes.txt", "got bytes"), ({"a.txt"}, "got set"),
    ([5], "got 5 (int)"), (["a.txt", None], "got None (NoneType)"), ([""], "empty path"),
])
def test_bad_paths_are_named(tmp_path, fake_embedder, paths, words):
    with pytest.raises(ValueError) as info:
        load(paths, tmp_path, fake_embedder)
    assert words in message_of(info.value)
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("questions", ["Who?", b"Who?", None, 5, iter(["Who?"])])
def test_ask_batch_takes_a_list(bot, questions):
    with pytest.raises(ValueError) as info:
        bot.ask_batch(questions)
    assert message_of(info.value).startswith("questions must be a list of strings")


def test_ask_batch_of_nothing_is_nothing(bot):
    assert bot.ask_batch([]) == [] and len(bot.ask_batch(("umbrella", "trains"))) == 2


@pytest.mark.parametrize("threshold", [math.nan, -0.1, 1.5, "0.5", True, math.inf])
def test_a_bad_threshold_is_refused_everywhere(bot, corpus_dir, tmp_path, fake_embedder, threshold):
    for call in (lambda: load([corpus_dir], tmp_path, fake_embedder, threshold=threshold),
                 lambda: QA(bot.index, fake_embedder, threshold=threshold),
                 lambda: bot.save_threshold(threshold)):
        with pytest.raises(ValueError) as info:
            call()
        assert message_of(info.value).startswith("threshold must be a number in [0, 1], got ")
    assert bot.threshold_source != "calibrated"


def test_a_numpy_threshold_is_a_number(bot, fake_embedder):
    assert QA(bot.index, fake_embedder, threshold=np.float32(0.25)).threshold == 0.25


# --- the file-size limit (defect 3) ----------------------------------------------------------

def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:   # no disk used, and never read: refused by its size
        f.truncate(size)
    return path


def test_load_has_a_default_file_size_limit(tmp_path, fake_embedder):
    big = sparse_file(tmp_path / "big.txt", DEFAULT_MAX_FILE_BYTES + 1)
    with pytest.raises(IngestError) as info:
        load([big], tmp_path, fake_embedder)
    assert message_of(info.value) == (
        f"{str(big)!r} is 20.0 MB; the limit is 20.0 MB per file "
        "(raise it with --max-file-mb MB, or max_file_bytes= in Python)")


def test_the_limit_can_be_changed_or_lifted(corpus_dir, tmp_path, fake_embedder):
    weather = corpus_dir / "weather.txt"
    with pytest.raises(IngestError, match="the limit is 100 bytes per file"):
        load([weather], tmp_path, fake_embedder, max_file_bytes=100)
    assert load([weather], tmp_path, fake_embedder, max_file_bytes=np.int64(10**9)).index.documents
    big = sparse_file(tmp_path / "big.txt", DEFAULT_MAX_FILE_BYTES + 1)
    with pytest.raises(IngestError, match="binary file"):   # None: no limit, so it was read
        load([big], tmp_path, fake_embedder, max_file_bytes=None)


@pytest.mark.parametrize("limit", [0, -5, 2.5, "20", True])
def test_a_bad_limit_is_named(tmp_path, fake_embedder, corpus_dir, limit):
    with pytest.raises(ValueError) as info:
        load([corpus_dir], tmp_path, fake_embedder, max_file_bytes=limit)
    assert message_of(info.value).startswith("max_file_bytes must be a whole number >= 1 or None")
