"""Span choice inside a sentence for descriptive questions (no model needed)."""

import pytest

from qa.question import analyze_question
from qa.read import _best_gap


def gap(question: str, sentence: str) -> str | None:
    found = _best_gap(analyze_question(question), sentence)
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


def test_single_plain_word_is_not_an_answer():
    assert gap("What does the report say about rivers?", "It is obvious that the report describes rivers.") is None
