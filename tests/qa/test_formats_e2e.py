"""Asking documents of every format (issue 13): the answer names its page or
section, its offsets cut it from the document's text, and a bad file added
to a set in use leaves that set answering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import make_docs
import pytest

from qa import QA, InputError
from qa.source import page_picture

ROOT = Path(__file__).resolve().parents[2]

REPORT = [
    "Harbour Yard Report\nThe harbour yard opened in 1850 and employs forty workers today.",
    ("columns",
     "The pump house was built in 1893 by the engineer Tomas Reyes. It drained the lower docks.",
     "The old grain mill burned down in 1921. It was rebuilt two years later with a steel roof."),
    ("table", ["Item", "Weight"], [["Anvil", "12,400 tonnes"], ["Crane", "95 tonnes"]],
     "The yard's anvil weighs 12,400 tonnes and is the heaviest object in the port."),
    "Zürich sent the first ship's bell to the yard. The bell was cast in São Paulo in 1902.",
]
KETTLE = """<!doctype html><html><head><title>Kettle Manual</title></head><body>
<nav>Home | Shop</nav><h1>Kettle</h1><p>The kettle holds 1.7 litres of water.</p>
<h2>Warranty</h2><p>The warranty on the kettle lasts two years from the date of purchase.</p>
<h3>Exclusions</h3><p>Damage caused by limescale is not covered by the warranty.</p>
<h2>Cleaning</h2><p>Descale the kettle with white vinegar once a month.</p></body></html>"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("formats") / "docs"
    base.mkdir()
    (base / "report.pdf").write_bytes(make_docs.pdf(REPORT))
    (base / "kettle.html").write_text(KETTLE, encoding="utf-8")
    (base / "minutes.docx").write_bytes(make_docs.docx([
        ("heading", 1, "Council Minutes"), ("p", "The council met in the village hall on a Tuesday."),
        ("heading", 2, "Budget"), ("p", "The council agreed to raise the parking fee to 40 euros."),
        ("heading", 2, "Any other business"),
        ("p", "Ilse Brandt was elected to chair the next meeting of the council.")]))
    (base / "history.epub").write_bytes(make_docs.epub([
        ("The Lighthouse", "<p>The lighthouse was lit for the first time in 1868.</p>"),
        ("The School", "<p>The village school was founded by Agnes Moreau in 1904.</p>")]))
    return base


@pytest.fixture(scope="module")
def bot(folder, tmp_path_factory, real_embedder):
    cache = tmp_path_factory.mktemp("formats-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        return QA.load([folder], index_dir=cache / "index", embedder=real_embedder, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("question, doc_id, page, section, expected", [
    ("Who built the pump house?", "report.pdf", 2, None, "Tomas Reyes"),
    ("When did the grain mill burn down?", "report.pdf", 2, None, "1921"),
    ("How much does the anvil weigh?", "report.pdf", 3, None, "12,400 tonnes"),
    ("Where was the ship's bell cast?", "report.pdf", 4, None, "São Paulo"),
    ("How long does the kettle warranty last?", "kettle.html", None, "Kettle › Warranty", "two years"),
    ("What is the parking fee raised to?", "minutes.docx", None, "Council Minutes › Budget", "40 euros"),
    ("Who was elected to chair the next meeting?", "minutes.docx", None,
     "Council Minutes › Any other business", "Ilse Brandt"),
    ("Who founded the village school?", "history.epub", None, "The School", "Agnes Moreau"),
])
def test_an_answer_names_its_page_or_section(bot, question, doc_id, page, section, expected):
    reply = bot.ask(question)
    a = reply.answer or (reply.answers[0] if reply.answers else None)
    assert a is not None, question
    doc = bot.index.documents[a.doc_id]
    assert doc.text[a.start:a.end] == a.text
    assert doc.text[a.sentence_start:a.sentence_end] == a.sentence
    assert a.doc_id == doc_id and expected in a.sentence, (question, a.text, a.sentence)
    assert (a.page, a.section) == (page, section)
    d = a.to_dict()
    assert (d["page"], d["section"]) == (page, section)
    if page is not None:
        assert f"page {page}" in a.citation
        picture = page_picture(a, doc, scale=1.0)
        assert picture is not None and picture.png.startswith(b"\x89PNG")
        assert picture.boxes, "the answer is highlighted"
        for x0, y0, x1, y1 in picture.boxes:
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    else:
        assert f"section {section}" in a.citation


@pytest.fixture(scope="module")
def bad_files():
    return make_docs.bad_files()


@pytest.mark.slow
@pytest.mark.parametrize("name", make_docs.BAD_FILES)
def test_a_bad_file_leaves_the_documents_in_use_answering(bot, folder, tmp_path, monkeypatch,
                                                          bad_files, name):
    """Adding a file docqa cannot read to a set in use: one line naming it, no
    index written, and the set in use answers as before."""
    import index.formats

    monkeypatch.setattr(index.formats, "MAX_UNPACKED_BYTES", make_docs.BOMB_LIMIT)
    data, message = bad_files[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    with pytest.raises(InputError) as info:
        QA.load([folder, bad], index_dir=tmp_path / "index")
    assert "\n" not in str(info.value) and f"{str(bad)!r} {message}" in str(info.value)
    assert not (tmp_path / "index").exists()
    assert "Tomas Reyes" in bot.ask("Who built the pump house?").answers[0].sentence


@pytest.mark.slow
def test_the_cli_cites_the_page(folder, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "qa", "ask", "How much does the anvil weigh?",
                           "--docs", str(folder / "report.pdf"), "--index-dir", str(tmp_path / "idx"),
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    reply = json.loads(done.stdout)
    answer = reply["answer"] or reply["answers"][0]
    assert answer["page"] == 3 and answer["section"] is None
    plain = subprocess.run([sys.executable, "-m", "qa", "ask", "How much does the anvil weigh?",
                            "--docs", str(folder / "report.pdf"), "--index-dir", str(tmp_path / "idx")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert ", page 3, characters " in plain.stdout


@pytest.mark.slow
def test_no_page_picture_when_the_pdf_has_moved_or_changed(bot, tmp_path):
    from dataclasses import replace

    a = bot.ask("How much does the anvil weigh?").answers[0]
    doc = bot.index.documents[a.doc_id]
    assert page_picture(a, doc) is not None
    assert page_picture(a, replace(doc, path=str(tmp_path / "gone.pdf"))) is None
    changed = tmp_path / "changed.pdf"
    changed.write_bytes(Path(doc.path).read_bytes() + b"\n%%EOF\n")
    assert page_picture(a, replace(doc, path=str(changed))) is None
    not_pdf = tmp_path / "same-size.pdf"
    not_pdf.write_bytes(b"x" * doc.size)
    assert page_picture(a, replace(doc, path=str(not_pdf))) is None   # one log line, no traceback
    assert page_picture(replace(a, page=None), doc) is None
