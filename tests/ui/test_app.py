"""ui.app's handlers, called as Gradio calls them: chat turns, bad input, uploads."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from qa import IngestError
from uitest import AIIB_ANSWER, AIIB_QUESTION, GARDEN_DOC, OFF_TOPIC
from ui.app import BUNDLED_KEY, DEFAULT_KEY, Library, build_app
from ui.config import MAX_LOADED_UPLOADS


def no_progress(*args, **kwargs):
    return None


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
    key, status, history, message, examples, evidence, document, turns = handlers.use_uploads(
        [str(notes)], DEFAULT_KEY, [], progress=no_progress)
    assert key.startswith("upload-") and turns == []   # earlier turns were about other documents
    assert "garden.md" in status and "1 document" in status
    assert "Now answering from garden.md" in message and "docqa-upload-ok" in message
    assert examples == gr.update(visible=False)   # the examples are about the bundled article
    assert "Now answering from garden.md" in history[-1]["content"]
    history, *_ = handlers.respond("Who planted the apple tree?", history, key)
    assert "<strong>Margaret Okafor</strong>" in history[-1]["content"]
    assert "Source: Garden notes, paragraph 2" in history[-1]["content"]
    # the same files again: the same key, the index on disk reused
    again = handlers.use_uploads([str(notes)], DEFAULT_KEY, [], progress=no_progress)
    assert again[0] == key
    # the bundled article is one click away, and the default session never changed
    back = handlers.use_bundled_article(key, [], progress=no_progress)
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
    cases = {
        "bad.txt": "'bad.txt' is not UTF-8 text (bad byte at offset 3)",
        "empty.md": "'empty.md' is empty",
        "big.md": "'big.md' is 20.0 kB; the limit is 10.0 kB per file",
        "paper.pdf": "'paper.pdf' is not a .txt or .md file (.pdf)",
        "nul.txt": "'nul.txt' is a binary file, not text",
    }
    for name, expected in cases.items():
        key, status, history, message, *rest = handlers.use_uploads(
            [str(tmp_path / name)], DEFAULT_KEY, [], progress=no_progress)
        assert key == DEFAULT_KEY, name
        assert status == gr.skip() and history == gr.skip()
        assert "Not indexed:" in message and "docqa-upload-bad" in message
        assert "Still answering from the previous documents." in message
        assert expected.replace("'", "&#x27;") in message, (name, message)
        assert str(tmp_path) not in message   # the file is named as the user knows it
    nothing = handlers.use_uploads(None, DEFAULT_KEY, [], progress=no_progress)
    assert nothing[0] == DEFAULT_KEY and "choose one or more .txt or .md files first" in nothing[3]
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
    lib = Library(default, bundled=False, state_dir=tmp_path, max_file_bytes=100, loader=loader)
    assert lib.bundled_key() == BUNDLED_KEY
    bundled = lib.get(BUNDLED_KEY)
    assert lib.get(BUNDLED_KEY) is bundled and len(calls) == 1
    assert calls[0] == (None, {"index_dir": tmp_path / "bundled" / "index", "max_file_bytes": None,
                               "embedder": default.embedder, "encoder": default.encoder})   # one model in memory
    assert lib.get(None) is default and lib.get("upload-unknown") is default


def test_library_keeps_a_few_uploads_in_memory_and_reloads_the_rest(tmp_path):
    loads = []

    def loader(paths, **kwargs):
        loads.append([Path(p).name for p in paths])
        assert kwargs["max_file_bytes"] == 100
        return fake_qa()

    lib = Library(fake_qa(), bundled=True, state_dir=tmp_path, max_file_bytes=100, loader=loader)
    keys = []
    for i in range(MAX_LOADED_UPLOADS + 1):
        f = tmp_path / f"doc{i}.md"
        f.write_text(f"document {i}", encoding="utf-8")
        keys.append(lib.add_upload([f]))
    assert len(set(keys)) == len(keys) and len(loads) == len(keys)
    lib.get(keys[-1])
    assert len(loads) == len(keys)             # still in memory
    lib.get(keys[0])
    assert loads[-1] == ["doc0.md"]            # dropped, then reloaded from its folder


def test_library_removes_a_set_that_fails_to_load(tmp_path):
    def loader(paths, **kwargs):
        raise IngestError(f"{str(paths[0])!r} is empty")

    lib = Library(fake_qa(), bundled=True, state_dir=tmp_path / "state", max_file_bytes=100, loader=loader)
    f = tmp_path / "e.md"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(IngestError, match="^'e.md' is empty$"):
        lib.add_upload([f])
    assert not any((tmp_path / "state" / "uploads").iterdir())


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
