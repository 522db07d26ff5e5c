"""ui.app's handlers, called as Gradio calls them: chat turns, bad input, uploads."""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import make_docs
import pytest

from uitest import AIIB_ANSWER, AIIB_QUESTION, GARDEN_DOC, OFF_TOPIC
from ui.app import BUNDLED_KEY, DEFAULT_KEY, Library, UploadGoneError, build_app
from ui.config import MAX_LOADED_UPLOADS


def last(updates):
    """The final outputs of an upload handler (a generator of progress updates)."""
    *_, final = updates
    return final


@pytest.fixture
def handlers(ui_bot, tmp_path):
    app = build_app(ui_bot, bundled=True, max_upload_mb=0.01, state_dir=tmp_path / "state")
    return app.docqa_handlers


@pytest.mark.slow
def test_a_chat_turn_appends_question_and_cited_answer(handlers):
    history, evidence, document, box, _turns = handlers.respond(AIIB_QUESTION, [], DEFAULT_KEY)
    assert box == ""
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == AIIB_QUESTION
    assert f"<strong>{AIIB_ANSWER}</strong>" in history[1]["content"]
    assert "paragraph 6, characters 2470-2492" in history[1]["content"]
    assert f'<mark class="docqa-answer">{AIIB_ANSWER}</mark>' in evidence
    assert f'id="docqa-cited">{AIIB_ANSWER}</mark>' in document
    # history keeps growing: the next turn sees the previous ones
    history2, *_ = handlers.respond(OFF_TOPIC, history, DEFAULT_KEY)
    assert len(history2) == 4 and "The document does not say." in history2[3]["content"]


@pytest.mark.slow
@pytest.mark.parametrize("question, message", [
    ("", "question is empty"),
    (None, "question is empty"),
    ("\x00\x01\x07\x1b", "question is empty"),
    ("a" * 100_000, "question is too long (100,000 characters; the limit is 1,000)"),
])
def test_bad_questions_become_a_chat_message(handlers, question, message):
    history, evidence, document, box, _turns = handlers.respond(question, [], DEFAULT_KEY)
    assert "Cannot answer:" in history[-1]["content"] and message in history[-1]["content"]
    assert evidence == gr.skip() and document == gr.skip()
    assert len(history[0]["content"]) < 1000   # the 100 kB question is shortened on screen


@pytest.mark.slow
def test_control_characters_are_cleaned_not_refused(handlers):
    question = "\x07" + AIIB_QUESTION.replace(" the ", " the\x00 ") + "\x1b"
    history, *_ = handlers.respond(question, [], DEFAULT_KEY)
    assert f"<strong>{AIIB_ANSWER}</strong>" in history[-1]["content"]


@pytest.mark.slow
def test_upload_then_ask_about_it(handlers, tmp_path):
    notes = tmp_path / "garden.md"
    notes.write_text(GARDEN_DOC, encoding="utf-8")
    key, status, history, message, examples, evidence, document, turns, watch, cancel = last(
        handlers.use_uploads([str(notes)], DEFAULT_KEY, []))
    assert watch is None and cancel == gr.update(visible=False)
    assert key.startswith("upload-") and turns == []   # earlier turns were about other documents
    assert "garden.md" in status and "1 document" in status
    assert "Now answering from garden.md" in message and "docqa-upload-ok" in message
    assert examples == gr.update(visible=False)   # the examples are about the bundled article
    assert "Now answering from garden.md" in history[-1]["content"]
    history, *_ = handlers.respond("Who planted the apple tree?", history, key)
    assert "<strong>Margaret Okafor</strong>" in history[-1]["content"]
    assert "Source: Garden notes, paragraph 2" in history[-1]["content"]
    # the same files again: the same key, the index on disk reused
    again = last(handlers.use_uploads([str(notes)], DEFAULT_KEY, []))
    assert again[0] == key
    # the bundled article is one click away, and the default session never changed
    back = last(handlers.use_bundled_article(key, []))
    assert back[0] == DEFAULT_KEY and back[4] == gr.update(visible=True)
    history, *_ = handlers.respond(AIIB_QUESTION, [], DEFAULT_KEY)
    assert AIIB_ANSWER in history[-1]["content"]


@pytest.mark.slow
def test_a_failed_upload_keeps_the_documents_in_use(handlers, tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait")
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    (tmp_path / "big.md").write_text("word " * 4000, encoding="utf-8")   # 20 kB > 0.01 MB
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "nul.txt").write_bytes(b"text\x00binary")
    # Issue 13: files of the new formats that cannot be read.
    (tmp_path / "locked.pdf").write_bytes(make_docs.pdf(["secret"], password="pw"))
    (tmp_path / "scan.pdf").write_bytes(make_docs.pdf([("image",)]))
    (tmp_path / "fake.docx").write_bytes(make_docs.pdf([("image",)]))
    (tmp_path / "blank.html").write_text("<html><script>x()</script><body> </body></html>")
    (tmp_path / "sheet.odt").write_bytes(b"PK\x03\x04")
    cases = {
        "bad.txt": "'bad.txt' is not UTF-8 text (bad byte at offset 3)",
        "empty.md": "'empty.md' is empty",
        "big.md": "'big.md' is 20.0 kB; the limit is 10.0 kB per file",
        "paper.pdf": "'paper.pdf' is a corrupt or truncated PDF",
        "nul.txt": "'nul.txt' is a binary file, not text",
        "locked.pdf": "'locked.pdf' is an encrypted PDF; docqa cannot read it without its password",
        "scan.pdf": "'scan.pdf' has no text layer (a scanned PDF?); docqa does not do OCR",
        "fake.docx": "'fake.docx' is a PDF, not a Word (.docx) file as its name says",
        "blank.html": "'blank.html' has no visible text",
        "sheet.odt": "'sheet.odt' is not a kind of document docqa reads (.odt); upload .pdf, .html",
    }
    for name, expected in cases.items():
        key, status, history, message, *rest = last(handlers.use_uploads(
            [str(tmp_path / name)], DEFAULT_KEY, []))
        assert key == status == history == gr.skip(), name   # the session's documents stay
        assert "Not indexed:" in message and "docqa-upload-bad" in message
        assert "Still answering from the previous documents." in message
        assert expected.replace("'", "&#x27;") in message, (name, message)
        assert str(tmp_path) not in message   # the file is named as the user knows it
    nothing = last(handlers.use_uploads(None, DEFAULT_KEY, []))
    assert nothing[0] == gr.skip()
    assert ("no file was received. Choose documents (.pdf, .html, .htm, .docx, .epub, .txt, .md, "
            ".markdown) of up to 10.0 kB each; the upload box refuses bigger ones") in nothing[3]
    history, *_ = handlers.respond(AIIB_QUESTION, [], DEFAULT_KEY)
    assert AIIB_ANSWER in history[-1]["content"]


@pytest.mark.slow
def test_ask_endpoint_returns_the_reply_json_or_a_gradio_error(handlers):
    out = handlers.ask(AIIB_QUESTION)
    assert out["answer"]["text"] == AIIB_ANSWER and len(out["passages"]) == 5
    with pytest.raises(gr.Error, match="question is empty"):
        handlers.ask("  ")


# Library logic with a stand-in loader: no model needed.

def fake_qa(name="m"):
    model = SimpleNamespace(name=name)
    return SimpleNamespace(embedder=model, encoder=model, index=SimpleNamespace(documents={}, chunks=[]))


def test_library_loads_the_bundled_article_once_without_the_upload_limit(tmp_path):
    calls = []

    def loader(paths, **kwargs):
        calls.append((paths, kwargs))
        return fake_qa()

    default = fake_qa()
    lib = Library(default, bundled=False, state_dir=tmp_path, max_file_bytes=100, loader=loader,
                  indexer=DoneIndexer())
    assert lib.bundled_key() == BUNDLED_KEY
    bundled = lib.get(BUNDLED_KEY)
    assert lib.get(BUNDLED_KEY) is bundled and len(calls) == 1
    assert calls[0] == (None, {"index_dir": tmp_path / "bundled" / "index", "max_file_bytes": None,
                               "embedder": default.embedder, "encoder": default.encoder})   # one model in memory
    assert lib.get(None) is default and lib.get("upload-unknown") is default


class DoneIndexer:
    """A stand-in ``Indexer``: every job is finished at once (the loader stands in for indexing)."""

    def __init__(self):
        self.submitted = []

    def submit(self, key, paths, index_dir, *, max_file_bytes):
        self.submitted.append((key, [Path(p).name for p in paths or []], max_file_bytes))
        return SimpleNamespace(id=f"job-{len(self.submitted)}", finished=True)

    def active_keys(self):
        return set()


def test_library_keeps_a_few_uploads_in_memory_and_reloads_the_rest(tmp_path):
    loads = []

    def loader(paths, **kwargs):
        loads.append([Path(p).name for p in paths])
        assert kwargs["max_file_bytes"] == 100
        return fake_qa()

    indexer = DoneIndexer()
    lib = Library(fake_qa(), bundled=True, state_dir=tmp_path, max_file_bytes=100, loader=loader,
                  indexer=indexer)
    keys = []
    for i in range(MAX_LOADED_UPLOADS + 1):
        f = tmp_path / f"doc{i}.md"
        f.write_text(f"document {i}", encoding="utf-8")
        key, job = lib.start_upload([f])
        assert job is not None and indexer.submitted[-1] == (key, [f"doc{i}.md"], 100)
        lib.get(key)
        keys.append(key)
    assert len(set(keys)) == len(keys) and len(loads) == len(keys)
    lib.get(keys[-1])
    assert len(loads) == len(keys)             # still in memory
    assert lib.start_upload([tmp_path / f"doc{MAX_LOADED_UPLOADS}.md"]) == (keys[-1], None)
    lib.get(keys[0])
    assert loads[-1] == ["doc0.md"]            # dropped, then reloaded from its folder


def test_library_forgets_a_set_that_failed_to_index(tmp_path):
    lib = Library(fake_qa(), bundled=True, state_dir=tmp_path / "state", max_file_bytes=100,
                  loader=lambda *a, **k: fake_qa(), indexer=DoneIndexer())
    f = tmp_path / "e.md"
    f.write_text("x", encoding="utf-8")
    key, _ = lib.start_upload([f])
    lib.failed(key)
    assert not any((tmp_path / "state" / "uploads").iterdir())
    with pytest.raises(UploadGoneError, match="upload them again"):
        lib.get(key)


def test_answering_from_one_set_never_waits_for_another_set_to_load(tmp_path):
    """Issue 11: one upload's loading held the shared lock, and every question waited."""
    release = threading.Event()
    loading = threading.Event()

    def loader(paths, **kwargs):
        if Path(paths[0]).name == "slow.md":
            loading.set()
            release.wait(30)
        return fake_qa()

    lib = Library(fake_qa(), bundled=True, state_dir=tmp_path / "state", max_file_bytes=100,
                  loader=loader, indexer=DoneIndexer())
    for name in ("slow.md", "quick.md"):
        (tmp_path / name).write_text(name, encoding="utf-8")
    quick, _ = lib.start_upload([tmp_path / "quick.md"])
    quick_bot = lib.get(quick)
    slow, _ = lib.start_upload([tmp_path / "slow.md"])
    opener = threading.Thread(target=lib.get, args=(slow,))
    opener.start()
    try:
        assert loading.wait(10)
        answered = []
        asker = threading.Thread(target=lambda: answered.append((lib.get(quick), lib.get(None))))
        asker.start()
        asker.join(10)
        assert answered == [(quick_bot, lib.default)] and not release.is_set()
    finally:
        release.set()
        opener.join(10)


def test_upload_storage_keeps_the_most_recently_used_sets(tmp_path):
    lib = Library(fake_qa(), bundled=True, state_dir=tmp_path / "state", max_file_bytes=10_000,
                  max_storage_bytes=25_000, loader=lambda *a, **k: fake_qa(), indexer=DoneIndexer())
    keys = []
    for i in range(4):
        f = tmp_path / f"d{i}.txt"
        f.write_text(f"{i} " + "x" * 9_000, encoding="utf-8")
        keys.append(lib.start_upload([f])[0])
        mark = tmp_path / "state" / "uploads" / keys[-1] / "last-used"
        os.utime(mark, (1_000_000 + i, 1_000_000 + i))   # d0 is the least recently used
    os.utime(tmp_path / "state" / "uploads" / keys[0] / "last-used", (2_000_000, 2_000_000))
    deleted = lib.free_storage(keep=keys[3])
    assert deleted == [keys[1], keys[2]]   # d0 was used last; d3 was just uploaded
    left = sorted(p.name for p in (tmp_path / "state" / "uploads").iterdir())
    assert left == sorted([keys[0], keys[3]])
    with pytest.raises(UploadGoneError):
        lib.get(keys[1])


@pytest.mark.slow
def test_follow_up_question_in_the_chat(handlers):
    history, _, _, _, turns = handlers.respond("Who is the new president of Kazakhstan?", [], DEFAULT_KEY)
    assert len(turns) == 1
    history, _, _, _, turns = handlers.respond("Which country will he soon visit?", history,
                                               DEFAULT_KEY, turns)
    last = history[-1]["content"]
    assert re.search(r"Searched as: Which country will [\w -]*Tokayev soon visit\?", last), last
    assert len(turns) == 2
    assert handlers.clear()[-1] == []


FAKE_WORKER = [sys.executable, str(Path(__file__).with_name("fake_worker.py"))]


@pytest.mark.slow
def test_an_upload_shows_its_place_and_stage_and_can_be_cancelled(handlers, tmp_path):
    handlers.library.indexer.command = FAKE_WORKER   # its "slow" files take a minute
    for name in ("slow.txt", "slow2.txt"):
        (tmp_path / name).write_text(f"{name} text", encoding="utf-8")
    first = handlers.use_uploads([str(tmp_path / "slow.txt")], DEFAULT_KEY, [])
    update = next(first)
    watch = update[8]
    assert update[0] == gr.skip() and watch and update[9] == gr.update(visible=True)
    while "Embedding chunks" not in update[3]:
        update = next(first)
    assert "Indexing slow.txt: Embedding chunks 1 of 4 (25%)" in update[3]
    second = handlers.use_uploads([str(tmp_path / "slow2.txt")], DEFAULT_KEY, [])
    assert "1 upload is being indexed before yours (place 2 in the queue)" in next(second)[3]
    assert handlers.cancel(watch) is None   # the upload's own handler says "Cancelled."
    *_, final = first
    assert final[0] == gr.skip() and "Cancelled. Still answering from the previous documents." in final[3]
    assert final[8] is None and final[9] == gr.update(visible=False)
    update = next(second)   # the queue moved on
    assert "Indexing slow2.txt" in update[3]
    handlers.cancel(update[8])
    assert "Cancelled." in last(second)[3]
    assert not (handlers.library.state_dir / "uploads").exists() or \
        not any((handlers.library.state_dir / "uploads").iterdir())   # nothing half-made is kept
    history, *_ = handlers.respond(AIIB_QUESTION, [], DEFAULT_KEY)
    assert AIIB_ANSWER in history[-1]["content"]


@pytest.mark.slow
def test_the_page_lets_every_file_type_through_and_hides_the_chat_label(ui_bot, tmp_path):
    """Issue 11: a .pdf was refused by Gradio with a toast, and the page said
    "choose one or more .txt or .md files first"; the "Chat" label covered the top message."""
    app = build_app(ui_bot, bundled=True, max_upload_mb=10, state_dir=tmp_path)
    config = app.get_config_file()
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"]}
    assert props["docqa-files"].get("file_types") is None
    assert "up to 10 MB each" in props["docqa-files"]["label"]
    assert props["docqa-chat"]["show_label"] is False
    assert app.delete_cache == (600, 3600)   # Gradio's copies of uploads do not pile up
