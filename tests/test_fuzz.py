"""Property-based fuzzing of the Python API with Hypothesis (issue 11).

The invariant, for any question, ``top_k`` or file content: either an error
of ``qa.USER_ERRORS`` whose message is one line, or a reply whose every
answer is a verbatim span of its document (``doc.text[a.start:a.end] ==
a.text``). Never another exception, never a hang.

Deterministic (``derandomize=True``, no example database) and bounded:
``max_examples`` per property, Hypothesis' ``deadline`` per example, and a
hard per-example alarm (``time_limit``) that turns a hang into a failure.
Questions go to one real-model bot (its ONNX tokenizer is part of what is
fuzzed), loaded once for the module; files are indexed per example with the
fake embedder, which is fast.
"""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from index.config import IndexConfig
from qa import QA, USER_ERRORS

pytestmark = pytest.mark.slow   # the question bot uses the real model

FUZZ = settings(derandomize=True, database=None, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HARD_LIMIT_S = 20   # per example: a hang fails here


@contextmanager
def time_limit(seconds: float):
    """Raise ``TimeoutError`` in the main thread after ``seconds`` (also out of a
    blocking system call such as opening a FIFO)."""
    def expire(signum, frame):
        raise TimeoutError(f"example took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_outcome(call) -> str:
    """Run ``call`` (it returns ``(bot, reply or list of replies)``): "error" for a
    one-line user error, "reply" for replies whose answers and passages all
    point back into their documents. Anything else fails the test."""
    with time_limit(HARD_LIMIT_S):
        try:
            result = call()
        except USER_ERRORS as exc:
            message = str(exc)
            assert message and "\n" not in message and "\r" not in message, repr(message)
            message.encode("utf-8")   # printable and JSON-safe: no lone surrogate in it
            event(f"error: {type(exc).__name__}")   # --hypothesis-show-statistics shows the mix
            return "error"
    bot, replies = result
    for reply in replies if isinstance(replies, list) else [replies]:
        for a in reply.answers:
            doc = bot.index.documents[a.doc_id]
            assert doc.text[a.start:a.end] == a.text, (a.doc_id, a.start, a.end, a.text)
            assert doc.text[a.sentence_start:a.sentence_end] == a.sentence
            assert 0.0 <= a.confidence <= 1.0
        assert reply.answer is None or reply.answer == reply.answers[0]
        for hit in reply.passages:
            doc = bot.index.documents[hit.chunk.doc_id]
            assert doc.text[hit.chunk.start:hit.chunk.end] == hit.chunk.text
    event("reply" if any(r.answers for r in (replies if isinstance(replies, list) else [replies]))
          else "reply without answers")
    return "reply"


@pytest.fixture(scope="module")
def bot(tmp_path_factory, real_embedder, _shared_models, corpus_writer) -> QA:
    """The three-document corpus with the real model, indexed once for the module."""
    base = tmp_path_factory.mktemp("fuzz")
    corpus = corpus_writer(base / "corpus")
    cache = base / "cache"
    (cache / "docqa").mkdir(parents=True)
    (cache / "docqa" / "models").symlink_to(_shared_models, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:   # as conftest's autouse fixture does per test
        mp.setenv("XDG_CACHE_HOME", str(cache))
        mp.delenv("QA_INDEX_DIR", raising=False)
        return QA.load([corpus], index_dir=base / "index", embedder=real_embedder, progress=False)


# --- questions ---------------------------------------------------------------------

ODD = ("\ud800", "\udcff", "\udfff", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202e",
       "\u2066", "\ufeff", "\ufffd", "\uffff", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\u2028",
       "\U0001F600", "\U0001F1FA\U0001F1F8", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
       "\u0301", "\u05d0", "\u0627", "\U000E0001", "\U0010FFFF", "ﬁ", "İ", "ß", "\t", "\n", "\r\n")
WORDS = ("Who", "What", "When", "How much", "London", "umbrella", "trains", "Mr. Smith",
         "$13.9 billion", "1825", "cash", "king", "?", " ")

any_character = st.characters(codec=None, exclude_categories=())   # surrogates included
questions = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=any_character, max_size=80),
    st.lists(st.one_of(st.sampled_from(ODD), st.sampled_from(WORDS)), max_size=30).map("".join),
    st.builds(lambda word, n: word * n, st.sampled_from(WORDS + ODD[3:]), st.integers(50, 3000)),
)


@settings(FUZZ, max_examples=100)
@given(question=questions)
def test_any_question(bot, question):
    check_outcome(lambda: (bot, bot.ask(question, top_k=3)))


@settings(FUZZ, max_examples=50)
@given(batch=st.lists(questions, max_size=4))
def test_any_batch_of_questions(bot, batch):
    check_outcome(lambda: (bot, bot.ask_batch(batch, top_k=2)))


FIRST = ("Who is the agency's spokesman?", "When did the first public railway open?",
         "What is king, they say?", "How much did the rail agency announce?")


@settings(FUZZ, max_examples=50)
@given(first=st.one_of(st.sampled_from(FIRST), questions), follow_up=questions)
def test_any_follow_up(bot, first, follow_up):
    """A follow-up is rewritten from the previous turn (``qa.followup``) before it is asked."""
    def ask_twice():
        previous = bot.ask(first, top_k=2)
        return bot, [previous, bot.ask(follow_up, top_k=2, history=[previous])]

    check_outcome(ask_twice)


# --- top_k -----------------------------------------------------------------------------

top_ks = st.one_of(
    st.integers(-3, 12), st.integers(-2**80, 2**80), st.just(2**63), st.just(10**100),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=4), st.binary(max_size=4), st.complex_numbers(max_magnitude=10),
    st.sampled_from([np.int64(3), np.uint8(2), np.int32(-1), np.float64(2.0), np.bool_(True),
                     np.array(4), np.array([1, 2]), [3], (3,), {"k": 3}, math.pi, object()]),
)


def valid_top_k(value) -> bool:
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and value >= 1) or (isinstance(value, np.ndarray) and value.shape == ()
                                and value.dtype.kind in "iu" and value >= 1)


@settings(FUZZ, max_examples=100)
@given(top_k=top_ks)
def test_any_top_k(bot, top_k):
    def retrieve():
        hits = bot.retrieve("umbrella", top_k=top_k)
        assert all(bot.index.documents[h.chunk.doc_id].text[h.chunk.start:h.chunk.end]
                   == h.chunk.text for h in hits)
        return bot, []

    for call in (lambda: (bot, bot.ask("Who is the agency's spokesman?", top_k=top_k)),
                 lambda: (bot, bot.ask_batch(["umbrella"], top_k=top_k)),
                 retrieve):
        outcome = check_outcome(call)
        assert outcome == ("reply" if valid_top_k(top_k) else "error"), (top_k, outcome)


# --- files -------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=1500)
contents = st.one_of(
    st.binary(max_size=1500),
    texts.map(lambda t: t.encode("utf-8")),
    texts.map(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")),   # a byte order mark
    st.lists(st.one_of(st.sampled_from(WORDS + ODD[3:] + (". ", "\n\n", "# ", "- ", "“", "”")),
                       texts.map(lambda t: t[:40])), max_size=120)
      .map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
)


@settings(FUZZ, max_examples=100)
@given(content=contents, suffix=st.sampled_from([".txt", ".md"]),
       question=st.sampled_from(["Who is it?", "What happened in 1825?", "How much?", "umbrella"]))
def test_any_file_content(tmp_path_factory, fake_embedder_class, content, suffix, question):
    folder = tmp_path_factory.mktemp("doc")
    (folder / f"doc{suffix}").write_bytes(content)
    embedder = fake_embedder_class()
    config = IndexConfig(model_name=embedder.name, chunk_size=200, chunk_overlap=40)

    def load_and_ask():
        bot = QA.load([folder / f"doc{suffix}"], index_dir=folder / "idx", config=config,
                      embedder=embedder, progress=False)
        return bot, bot.ask(question, top_k=3)

    check_outcome(load_and_ask)

