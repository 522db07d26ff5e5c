"""Two-turn conversations: the follow-up is rewritten from the previous turn."""

import pytest

from qa.followup import Turn, resolve

PRESIDENT = Turn("Who is the new president of Kazakhstan?", "Kassym-Jomart Tokayev", True)
LENT = Turn("How much has China lent to Kazakhstan?", "more than $50 billion")
AIIB = Turn("How much capital does the Asian Infrastructure Investment Bank have?", "100 billion US dollars")
BELT = Turn("Who proclaimed the Silk Road Economic Belt in Kazakhstan?", "Xi Jinping", True)
AUTHOR = Turn("Who wrote the article about Central Asia?", "Luke Coffey", True)
REFINERIES = Turn("Which refineries did Chinese companies help to modernize?", "Atyrau and Shymkent", True)
DEBT = Turn("What share of Kazakhstan's external debt belongs to China?", "almost a third")
BRIDGE = Turn("When was the Golden Gate Bridge opened?", "1937")
CURIE = Turn("Who discovered polonium?", "Marie Curie", True)
ABSTAINED = Turn("Who founded the Acme Company?", None)


@pytest.mark.parametrize("history, question, expected", [
    ([PRESIDENT], "What does he know well?", "What does Kassym-Jomart Tokayev know well?"),
    ([LENT], "And how much did it invest?", "How much did China invest?"),
    ([AIIB], "What about the Silk Road Fund?", "How much capital does the Silk Road Fund have?"),
    ([AIIB], "And the Silk Road Fund?", "How much capital does the Silk Road Fund have?"),
    ([BELT], "In what year did he proclaim it?",
     "In what year did Xi Jinping proclaim Silk Road Economic Belt?"),
    ([AUTHOR], "Which foundation does he work for?", "Which foundation does Luke Coffey work for?"),
    ([REFINERIES], "What fuel standards do they meet?", "What fuel standards do Atyrau and Shymkent meet?"),
    ([DEBT], "And its share in oil projects?", "What is Kazakhstan's share in oil projects?"),
    ([BRIDGE], "How long is it?", "How long is Golden Gate Bridge?"),
    ([PRESIDENT, CURIE], "Where was she born?", "Where was Marie Curie born?"),
    ([ABSTAINED], "When did he die?", "When did he die?"),
    ([PRESIDENT], "What is the capital of Kazakhstan?", "What is the capital of Kazakhstan?"),
    ([], "What does he know well?", "What does he know well?"),
])
def test_follow_up_is_resolved_from_the_previous_turn(history, question, expected):
    assert resolve(question, history) == expected


@pytest.mark.slow
@pytest.mark.parametrize("first, follow_up, answer", [
    ("How much capital does the Asian Infrastructure Investment Bank have?",
     "What about the Silk Road Fund?", "50 billion US dollars"),
    ("Who proclaimed the Silk Road Economic Belt in Kazakhstan?", "In what year did he proclaim it?", "2013"),
    ("Who wrote the article “Can Kazakhstan Be America’s New Partner in Central Asia?”",
     "Which foundation does he work for?", "Douglas & Sarah Allison Foundation"),
])
def test_follow_ups_end_to_end(bundled_bot, first, follow_up, answer):
    """The follow-up is rewritten and the reader finds the sentence that
    answers it (the exact span is the reader's business: tests/qa/test_dev_floors)."""
    previous = bundled_bot.ask(first)
    reply = bundled_bot.ask(follow_up, history=[previous])
    assert reply.question == follow_up and reply.query != follow_up
    assert reply.answers and answer in reply.answers[0].sentence, reply.query
    assert reply.to_dict()["query"] == reply.query
