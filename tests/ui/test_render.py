"""ui.render: escaping, highlight offsets, answers, abstentions, the evidence panel."""

from __future__ import annotations

import html
import random
import re

import pytest

from index.types import Chunk, Document, Hit
from qa.types import ABSTENTION, CLOSEST_PASSAGES, Answer, Reply
from ui import render

TAG = re.compile(r"<[^>]+>")


def visible_text(fragment: str) -> str:
    """What a browser shows for ``fragment`` (tags dropped, entities decoded)."""
    return html.unescape(TAG.sub("", fragment))


def make_document(text: str, doc_id: str = "doc.md", title: str = "Doc") -> Document:
    return Document(doc_id=doc_id, title=title, text=text, path=f"/x/{doc_id}", sha256="0", size=len(text))


def make_reply(doc: Document, answer_text: str | None, *, chunks: list[tuple[int, int]],
               sentence: str | None = None, confidence: float = 0.93) -> Reply:
    """A reply over ``doc``: one hit per ``(start, end)`` chunk; an answer read from
    the first chunk holding ``answer_text`` (None: an abstention)."""
    hits = tuple(Hit(Chunk(doc.doc_id, i, s, e, doc.text[s:e]), score=0.03 - i / 1000,
                     dense=0.6 - i / 10, lexical=4.0 - i)
                 for i, (s, e) in enumerate(chunks))
    if answer_text is None:
        return Reply("q", None, (), hits)
    start = doc.text.index(answer_text)
    end = start + len(answer_text)
    sentence = sentence if sentence is not None else answer_text
    s_start = doc.text.index(sentence)
    hit = next(h for h in hits if h.chunk.start <= start and end <= h.chunk.end)
    answer = Answer(text=answer_text, doc_id=doc.doc_id, title=doc.title, start=start, end=end,
                    sentence=sentence, sentence_start=s_start, sentence_end=s_start + len(sentence),
                    confidence=confidence, kind="money", hit=hit)
    return Reply("q", answer, (answer,), hits)


TEXT = ("Intro line.\n\n"
        "The bank has a capital of 100 billion US dollars and more.\n\n"
        "Other facts follow here.")
SENTENCE = "The bank has a capital of 100 billion US dollars and more."
ANSWER = "100 billion US dollars"


def test_escape_turns_markup_into_text():
    assert render.escape("<script>&\"'") == "&lt;script&gt;&amp;&quot;&#x27;"


def test_mark_spans_wraps_the_offsets_given():
    text = "abc <d> efg"
    out = render.mark_spans(text, [(4, 7, "docqa-answer")])
    assert out == 'abc <mark class="docqa-answer">&lt;d&gt;</mark> efg'


def test_mark_spans_uses_document_offsets_and_clips():
    doc = "0123456789"
    # text is doc[3:8]; the span [1, 5) is clipped to [3, 5)
    assert render.mark_spans(doc[3:8], [(1, 5, "m")], offset=3) == '<mark class="m">34</mark>567'
    assert render.mark_spans(doc[3:8], [(8, 9, "m")], offset=3) == "34567"   # outside: dropped


def test_mark_spans_nests_and_cuts_crossing_spans():
    text = "aaaa bbbb cccc"
    nested = render.mark_spans(text, [(5, 9, "in"), (0, 14, "out")])
    assert nested == '<mark class="out">aaaa <mark class="in">bbbb</mark> cccc</mark>'
    crossing = render.mark_spans(text, [(0, 9, "a"), (5, 14, "b")])
    assert visible_text(crossing) == text
    assert crossing.count("<mark") == crossing.count("</mark>") == 2


def test_mark_spans_keeps_the_text_for_any_spans():
    rng = random.Random(7)
    text = 'x<y>&"z\' [link](http://e) **b** ' * 3
    for _ in range(300):
        spans = []
        for _ in range(rng.randint(0, 4)):
            s = rng.randint(-5, len(text) + 5)
            spans.append((s, s + rng.randint(0, 20), rng.choice(["a", "b"])))
        out = render.mark_spans(text, spans)
        assert visible_text(out) == text
        assert out.count("<mark") == out.count("</mark>")
        assert "<y>" not in out and "<script" not in out


def test_mark_spans_gives_an_id():
    out = render.mark_spans("abc", [(1, 2, "docqa-answer")], ids={"docqa-answer": "docqa-cited"})
    assert out == 'a<mark class="docqa-answer" id="docqa-cited">b</mark>c'


def test_reply_shows_bold_answer_highlighted_sentence_confidence_and_citation():
    doc = make_document(TEXT)
    reply = make_reply(doc, ANSWER, chunks=[(0, len(TEXT))], sentence=SENTENCE, confidence=0.93)
    out = render.render_reply(reply, {doc.doc_id: doc})
    assert f"<strong>{ANSWER}</strong>" in out
    marked = re.search(r'<blockquote class="docqa-quote">(.*?)</blockquote>', out).group(1)
    assert visible_text(marked) == f"“{SENTENCE}”"
    assert re.search(r'<mark class="docqa-answer">(.*?)</mark>', marked).group(1) == ANSWER
    start = TEXT.index(ANSWER)
    assert f"Source: Doc, paragraph 2, characters {start}-{start + len(ANSWER)}" in out
    assert "Confidence: high (0.93)" in out


@pytest.mark.parametrize("confidence, word", [(0.93, "high"), (0.6, "medium"), (0.2, "low")])
def test_confidence_is_a_word_and_a_number(confidence, word):
    assert render.confidence_text(confidence) == f"{word} ({confidence:.2f})"


def test_abstention_says_so_and_offers_the_closest_passages():
    text = "\n\n".join(f"Paragraph {i} talks about topic {i}." for i in range(6))
    doc = make_document(text)
    starts = [text.index(f"Paragraph {i}") for i in range(5)]
    reply = make_reply(doc, None, chunks=[(s, s + 30) for s in starts])
    out = render.render_reply(reply, {doc.doc_id: doc})
    assert ABSTENTION == "The document does not say."
    assert ABSTENTION in visible_text(out)
    assert out.count("<li>") == CLOSEST_PASSAGES == 3
    assert f"Doc, characters {starts[0]}-{starts[0] + 30}" in out
    assert "Paragraph 0 talks" in out


def test_abstention_without_passages_is_just_the_sentence():
    doc = make_document(TEXT)
    out = render.render_reply(Reply("q", None, (), ()), {doc.doc_id: doc})
    assert visible_text(out) == ABSTENTION


def test_passages_show_scores_and_highlight_the_answer_where_it_was_read():
    doc = make_document(TEXT)
    first, second = (0, 14), (13, len(TEXT))
    reply = make_reply(doc, ANSWER, chunks=[first, second], sentence=SENTENCE)
    out = render.render_passages(reply, {doc.doc_id: doc})
    cards = re.split(r'<div class="docqa-passage[ "]', out)[1:]
    assert len(cards) == 2
    assert "docqa-answer" not in cards[0] and "answer read here" not in cards[0]
    assert "answer read here" in cards[1] and cards[1].startswith("docqa-source")
    assert re.search(r'<mark class="docqa-answer">(.*?)</mark>', cards[1]).group(1) == ANSWER
    assert "fused 0.0290 · cosine 0.500 · BM25 3.00" in cards[1]
    assert visible_text(re.search(r'docqa-passage-text">(.*?)</div>', cards[1], re.S).group(1)) == TEXT[13:]


def test_document_viewer_shows_the_whole_document_with_the_cited_span():
    doc = make_document(TEXT)
    reply = make_reply(doc, ANSWER, chunks=[(0, len(TEXT))], sentence=SENTENCE)
    out = render.render_document(reply, {doc.doc_id: doc})
    body = re.search(r'<div class="docqa-doc"[^>]*>(.*)</div>$', out, re.S).group(1)
    assert visible_text(body) == TEXT
    cited = re.search(r'<mark class="docqa-answer" id="docqa-cited">(.*?)</mark>', body).group(1)
    assert cited == ANSWER
    assert re.search(r'<mark class="docqa-sentence">(.*?)<mark', body).group(1) == "The bank has a capital of "


def test_a_pdf_answer_shows_its_page_with_the_highlight_and_the_text_one_click_away():
    from dataclasses import replace

    from qa.source import PagePicture

    doc = make_document(TEXT, doc_id="report.pdf", title="Report <2025>")
    reply = make_reply(doc, ANSWER, chunks=[(0, len(TEXT))], sentence=SENTENCE)
    answer = replace(reply.answer, page=4)
    reply = replace(reply, answer=answer, answers=(answer,))
    page = PagePicture(4, b"\x89PNG-not-really", 595.0, 842.0, ((0.1, 0.25, 0.3, 0.27),))
    out = render.render_document(reply, {doc.doc_id: doc}, page)
    assert "Report &lt;2025&gt; · page 4 · characters" in out
    assert '<div class="docqa-page" data-page="4">' in out
    assert f'src="{page.data_url()}"' in out and page.data_url().startswith("data:image/png;base64,")
    mark = re.search(r'<div class="docqa-page-mark" style="([^"]*)"', out).group(1)
    assert mark == "left:10.000%;top:25.000%;width:20.000%;height:2.000%"
    text_view = re.search(r'<details class="docqa-text-view"><summary>Text view</summary>(.*)</details>',
                          out, re.S).group(1)
    assert 'id="docqa-cited"' in text_view and visible_text(text_view) == TEXT
    # Without a picture (the PDF has moved), the text view alone, open.
    alone = render.render_document(reply, {doc.doc_id: doc})
    assert "docqa-page" not in alone and "<details" not in alone and 'id="docqa-cited"' in alone


def test_the_section_heading_is_shown_above_the_text():
    from dataclasses import replace

    doc = make_document(TEXT, doc_id="manual.html")
    reply = make_reply(doc, ANSWER, chunks=[(0, len(TEXT))], sentence=SENTENCE)
    answer = replace(reply.answer, section="Bank › <Capital>")
    out = render.render_document(replace(reply, answer=answer, answers=(answer,)), {doc.doc_id: doc})
    head, rest = out.split('<div class="docqa-section"', 1)
    assert "Bank › &lt;Capital&gt;</div>" in rest and rest.index("</div>") < rest.index("docqa-doc")
    assert "section Bank › &lt;Capital&gt;" in render.render_reply(
        replace(reply, answer=answer, answers=(answer,)), {doc.doc_id: doc})


def test_document_viewer_on_an_abstention_marks_the_closest_passage():
    doc = make_document(TEXT)
    reply = make_reply(doc, None, chunks=[(13, 40)])
    out = render.render_document(reply, {doc.doc_id: doc})
    assert "closest passage marked" in out
    marked = re.search(r'<mark class="docqa-closest-passage" id="docqa-cited">(.*?)</mark>', out).group(1)
    assert marked == TEXT[13:40]


XSS = ('Intro <script>window.__xss=1</script> and <img src=x onerror="window.__xss=2">.\n\n'
       "The vault [link](http://evil.example) holds 100 billion US dollars now.")


def test_nothing_from_the_document_or_question_becomes_markup():
    doc = make_document(XSS, title="<b>Title</b>")
    reply = make_reply(doc, ANSWER, chunks=[(0, len(XSS))],
                       sentence="The vault [link](http://evil.example) holds 100 billion US dollars now.")
    docs = {doc.doc_id: doc}
    abstain = make_reply(doc, None, chunks=[(0, len(XSS))])
    outputs = [render.render_reply(reply, docs), render.render_passages(reply, docs),
               render.render_document(reply, docs), render.render_reply(abstain, docs),
               render.render_document(abstain, docs), render.render_question(XSS),
               render.render_error(XSS), render.render_notice(XSS),
               render.render_upload_message(XSS, ok=False),
               render.render_documents_status(docs, 1, bundled=False)]
    for out in outputs:
        tags = re.findall(r"<([a-zA-Z]+)([^>]*)>", out)
        assert {name for name, _ in tags} <= {"div", "p", "strong", "blockquote", "mark", "span",
                                              "br", "ol", "li", "b"}, tags
        attributes = {a for _, attrs in tags for a in re.findall(r'([\w-]+)=', attrs)}
        assert attributes <= {"class", "id", "data-rank", "data-doc-id"}, attributes
    doc_view = render.render_document(reply, docs)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in doc_view
    assert "&lt;b&gt;Title&lt;/b&gt;" in doc_view
    assert "[link](http://evil.example)" in visible_text(doc_view)


def test_question_bubble_is_escaped_and_shortened():
    assert render.render_question("<i>hi</i>") == "&lt;i&gt;hi&lt;/i&gt;"
    long = render.render_question("a" * 100_000)
    assert len(long) < 1000 and "100,000 characters in all" in long
    assert "empty question" in render.render_question("   ")


def test_status_and_notice_count_in_words():
    docs = {"a.md": None}
    assert "1 passage)" in render.render_documents_status(docs, 1, bundled=False)
    assert "1 document" in render.render_documents_status(docs, 1, bundled=False)
    assert render.documents_notice(docs, 24) == "Now answering from a.md (24 passages)."
    assert render.plural(1_000, "passage") == "1,000 passages"


def test_docstring_examples():
    import doctest

    assert doctest.testmod(render).failed == 0


def test_a_question_of_control_characters_shows_no_boxes():
    """Issue 11: a question of control characters showed as □□□."""
    assert render.render_question("\x01\x02\x7f") == '<span class="docqa-muted">(empty question)</span>'
    assert render.render_question("Who\x07 is it?") == "Who  is it?"
    assert render.render_question("a\ud800b") == "a\ufffdb"   # a lone surrogate cannot reach the browser


def test_indexing_progress_says_the_place_the_stage_and_the_time_left():
    from ui.jobs import JobStatus
    from ui.render import render_indexing

    assert "place 3 in the queue" in render_indexing(JobStatus("queued", ahead=2), "a.txt")
    line = render_indexing(JobStatus("running", stage="Embedding chunks", done=256, total=900,
                                     eta_s=75, elapsed_s=12), "a.txt")
    assert "Indexing a.txt: Embedding chunks 256 of 900 (28%), about 1 min 15 s left for this step " \
           "(12 s so far)." in line
    assert "Loading the language model (2 s so far)." in render_indexing(
        JobStatus("running", stage="Loading the language model", elapsed_s=2), "<b>")
    assert "&lt;b&gt;" in render_indexing(JobStatus("running"), "<b>")
