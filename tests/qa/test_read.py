"""The reader on small documents of our own (the real model, the shipped reader):
answers come out as whole phrases, headings are never answers, and a
sentence that opens with a pronoun borrows its subject from the one before."""

from __future__ import annotations

import numpy as np
import pytest

from qa import QA
from qa.features import SPAN_FEATURES, QuestionView, question_words
from qa.question import analyze_question
from qa.read import load_reader_model

pytestmark = pytest.mark.slow

HISTORY = """# Harwood Mill: a short history

The first mill on the Dunmore river was built by Thomas Harwood in 1761.
The mill was rebuilt in the late 19th century by the Harwood Milling Company.
In 1887 the harbour below the mill handled 12,400 tonnes of grain.
Maria Fernanda Oliveira chaired the heritage committee that restored it in 2004.
"""

RECIPE = """# Honey loaf

Preheat the oven to 180°C before you mix anything.
Bake the loaf for 45 minutes, until a skewer comes out clean.
"""

FESTIVAL = """# The Zorbian Glass Festival

The Zorbian Glass Festival is held every October in the old town of Zorbia.
It was founded in 1887 by a guild of glassblowers.
"""

ROME = """# Pompeii

Pompeii was a Roman town near modern Naples.
The eruption of Vesuvius buried Pompeii in AD 79.
"""


@pytest.fixture(scope="module")
def bots(tmp_path_factory, real_embedder):
    base = tmp_path_factory.mktemp("small-docs")
    out = {}
    for name, text in (("history", HISTORY), ("recipe", RECIPE), ("festival", FESTIVAL),
                       ("rome", ROME)):
        path = base / f"{name}.md"
        path.write_text(text, encoding="utf-8")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
            out[name] = QA.load([path], index_dir=base / f"index-{name}", embedder=real_embedder,
                                progress=False)
    return out


@pytest.mark.parametrize("doc, question, expected", [
    ("history", "How much grain did the harbour handle in 1887?", "12,400 tonnes"),
    ("history", "When was the mill rebuilt?", "the late 19th century"),
    ("history", "Who chaired the heritage committee?", "Maria Fernanda Oliveira"),
    ("history", "Who built the first mill on the Dunmore river?", "Thomas Harwood"),
    ("recipe", "What temperature should the oven be preheated to?", "180°C"),
    ("rome", "When did Vesuvius bury Pompeii?", "AD 79"),
    ("festival", "When was the Zorbian Glass Festival founded?", "1887"),
])
def test_answers_are_whole_phrases(bots, doc, question, expected):
    reply = bots[doc].ask(question)
    assert reply.answers, question
    top = reply.answers[0]
    assert top.text == expected, (question, [(a.text, round(a.confidence, 2)) for a in reply.answers])
    doc_text = bots[doc].index.documents[top.doc_id].text
    assert doc_text[top.start:top.end] == top.text


def test_a_heading_is_never_an_answer(bots):
    for question in ("When was it built?", "What is the history of Harwood Mill?",
                     "What is this about?"):
        for a in bots["history"].ask(question).answers:
            assert "short history" not in a.sentence, (question, a.text)


def test_a_pronoun_sentence_borrows_the_subject_before_it(bots):
    bot = bots["festival"]
    question = analyze_question("When was the Zorbian Glass Festival founded?")
    index = bot.index
    it = next(s for s in index.sentences if s.text.startswith("It was founded"))
    from qa.read import _idf_table
    from qa.features import candidate_rows

    view = QuestionView.of(question, _idf_table(question, index),
                           bot.encoder.embed_texts(question_words(question)))
    _, rows = candidate_rows(view, it.text, it.sentence_id, index.analysis, [0.0] * 12,
                             index.analysis.tokens(it.sentence_id - 1))
    col = SPAN_FEATURES.index
    assert np.all(rows[:, col("s_pronoun_open")] == 1)
    assert np.all(rows[:, col("s_prev_lexical")] > 0.5)


@pytest.mark.parametrize("question", ["Who rebuilt the mill?", "How much grain did the harbour handle?",
                                      "When was the first mill built on the river?"])
def test_sentences_read_together_get_the_rows_they_get_alone(bots, question):
    # Each sentence's words and tree stay its own when several are read in one pass.
    from qa.features import candidate_rows, candidate_rows_many
    from qa.read import _idf_table

    bot = bots["history"]
    index, q = bot.index, analyze_question(question)
    view = QuestionView.of(q, _idf_table(q, index), bot.encoder.embed_texts(question_words(q)))
    inputs = [(s.text, s.sentence_id, [float(s.sentence_id)] * 12,
               index.analysis.tokens(s.sentence_id - 1) if s.sentence_id else None)
              for s in index.sentences][::-1]
    together = candidate_rows_many(view, inputs, index.analysis)
    assert sum(len(rows) for _, rows in together) > 20
    for (text, sid, row, prev), (cands, rows) in zip(inputs, together):
        alone_cands, alone_rows = candidate_rows(view, text, sid, index.analysis, row, prev)
        assert cands == alone_cands
        np.testing.assert_array_equal(rows, alone_rows)


def test_question_words_put_the_head_noun_first():
    q = analyze_question("Which bank lent the money to the refinery?")
    assert q.head == "bank"
    assert question_words(q)[0] == "bank"
    assert "which" not in question_words(q) and "the" not in question_words(q)


def test_the_shipped_model_scores_rows_of_its_features():
    model = load_reader_model()
    assert model.span.features == SPAN_FEATURES
    scores = model.span.raw(np.zeros((3, len(SPAN_FEATURES))))
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
