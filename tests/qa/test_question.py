"""Question analysis on questions written for these tests (not the dev set)."""

import pytest

from qa.question import analyze_question


@pytest.mark.parametrize("question, kind", [
    ("How much did the new bridge cost?", "money"),
    ("How much money was raised by the charity?", "money"),
    ("What was the total value of the contract?", "money"),
    ("How many employees does the firm have?", "number"),
    ("How long, in miles, is the canal?", "number"),
    ("What percentage of voters turned out?", "percent"),
    ("What share of exports goes to Europe?", "percent"),
    ("When did the war end?", "date"),
    ("In which year was the treaty signed?", "date"),
    ("Who founded the company?", "person"),
    ("Which president signed the bill?", "person"),
    ("Which university did she attend?", "organisation"),
    ("According to which agency did prices rise?", "organisation"),
    ("Where was the treaty signed?", "place"),
    ("Which city hosted the games?", "place"),
    ("What is the capital of France?", "place"),
    ("Which rivers flow into the lake?", "place"),
    ("Which ship sank first?", "entity"),
    ("Why did the bridge collapse?", "reason"),
    ("Is the museum open on Mondays?", "yesno"),
    ("What kind of engine does the car use?", "description"),
    ("What did the committee recommend?", "description"),
])
def test_kinds(question, kind):
    assert analyze_question(question).kind == kind


def test_head_noun_and_plural():
    q = analyze_question("Between which two rival firms is the dispute?")
    assert q.head == "firms" and q.plural
    q = analyze_question("How many bridges cross the river?")
    assert q.head == "bridges"


def test_terms_are_stemmed_content_words():
    q = analyze_question("Who founded the Acme Company in Boston?")
    assert q.terms == ("found", "acm", "compani", "boston")


@pytest.mark.parametrize("question, kind", [
    ("Who was the chief executive when the service began?", "person"),
    ("What satellite was used when the channel was launched?", "description"),
    ("When did the service begin?", "date"),
])
def test_when_in_a_later_clause_does_not_make_a_date_question(question, kind):
    assert analyze_question(question).kind == kind


def test_passive_question_keeps_its_verb():
    assert analyze_question("Who is the scrambling system owned by?").verb == "own"
    assert analyze_question("Who published the article?").verb == "publish"
