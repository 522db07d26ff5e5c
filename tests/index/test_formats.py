"""index.formats: PDF, HTML, DOCX, EPUB and Markdown become text with pages
and sections, and every bad file gets one line naming it (issue 13)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import make_docs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.errors import IngestError
from index.formats import SUFFIXES, convert, sections
from index.formats.pdf import char_boxes, render_page
from index.ingest import load_documents

PAGES = [
    "Warranty terms\nThe warranty lasts 24 months from the date of purchase.",
    ("columns", "Left column. The pump house was built in 1893 by the engineer Tomas Reyes.",
     "Right column. The old mill was rebuilt in 1921 after a fire destroyed the roof."),
    ("table", ["Item", "Weight"], [["Anvil", "12,400 tonnes"], ["Bell", "3 kg"]],
     "The anvil is the heaviest item in the yard."),
    "Zürich, São Paulo and Øresund: the Straße café served crème brûlée at 180°C.",
]


@pytest.fixture
def report(tmp_path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(make_docs.pdf(PAGES, title="Yard Report"))
    return path


def _place(doc, phrase: str) -> tuple[int, int]:
    start = doc.text.index(phrase)
    return start, start + len(phrase)


# --- PDF -------------------------------------------------------------------------------------

@pytest.mark.parametrize("page, phrase", [(1, "24 months"), (2, "Tomas Reyes"), (2, "1921"),
                                          (3, "12,400 tonnes"), (4, "São Paulo"), (4, "180°C")])
def test_a_pdf_phrase_is_on_its_page_and_its_boxes_cover_it(report, page, phrase):
    (doc,) = load_documents([report])
    assert doc.title == "Yard Report"
    assert [r.label for r in doc.regions] == ["1", "2", "3", "4"]
    start, end = _place(doc, phrase)
    assert doc.text[start:end] == phrase
    assert doc.page_of(start) == page and doc.page_of(end - 1) == page
    region = doc.regions[page - 1]
    width, height, boxes = char_boxes(str(report), page, start - region.start, end - region.start)
    drawn = [c for c in phrase if not c.isspace()]
    assert len(drawn) <= len(boxes) <= len(phrase)   # every character drawn has a box, none more
    for left, bottom, right, top in boxes:      # inside the page
        assert 0 <= left < right <= width and 0 <= bottom < top <= height
    # The boxes run left to right along the line (the phrase is on one line).
    lefts = [b[0] for b in boxes]
    assert lefts == sorted(lefts)


def test_two_columns_read_column_by_column(report):
    (doc,) = load_documents([report])
    page = doc.text[doc.regions[1].start:doc.regions[1].end]
    assert page.index("Tomas Reyes") < page.index("Right column")   # the left column first


def test_a_pdf_page_renders(report):
    image = render_page(str(report), 2, scale=1.0)
    width, height = image.size
    assert abs(width - 595) <= 1 and abs(height - 842) <= 1   # A4 in points, one pixel a point


def test_pdf_text_is_the_same_length_as_pdfium_counts(report):
    import pypdfium2 as pdfium

    (doc,) = load_documents([report])
    pdf = pdfium.PdfDocument(str(report))
    for region, page in zip(doc.regions, pdf):
        assert region.end - region.start == page.get_textpage().count_chars()
    pdf.close()


# --- HTML, DOCX, EPUB, Markdown --------------------------------------------------------------

HTML = """<!doctype html><html><head><title>Kettle Manual</title><style>p {color: red}</style>
<script>var hidden = "script text";</script></head><body><nav>Home | Shop | Cart</nav>
<h1>Kettle</h1><p>The kettle holds   1.7 litres.</p>
<h2>Warranty</h2><p>The warranty lasts <b>two years</b>.</p>
<h3>Exclusions</h3><p>Limescale damage is not covered.</p>
<h2>Cleaning</h2><ul><li>Use vinegar.</li><li>Rinse twice.</li></ul>
<table><tr><th>Part</th><th>Price</th></tr><tr><td>Lid</td><td>4 euros</td></tr></table>
</body></html>"""


def test_html_visible_text_and_sections(tmp_path):
    (tmp_path / "kettle.html").write_text(HTML, encoding="utf-8")
    (doc,) = load_documents([tmp_path / "kettle.html"])
    assert doc.title == "Kettle Manual"
    for hidden in ("script text", "color: red", "Home | Shop"):
        assert hidden not in doc.text
    assert "The kettle holds 1.7 litres." in doc.text          # white space folded
    assert "Lid\t4 euros" in doc.text and "Use vinegar.\nRinse twice." in doc.text
    cases = {"two years": "Kettle › Warranty", "Limescale": "Kettle › Warranty › Exclusions",
             "vinegar": "Kettle › Cleaning", "4 euros": "Kettle › Cleaning", "1.7 litres": "Kettle"}
    for phrase, section in cases.items():
        assert doc.section_of(doc.text.index(phrase)) == section, phrase


def test_docx_paragraphs_tables_and_heading_sections(tmp_path):
    path = tmp_path / "minutes.docx"
    path.write_bytes(make_docs.docx([
        ("heading", 1, "Minutes"), ("p", "The meeting opened at 7 pm."),
        ("heading", 2, "Budget"), ("p", "The board agreed to raise the fee to 40 euros."),
        ("table", [["Item", "Cost"], ["Roof", "12,400 euros"]]),
        ("heading", 2, "Any other business"), ("p", "Mrs Ilse Brandt will chair the next meeting.")],
        title="Village Council Minutes"))
    (doc,) = load_documents([path])
    assert doc.title == "Village Council Minutes"
    assert "Item\tCost\nRoof\t12,400 euros" in doc.text
    assert doc.section_of(doc.text.index("40 euros")) == "Minutes › Budget"
    assert doc.section_of(doc.text.index("12,400 euros")) == "Minutes › Budget"
    assert doc.section_of(doc.text.index("Ilse Brandt")) == "Minutes › Any other business"
    assert doc.page_of(0) is None


def test_epub_chapters_in_spine_order(tmp_path):
    path = tmp_path / "history.epub"
    path.write_bytes(make_docs.epub([
        ("The Harbour", "<p>The harbour opened in 1850.</p><h2>Ships</h2><p>Twelve ships docked.</p>"),
        ("The Mill", "<p>The mill burned in 1921.</p>")], title="A Local History"))
    (doc,) = load_documents([path])
    assert doc.title == "A Local History"
    assert doc.text.index("harbour opened") < doc.text.index("mill burned")   # spine, not manifest
    assert doc.section_of(doc.text.index("1850")) == "The Harbour"
    assert doc.section_of(doc.text.index("Twelve")) == "The Harbour › Ships"
    assert doc.section_of(doc.text.index("1921")) == "The Mill"


def test_markdown_headings_are_sections_but_not_inside_code(tmp_path):
    text = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n```\n# not a heading\n```\n\n## Use\n\nAsk.\n"
    (tmp_path / "guide.md").write_text(text, encoding="utf-8")
    (tmp_path / "plain.txt").write_text("# not Markdown\n\nText.", encoding="utf-8")
    md, txt = load_documents([tmp_path])
    assert md.text == text                            # Markdown is indexed as written
    assert md.section_of(text.index("Run it")) == "Guide › Install"
    assert md.section_of(text.index("not a heading")) == "Guide › Install"
    assert md.section_of(text.index("Ask")) == "Guide › Use"
    assert txt.regions == ()


def test_sections_nest_and_close_at_the_next_heading_of_their_level():
    regions = sections([(1, 0, "A"), (2, 10, "B"), (3, 20, "C"), (2, 30, "D"), (1, 40, "E")], 50)
    assert [(r.label, r.start, r.end) for r in regions] == [
        ("A", 0, 40), ("A › B", 10, 30), ("A › B › C", 20, 30), ("A › D", 30, 40), ("E", 40, 50)]


def test_a_folder_of_mixed_formats_reads_every_one(tmp_path, report):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / "report.pdf").write_bytes(report.read_bytes())
    (folder / "kettle.htm").write_text(HTML, encoding="utf-8")
    (folder / "sub" / "minutes.docx").write_bytes(make_docs.docx([("p", "The meeting opened.")]))
    (folder / "sub" / "book.epub").write_bytes(make_docs.epub([("One", "<p>It began.</p>")]))
    (folder / "notes.md").write_text("# Notes\n\nSome notes.", encoding="utf-8")
    docs = load_documents([folder])
    assert [d.doc_id for d in docs] == ["kettle.htm", "notes.md", "report.pdf", "sub/book.epub",
                                        "sub/minutes.docx"]
    assert set(SUFFIXES) >= {".pdf", ".html", ".htm", ".docx", ".epub", ".txt", ".md"}


# --- bad files: one line that names the file -------------------------------------------------

@pytest.mark.parametrize("name", make_docs.BAD_FILES)
def test_a_bad_file_gets_one_line_naming_it(tmp_path, monkeypatch, name):
    import index.formats

    monkeypatch.setattr(index.formats, "MAX_UNPACKED_BYTES", make_docs.BOMB_LIMIT)
    data, message = make_docs.bad_files()[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(IngestError) as info:
        load_documents([path])
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{str(path)!r} ") and message in text, text


def test_a_bomb_member_that_lies_about_its_size_is_caught(monkeypatch):
    """A member that unpacks to more than its header says (a forged size) is
    never read past that size: zipfile stops there, and its checksum fails."""
    import zipfile

    import index.formats as formats

    data = make_docs.zip_bomb("word/document.xml", 4 << 20)
    archive = zipfile.ZipFile(__import__("io").BytesIO(data))
    archive.getinfo("word/document.xml").file_size = 100    # what a forged header would say
    with pytest.raises(formats.ConversionError, match="corrupt"):
        formats.read_member(archive, "word/document.xml", "Word (.docx)")


def test_converters_never_write_beside_the_file(tmp_path, report):
    before = sorted(p.name for p in tmp_path.iterdir())
    load_documents([report])
    with pytest.raises(IngestError):
        bad = tmp_path / "cut.pdf"
        bad.write_bytes(report.read_bytes()[:200])
        load_documents([bad])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["cut.pdf"])


def test_convert_rejects_bytes_whose_kind_differs_from_the_suffix():
    with pytest.raises(ValueError, match="is a zip archive, not a PDF"):
        convert(make_docs.docx([("p", "x")]), "pdf")


# --- any bytes: a document or one ConversionError, nothing else ------------------------------

def _mangled(data: bytes, cuts: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in cuts:
        out[at % len(out)] = value
    return bytes(out)


SEEDS = {"pdf": make_docs.pdf(["The pump house was built in 1893.", "Page two."]),
         "docx": make_docs.docx([("heading", 1, "Budget"), ("p", "The fee is 40 euros.")]),
         "epub": make_docs.epub([("One", "<p>It began in 1850.</p>")]),
         "html": b"<html><head><title>T</title></head><body><h1>A</h1><p>Text.</p></body></html>"}


@settings(derandomize=True, database=None, deadline=timedelta(seconds=10), max_examples=60,
          suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(sorted(SEEDS)), cuts=st.lists(st.tuples(st.integers(0, 1 << 20),
                                                                   st.integers(0, 255)), max_size=8),
       keep=st.floats(0.05, 1.0))
def test_a_damaged_file_gives_a_document_or_one_conversion_error(fmt, cuts, keep):
    """A real file of each format, with bytes changed and its end cut off:
    either a document whose regions lie inside its text, or ConversionError."""
    from index.formats import ConversionError

    data = SEEDS[fmt]
    data = _mangled(data, cuts)[:max(1, int(len(data) * keep))]
    try:
        converted = convert(data, fmt)
    except ConversionError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert converted.text.strip()
    for r in converted.regions:
        assert 0 <= r.start <= r.end <= len(converted.text)
