"""index.parse: constituents come out whole, point into their sentence, and
headings give none."""

from __future__ import annotations

import pytest

from index.parse import LABELS, parse_sentences


def constituents(text: str) -> list[str]:
    (parsed,) = parse_sentences([text])
    return [text[c.start:c.end] for c in parsed.constituents]


@pytest.mark.parametrize("sentence, whole", [
    # amounts with thousands separators and their unit or currency
    ("The harbour handled 12,400 tonnes of grain in 1887.", "12,400 tonnes"),
    ("The council approved a budget of €1,250,000 for the new bridge.", "€1,250,000"),
    ("Annual sales reached $3.2 billion last year.", "$3.2 billion"),
    # temperatures
    ("Preheat the oven to 180°C before you start.", "180°C"),
    ("In winter the lake falls to minus 5 degrees Celsius.", "minus 5 degrees Celsius"),
    ("In summer the water reaches 24 °C at noon.", "24 °C"),
    # dates
    ("Vesuvius buried Pompeii in AD 79.", "AD 79"),
    ("The mill was rebuilt in the late 19th century by its owners.", "the late 19th century"),
    ("The minutes were approved on 3 March 2021 without changes.", "3 March 2021"),
    # multi-word names
    ("Maria Fernanda Oliveira chaired the meeting.", "Maria Fernanda Oliveira"),
    ("The loan came from the Export-Import Bank of China.", "the Export-Import Bank of China"),
    ("Kassym-Jomart Tokayev visited Beijing in September.", "Kassym-Jomart Tokayev"),
])
def test_phrases_come_out_whole(sentence, whole):
    assert whole in constituents(sentence)


def test_constituents_point_into_their_sentence_and_are_trimmed():
    texts = ["“Cash is king,” said the banker; “diversify,” said the adviser.",
             "1,000 people — about 30% of them — came; some left early.",
             "Ünïcödé wörds, 東京 and emoji 🎉 stay where they are.",
             "It is what it is."]
    for text, parsed in zip(texts, parse_sentences(texts)):
        assert len(parsed.starts) == len(parsed.heads) == len(parsed.pos)
        for c in parsed.constituents:
            span = text[c.start:c.end]
            assert span and span == span.strip(" ,;:.“”\"'")
            assert c.labels and c.labels < 1 << len(LABELS)
            assert parsed.starts[c.first] == c.start and parsed.ends[c.last - 1] == c.end
        spans = [(c.start, c.end) for c in parsed.constituents]
        assert len(spans) == len(set(spans)), "one constituent per distinct span"


def test_function_words_alone_are_not_candidates():
    assert not {"which", "it", "It", "they", "of the"} & set(
        constituents("Kazakhstan, which borders China, sees it as a partner."))


@pytest.mark.parametrize("heading", ["# History of the mill", "## When it was built",
                                     "Harbour Report 1887", "Ingredients"])
def test_headings_yield_no_candidates(heading):
    (parsed,) = parse_sentences([heading])
    assert parsed.heading and parsed.constituents == ()


def test_sentences_are_not_headings():
    (parsed,) = parse_sentences(["The mill was built in 1887."])
    assert not parsed.heading and parsed.constituents
