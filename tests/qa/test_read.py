"""Span choice inside a sentence for descriptive questions (no model needed)."""

import pytest

from index.analysis import sentence_words
from qa.question import analyze_question
from qa.read import _best_gap


def gap(question: str, sentence: str) -> str | None:
    found = _best_gap(analyze_question(question), sentence, sentence_words(sentence))
    return sentence[found[0]:found[1]] if found else None


@pytest.mark.parametrize("question, sentence, expected", [
    ("What does most of the HD material use as a standard?",
     "Sky+ HD material is broadcast using MPEG-4 and most of the HD material uses the DVB-S2 standard.",
     "DVB-S2"),
    ("What consortium was the company excluded from?",
     "While the company had been excluded from being a part of the ONdigital consortium, it bid again.",
     "ONdigital"),
    ("What strategy does the city council follow regarding its parks?",
     "Sadly, the city council follows the strategy of “selling the parks to developers” regarding its parks.",
     "selling the parks to developers"),
])
def test_descriptive_answers_are_the_words_beside_the_question(question, sentence, expected):
    assert gap(question, sentence) == expected


def test_no_gap_when_nothing_touches_the_question():
    assert gap("What colour is the submarine?", "Bananas grow in warm countries.") is None


def test_single_plain_word_beside_the_question_on_one_side_is_not_an_answer():
    assert gap("What did the mayor announce?", "The mayor resigned.") is None


def test_single_word_between_question_words_is_an_answer():
    assert gap("What actively replicates rumours on social networks?",
               "Rumours are replicated by videos on social networks.") == "videos"


@pytest.mark.parametrize("question, sentence, expected", [
    ("How long did the Venetians rule the island?", "The Venetians ruled the island for 380 years after the war.",
     "380 years"),
    ("What year did the storm hit the fleet?", "A storm hit the fleet in April 1191 near Crete.", "1191"),
])
def test_span_is_shaped_to_the_question(question, sentence, expected):
    from qa.read import _shape_span
    from index.spans import find_spans

    q = analyze_question(question)
    span = next(s for s in find_spans(sentence) if s.kind in ("number", "date"))
    start, end = _shape_span(q, sentence, span)
    assert sentence[start:end] == expected
