"""Tests for index.sentences.split_sentences (hypothesis is not installed: seeded fuzz)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from index.sentences import split_sentences

DOC = Path(__file__).resolve().parents[2] / "data/china-kazakhstan.txt"


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def check_invariants(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> None:
    """Round-trip, stripped, ordered, disjoint, single-line, full non-space coverage."""
    end = len(text) if end is None else end
    prev = start
    for s, e in spans:
        assert prev <= s < e <= end, (spans, start, end)
        piece = text[s:e]
        assert piece and piece == piece.strip()
        assert len(piece.splitlines()) == 1, piece  # no line break inside
        assert not text[prev:s].strip(), "non-space text dropped before span"
        prev = e
    assert not text[prev:end].strip(), "non-space text dropped at the end"


# --- the real document -------------------------------------------------------

def test_real_document():
    assert DOC.exists(), DOC
    text = DOC.read_text(encoding="utf-8-sig")
    spans = split_sentences(text)
    check_invariants(text, spans)
    got = [text[s:e] for s, e in spans]
    assert all("\n" not in g for g in got)
    for amount in ("$13.9 billion", "$42.8 billion"):
        i = text.index(amount)
        assert any(s <= i and i + len(amount) <= e for s, e in spans), amount
    assert "Why they love China in Kazakhstan" in got  # heading is its own sentence
    assert "What can such a dichotomy lead to?" in got
    assert len(got) > 50


# --- tricky small texts ----------------------------------------------------------

CASES = [
    ("Hello world. How are you? Fine!", ["Hello world.", "How are you?", "Fine!"]),
    # line breaks always end a sentence
    ("Why they love China in Kazakhstan\nChina has grown.", ["Why they love China in Kazakhstan", "China has grown."]),
    ("Para one.\n\nPara two.", ["Para one.", "Para two."]),
    ("- item one\n- item two\n• item three", ["- item one", "- item two", "• item three"]),
    ("A heading\r\nNext line.\rOld mac", ["A heading", "Next line.", "Old mac"]),
    ("no punctuation at all\nsecond line lower", ["no punctuation at all", "second line lower"]),
    ("  Trailing spaces.   \n\n   Leading spaces here.  ", ["Trailing spaces.", "Leading spaces here."]),
    # numbers and amounts
    ("Trade reached $13.9 billion. Growth was 3.5% in 2019.", ["Trade reached $13.9 billion.", "Growth was 3.5% in 2019."]),
    ("It cost 1,000.50 dollars in v2.0 of the plan.", ["It cost 1,000.50 dollars in v2.0 of the plan."]),
    ("Use a tool, e.g. 5 hammers.", ["Use a tool, e.g. 5 hammers."]),
    ("Growth hit 30%. In 2013. The end", ["Growth hit 30%.", "In 2013.", "The end"]),
    ("It grew. 2020 was good.", ["It grew.", "2020 was good."]),
    ("1. First item\n2. Second item", ["1. First item", "2. Second item"]),
    ("Two points. 1. Foo is first.", ["Two points.", "1. Foo is first."]),
    # abbreviations
    ("Mr. Smith met Dr. Jones and Prof. Lee.", ["Mr. Smith met Dr. Jones and Prof. Lee."]),
    ("Mrs. Brown and Ms. Green live on St. James near Mt. Fuji with Sr. Ruiz Jr. Today.",
     ["Mrs. Brown and Ms. Green live on St. James near Mt. Fuji with Sr. Ruiz Jr. Today."]),
    ("It is apples vs. Oranges, cf. Smith et al. 2020.", ["It is apples vs. Oranges, cf. Smith et al. 2020."]),
    ("We bought pens, paper, etc. and ink.", ["We bought pens, paper, etc. and ink."]),
    ("We bought pens, paper, etc. Then we left.", ["We bought pens, paper, etc.", "Then we left."]),
    ("He joined the U.S. Army in the U.K. Then the U.N. And E.U. Too.",
     ["He joined the U.S. Army in the U.K. Then the U.N. And E.U. Too."]),
    ("Acme Inc. And Foo Ltd. In Jan. 2020 with Bar Co. And Baz Corp. Today.",
     ["Acme Inc. And Foo Ltd. In Jan. 2020 with Bar Co. And Baz Corp. Today."]),
    ("See Fig. 3 and No. 5 on approx. 10 pages, i.e. Many.", ["See Fig. 3 and No. 5 on approx. 10 pages, i.e. Many."]),
    ("No. Then he left.", ["No.", "Then he left."]),
    ("Meet at 5 p.m. On Dec. 3 or 9 a.m. Sharp.", ["Meet at 5 p.m. On Dec. 3 or 9 a.m. Sharp."]),
    ("J. R. R. Tolkien wrote it. Xi J. Ping agreed.", ["J. R. R. Tolkien wrote it.", "Xi J. Ping agreed."]),
    ("(Dr. Who) is here.", ["(Dr. Who) is here."]),
    # quotes and brackets
    ("He said: “Go home.” Then he left.", ["He said: “Go home.”", "Then he left."]),
    ("“Why?” he asked. “Because!” she said.", ["“Why?” he asked.", "“Because!” she said."]),
    ("He said 'Go.' 'No,' she replied.", ["He said 'Go.'", "'No,' she replied."]),
    ('She said "Stop." "Why?" "Because."', ['She said "Stop."', '"Why?"', '"Because."']),
    ("Le «Bonjour.» Puis il part.", ["Le «Bonjour.»", "Puis il part."]),
    ("Really?! Yes. (This is an aside.) Next [one.] Last.", ["Really?!", "Yes.", "(This is an aside.)", "Next [one.]", "Last."]),
    ("Its “socio-politically”. Next sentence.", ["Its “socio-politically”.", "Next sentence."]),
    ("It’s ‘fine.’ ‘Really?’ Yes.", ["It’s ‘fine.’", "‘Really?’", "Yes."]),
    # ellipsis
    ("Wait… what? He paused… Then he spoke.", ["Wait… what?", "He paused…", "Then he spoke."]),
    ("He paused... Then he spoke. Wait... what?", ["He paused...", "Then he spoke.", "Wait... what?"]),
    # dashes never end a sentence; ? and ! before lower case do not split
    ("The neighbor – Moscow — and the West - all agree.", ["The neighbor – Moscow — and the West - all agree."]),
    ("Stop! he cried. Go? no way.", ["Stop! he cried.", "Go? no way."]),
    # odd white space and no space after the period
    ("One.\u00a0Two.\tThree.", ["One.", "Two.", "Three."]),
    ("Ends here.Next is glued.", ["Ends here.Next is glued."]),
    ("Dots .... Everywhere..... Yes", ["Dots ....", "Everywhere.....", "Yes"]),
    ("Dots .... everywhere.", ["Dots .... everywhere."]),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_cases(text, expected):
    spans = split_sentences(text)
    check_invariants(text, spans)
    assert [text[s:e] for s, e in spans] == expected


@pytest.mark.parametrize("text", ["", " ", "   \n\n\t ", "\u00a0\u2028\r\n"])
def test_empty_and_whitespace(text):
    assert split_sentences(text) == []


# --- start / end ---------------------------------------------------------------

def test_region_offsets_into_full_text():
    text = "Intro here. Mr. Li paid $13.9 billion. Why?\n\nNext para. Done."
    a, b = text.index("Mr."), text.index("Next") - 2
    spans = split_sentences(text, a, b)
    check_invariants(text, spans, a, b)
    assert [text[s:e] for s, e in spans] == ["Mr. Li paid $13.9 billion.", "Why?"]
    assert spans == [(s + a, e + a) for s, e in split_sentences(text[a:b])]
    assert split_sentences(text, 5, 5) == [] and split_sentences(text, 9, 3) == []
    assert split_sentences(text, -5) == [(s - 5 + len(text), e - 5 + len(text)) for s, e in split_sentences(text[-5:])]


def test_region_on_real_document_paragraphs():
    text = DOC.read_text(encoding="utf-8-sig")
    whole = split_sentences(text)
    pos = 0
    for para in text.split("\n"):
        a, b = pos, pos + len(para)
        pos = b + 1
        region = split_sentences(text, a, b)
        check_invariants(text, region, a, b)
        assert region == [(s + a, e + a) for s, e in split_sentences(text[a:b])]
        assert region == [sp for sp in whole if a <= sp[0] < b]  # paragraphs split independently


# --- seeded fuzz (property test) ----------------------------------------------------

WORDS = ["Hello", "world", "the", "china", "Kazakhstan", "U.S.", "Mr.", "etc.", "e.g.", "$13.9", "3.5%",
         "1,000.50", "v2.0", "J.", "No.", "1.", "“Go", "home.”", "Why?”", "‘yes’", "«Oui»", "(aside)",
         "[ref]", "…", "...", "–", "—", "-", "x", "Dr.", "a.m.", "Inc.", "\"quoted\"", "'single'", "2013"]
PUNCT = ["", "", "", ".", "!", "?", "…", "...", ".”", "?”", ".)", "!'", ",", ":", ".»", ".\"", "?!"]
SEPS = [" ", " ", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\r\n", " \n ", ""]


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 40)):
        parts.append(rng.choice(WORDS) + rng.choice(PUNCT) + rng.choice(SEPS))
    return "".join(parts)


def test_fuzz_invariants_and_regions():
    rng = random.Random(20240601)
    alphabet = "aZ .!?…\"'”’»)]“‘«(\n\r \t\u00a0–1$%,"
    for n in range(3000):
        if n % 3:
            text = random_text(rng)
        else:  # raw character soup for robustness
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        spans = split_sentences(text)
        check_invariants(text, spans)
        a = rng.randint(0, len(text))
        b = rng.randint(a, len(text))
        region = split_sentences(text, a, b)
        check_invariants(text, region, a, b)
        # only text[a:b] is consulted, so any region equals the shifted slice
        assert region == [(s + a, e + a) for s, e in split_sentences(text[a:b])]
        # at white space cut points the region agrees with the whole-text split
        ws = [i for i, c in enumerate(text) if c in "\n\r"]
        if ws:
            a, b = sorted((rng.choice(ws), rng.choice(ws)))
            assert split_sentences(text, a, b) == [sp for sp in spans if a <= sp[0] and sp[1] <= b]


# --- pathological input: catastrophic backtracking would hang here (no timing asserted) ---

def test_pathological_and_large_input():
    text = DOC.read_text(encoding="utf-8-sig")
    split_sentences("." * 200_000 + "x")
    split_sentences("?”" * 100_000 + "x")
    split_sentences(". " * 100_000)
    big = split_sentences("\n".join([text] * 50))  # ~0.6 MB
    assert len(big) == 50 * len(split_sentences(text))
