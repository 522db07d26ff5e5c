"""The app in a real browser (Debian's Chromium through Playwright).

Each test also checks the page asked nothing of any host but 127.0.0.1.
"""

from __future__ import annotations

import pytest
from uitest import AIIB_ANSWER, AIIB_QUESTION, GARDEN_DOC, OFF_TOPIC, XSS_DOC

from ui.config import EXAMPLES
from ui.render import confidence_text

pytestmark = pytest.mark.slow


def cited_is_in_view(page) -> bool:
    """The cited span lies inside the document box's visible area."""
    return page.evaluate("""() => {
        const box = document.querySelector('#docqa-document .docqa-doc').getBoundingClientRect();
        const mark = document.querySelector('#docqa-cited').getBoundingClientRect();
        return mark.height > 0 && mark.top >= box.top && mark.bottom <= box.bottom;
    }""")


def test_a_typed_question_gets_its_cited_highlighted_answer(open_page, bundled_url, ui_bot, tmp_path):
    expected = ui_bot.ask(AIIB_QUESTION)
    app = open_page(bundled_url)
    reply = app.ask(AIIB_QUESTION)
    assert reply.locator("strong").first.inner_text() == AIIB_ANSWER
    assert reply.locator("blockquote mark.docqa-answer").inner_text() == AIIB_ANSWER
    text = reply.inner_text()
    assert "Source: china-kazakhstan.txt, paragraph 6, characters 2470-2492" in text
    assert f"Confidence: {confidence_text(expected.answer.confidence)}" in text
    # the question stays in the history, the box is emptied for the next one
    assert app.page.locator("#docqa-chat").get_by_text(AIIB_QUESTION).count() == 1
    assert app.question.input_value() == ""

    evidence = app.page.locator("#docqa-evidence")
    source = evidence.locator(".docqa-passage.docqa-source")
    assert source.count() == 1 and "answer read here" in source.inner_text()
    assert source.locator("mark.docqa-answer").inner_text() == AIIB_ANSWER
    assert evidence.locator(".docqa-passage").count() == 5
    assert f"fused {expected.passages[0].score:.4f}" in evidence.locator(".docqa-passage").first.inner_text()

    document = app.page.locator("#docqa-document")
    assert document.locator("#docqa-cited").inner_text() == AIIB_ANSWER
    assert document.locator(".docqa-doc").inner_text().startswith("China’s growth is a topic")
    app.page.wait_for_function("""() => {
        const box = document.querySelector('#docqa-document .docqa-doc');
        return box && box.scrollTop > 0;
    }""", timeout=5000)
    assert cited_is_in_view(app.page)

    app.page.screenshot(path=str(tmp_path / "answer.png"))
    assert (tmp_path / "answer.png").stat().st_size > 10_000
    assert app.outside == [] and app.dialogs == []


def test_abstention_example_button_and_clear(open_page, bundled_url, ui_bot):
    app = open_page(bundled_url)
    example = EXAMPLES[0]
    app.page.get_by_role("button", name=example).click()
    app.page.wait_for_function("document.querySelectorAll('#docqa-chat .docqa-reply').length > 0")
    assert app.page.locator("#docqa-chat").get_by_text(example).count() == 1
    expected = ui_bot.ask(example).answer
    shown = app.bot_messages().last.locator("strong").first.inner_text()
    assert shown == (expected.text if expected else "The document does not say.")

    reply = app.ask(OFF_TOPIC)
    assert reply.locator("strong").first.inner_text() == "The document does not say."
    assert "Closest passages:" in reply.inner_text() and reply.locator("li").count() == 3
    assert "closest passage marked" in app.page.locator("#docqa-document").inner_text()
    assert app.page.locator("#docqa-document #docqa-cited.docqa-closest-passage").count() == 1

    app.page.locator("#docqa-clear").click()
    app.page.wait_for_function("document.querySelectorAll('#docqa-chat .docqa-reply').length == 0")
    assert "appear here" in app.page.locator("#docqa-evidence").inner_text()
    assert app.outside == []


def test_bad_questions_are_chat_messages_and_the_chat_goes_on(open_page, bundled_url):
    app = open_page(bundled_url)
    long = app.ask("x" * 100_000)
    assert "Cannot answer: question is too long (100,000 characters; the limit is 1,000)" in long.inner_text()
    blank = app.ask("\x01\x02   \x07")
    assert "Cannot answer: question is empty" in blank.inner_text()
    good = app.ask("\x07" + AIIB_QUESTION.replace(" the ", " the\x00 "))
    assert good.locator("strong").first.inner_text() == AIIB_ANSWER
    assert app.bot_messages().count() == 3
    assert "Traceback" not in app.page.content()


def test_a_hostile_document_is_shown_as_text(open_page, serve, tmp_path):
    from qa import QA

    doc = tmp_path / "vault.md"
    doc.write_text(XSS_DOC, encoding="utf-8")
    bot = QA.load([doc], index_dir=tmp_path / "index", progress=False)
    app = open_page(serve(bot, bundled=False))
    question = 'Where was the picture <img src=x onerror="window.__xss = 5"> taken?'
    reply = app.ask(question)
    page = app.page
    page.wait_for_timeout(300)   # give any injected handler the chance to fire
    assert page.evaluate("window.__xss") is None
    assert app.dialogs == [] and app.outside == []
    assert reply.locator("strong").first.inner_text() == "Paris"
    assert 'The picture <img src=x onerror="window.__xss = 2"> was taken' in reply.inner_text()
    assert "Source: Vault notes <b>bold?</b>, paragraph 3" in reply.inner_text()
    assert page.locator("#docqa-chat").get_by_text(question).count() == 1
    shown = page.locator("#docqa-document .docqa-doc").inner_text()
    assert "<script>window.__xss = 1; alert(1)</script>" in shown
    assert "See [the bank](http://evil.example/phish) and **not bold** and $$x^2$$" in shown
    assert "${window.__xss = 3} and {{value}}" in shown
    for panel in ("#docqa-chat", "#docqa-evidence", "#docqa-document"):
        assert page.locator(f"{panel} img[src='x'], {panel} script, {panel} a[href*='evil']").count() == 0
        assert page.locator(f"{panel} .docqa-reply b, {panel} .docqa-doc b").count() == 0


def use_files(page, path) -> None:
    """Choose ``path`` in the upload box, wait until the box shows it, and press
    "Use these files"."""
    page.locator("#docqa-files input[type=file]").set_input_files(str(path))
    page.locator("#docqa-files").get_by_text(path.name).first.wait_for()
    page.locator("#docqa-use-files").click()


def test_upload_a_markdown_file_then_ask_about_it(open_page, bundled_url, tmp_path):
    notes = tmp_path / "garden.md"
    notes.write_text(GARDEN_DOC, encoding="utf-8")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    app = open_page(bundled_url)
    page = app.page
    page.get_by_text("Your documents").click()

    use_files(page, bad)
    page.locator("#docqa-upload-msg .docqa-upload-bad").wait_for(timeout=30_000)
    assert ("Not indexed: 'latin1.txt' is not UTF-8 text (bad byte at offset 3). "
            "Still answering from the previous documents.") == page.locator("#docqa-upload-msg").inner_text()

    # the file box keeps what was dropped in it: take the bad file out first
    page.locator("#docqa-files button[aria-label='Clear']").click()
    page.locator("#docqa-files").get_by_text("latin1.txt").first.wait_for(state="detached")
    use_files(page, notes)
    page.locator("#docqa-upload-msg .docqa-upload-ok").wait_for(timeout=60_000)
    assert "Now answering from garden.md (1 passage)." in page.locator("#docqa-upload-msg").inner_text()
    assert "garden.md" in page.locator("#docqa-status").inner_text()
    assert page.locator("#docqa-examples").is_hidden()

    reply = app.ask("Who planted the apple tree?")
    assert reply.locator("strong").first.inner_text() == "Margaret Okafor"
    assert "Source: Garden notes, paragraph 2" in reply.inner_text()
    assert app.outside == []


def test_upload_a_pdf_and_see_the_cited_page_highlighted(open_page, bundled_url, tmp_path):
    """Issue 13: the document panel shows the cited PDF page as it looks, the
    answer highlighted on it, and the text one click away."""
    import os
    from pathlib import Path

    import make_docs

    report = tmp_path / "yard-report.pdf"
    report.write_bytes(make_docs.pdf([
        "Harbour Yard Report\nThe harbour yard opened in 1850 and employs forty workers today.",
        ("table", ["Item", "Weight"], [["Anvil", "12,400 tonnes"], ["Crane", "95 tonnes"]],
         "The yard's anvil weighs 12,400 tonnes and is the heaviest object in the port.")]))
    app = open_page(bundled_url)
    page = app.page
    page.get_by_text("Your documents").click()
    use_files(page, report)
    page.locator("#docqa-upload-msg .docqa-upload-ok").wait_for(timeout=120_000)
    reply = app.ask("How much does the anvil weigh?")
    assert reply.locator("strong").first.inner_text() == "12,400 tonnes"
    assert ", page 2, characters " in reply.inner_text()

    document = page.locator("#docqa-document")
    assert "page 2" in document.locator(".docqa-panel-head").inner_text()
    picture = document.locator(".docqa-page img")
    picture.wait_for()
    page.wait_for_function("""() => {
        const img = document.querySelector('#docqa-document .docqa-page img');
        return img && img.complete && img.naturalWidth > 0;
    }""", timeout=10_000)
    assert document.locator(".docqa-page").get_attribute("data-page") == "2"
    marks = document.locator(".docqa-page-mark")
    assert marks.count() == 1      # "12,400 tonnes" is on one line: one box
    image_box, mark_box = picture.bounding_box(), marks.first.bounding_box()
    assert image_box["width"] > 200 and mark_box["width"] > 10 and mark_box["height"] > 3
    # The highlight lies where PDFium puts the answer's characters on the page
    # (the sentence's "12,400 tonnes", not the table's).
    from index.formats.pdf import char_boxes
    from index.ingest import load_documents

    (doc,) = load_documents([report])
    first = doc.text.rindex("12,400 tonnes") - doc.regions[1].start
    width, height, boxes = char_boxes(str(report), 2, first, first + len("12,400 tonnes"))
    expected = (min(b[0] for b in boxes) / width, 1 - max(b[3] for b in boxes) / height,
                max(b[2] for b in boxes) / width, 1 - min(b[1] for b in boxes) / height)
    shown = ((mark_box["x"] - image_box["x"]) / image_box["width"],
             (mark_box["y"] - image_box["y"]) / image_box["height"],
             (mark_box["x"] + mark_box["width"] - image_box["x"]) / image_box["width"],
             (mark_box["y"] + mark_box["height"] - image_box["y"]) / image_box["height"])
    assert all(abs(a - b) < 0.005 for a, b in zip(shown, expected)), (shown, expected)
    # The text view is one click away, with the answer marked in it.
    assert document.locator(".docqa-doc").is_hidden()
    document.get_by_text("Text view").click()
    assert document.locator("#docqa-cited").inner_text() == "12,400 tonnes"
    shots = Path(os.environ.get("DOCQA_SCREENSHOTS", tmp_path))
    document.locator(".docqa-text-view summary").click()   # closed again, for the picture
    page.screenshot(path=str(shots / "screenshot-pdf.png"), full_page=True)
    assert (shots / "screenshot-pdf.png").stat().st_size > 10_000
    assert app.outside == [] and app.dialogs == []


def test_an_upload_shows_its_progress_and_can_be_cancelled_in_the_page(open_page, ui_bot, tmp_path):
    """Issue 11: indexing showed no real progress and could not be stopped."""
    import sys
    from pathlib import Path

    from ui.app import build_app, launch
    from uitest import free_port

    app = build_app(ui_bot, bundled=True, state_dir=tmp_path / "state")
    # The stand-in worker (tests/ui/fake_worker.py) takes a minute over a file named slow*.
    app.docqa_handlers.library.indexer.command = [
        sys.executable, str(Path(__file__).with_name("fake_worker.py"))]
    try:
        url = launch(app, port=free_port(), block=False)
        slow = tmp_path / "slow.txt"
        slow.write_text("a slow document", encoding="utf-8")
        view = open_page(url)
        page = view.page
        page.get_by_text("Your documents").click()
        use_files(page, slow)
        progress = page.locator("#docqa-upload-msg .docqa-upload-progress")
        progress.get_by_text("Embedding chunks 1 of 4 (25%)").wait_for(timeout=60_000)
        assert progress.inner_text().startswith("Indexing slow.txt: Embedding chunks 1 of 4 (25%)")
        page.locator("#docqa-cancel").click()
        page.locator("#docqa-upload-msg .docqa-upload-bad").wait_for(timeout=30_000)
        assert page.locator("#docqa-upload-msg").inner_text() == (
            "Cancelled. Still answering from the previous documents.")
        page.locator("#docqa-cancel").wait_for(state="hidden")
        reply = view.ask(AIIB_QUESTION)   # still the bundled article
        assert AIIB_ANSWER in reply.inner_text()
        assert view.outside == []
    finally:
        app.close()
        app.docqa_handlers.library.indexer.close()
