"""Tests for qa.features helpers that the span features rest on."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from qa.features import AGENT, TRAILING_THE, words_before

# Pieces that make the patterns' edge cases likely: "the" inside and at the
# edge of words, every kind of space and dash, "by" with 0-4 words after it.
PIECES = ["the", "The", "THE", "th", "he", "by", "By", "bye", "x", "é", "_", "1", "'", "’",
          " ", "  ", "\t", "\n", "\u00a0", "\u2003", ",", "-", "–", "—", ".", "İ"]


def by_definition(text: str, start: int) -> tuple[str, bool]:
    before = text[max(0, start - 40):start].lower()
    before = TRAILING_THE.sub(" ", before).rstrip()
    return before, AGENT.search(before) is not None


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join), st.data())
@example("agreement signed by the ", None)
@example("built by the engineer, the ", None)
@example("bythe ", None)
def test_words_before_agrees_with_the_patterns(text, data):
    start = len(text) if data is None else data.draw(st.integers(0, len(text)))
    assert words_before(text, start) == by_definition(text, start)


def test_words_before_examples():
    assert words_before("It was signed by the ", 21) == ("it was signed by", True)
    assert words_before("According to the ", 17) == ("according to", False)
    assert words_before("bathe ", 6) == ("bathe", False)
    assert words_before("made by one two three", 21)[1]
    assert not words_before("made by one two three four", 26)[1]
    assert not words_before("made nearby one", 15)[1]
