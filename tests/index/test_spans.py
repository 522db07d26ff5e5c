"""Candidate spans: kinds, and offsets that point back into the sentence."""

import pytest

from index.spans import find_spans


def kinds(text):
    return [(s.kind, s.text) for s in find_spans(text)]


@pytest.mark.parametrize("text, expected", [
    ("It cost $13.9 billion.", ("money", "$13.9 billion")),
    ("A fund of 100 billion US dollars was set up.", ("money", "100 billion US dollars")),
    ("The loans reached more than $50 billion.", ("money", "more than $50 billion")),
    ("Its share is over 30% today.", ("percent", "over 30%")),
    ("Almost a third of the debt is owed.", ("percent", "Almost a third")),
    ("Signed on February 1, 2017 in Astana.", ("date", "February 1, 2017")),
    ("It opened in 1998 after delays.", ("date", "1998")),
    ("It happened a few years ago.", ("date", "a few years ago")),
    ("They built 51 factories.", ("number", "51")),
    ("Led by Kassym-Jomart Tokayev now.", ("name", "Kassym-Jomart Tokayev")),
    ("Loans from the EXIM Bank of China grew.", ("name", "EXIM Bank of China")),
    ("Funded by the Douglas & Sarah Allison Foundation.", ("name", "Douglas & Sarah Allison Foundation")),
])
def test_finds_span(text, expected):
    assert expected in kinds(text)


def test_no_name_from_sentence_opening_words():
    names = [t for k, t in kinds("According to the report, the plan failed.") if k == "name"]
    assert names == []


def test_money_is_not_also_a_number_and_year_not_a_count():
    found = kinds("In 2013 it lent $5 billion.")
    assert ("money", "$5 billion") in found and ("date", "2013") in found
    assert not [t for k, t in found if k == "number"]


def test_and_phrases_are_offered_whole_and_in_parts():
    names = [t for k, t in kinds("Plants in Atyrau and Shymkent were rebuilt.") if k == "name"]
    assert {"Atyrau and Shymkent", "Atyrau", "Shymkent"} <= set(names)


def test_offsets_round_trip():
    text = "On 1 May 2019, Acme Corp paid “over $2.5 million” – about 12% – to 40 staff in Paris."
    spans = find_spans(text)
    assert spans
    for s in spans:
        assert text[s.start:s.end] == s.text and s.text == s.text.strip()
