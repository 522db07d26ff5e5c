"""Pure functions from a ``Reply`` to the HTML the web UI shows.

Everything here is formatting: no scoring, no I/O. Every piece of document or
question text goes through ``escape`` (or ``mark_spans``, which escapes), so a
document holding ``<script>``, ``<img onerror=...>`` or a Markdown link shows
it as text. The chat renders messages as HTML, not Markdown (``ui.app``), so
``*``, ``[`` or ``$`` in a document mean nothing either.

``documents`` below is ``bot.index.documents``: ``{doc_id: Document}``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from qa.source import PagePicture
from qa.types import (ABSTENTION, Reply, citation, closest_passages, confidence_label, passage_place,
                      snippet)

# How long the snippets of the closest passages are (how many: qa.types.CLOSEST_PASSAGES).
SNIPPET_CHARS = 240
# A question longer than this is shortened in the chat bubble (it is refused anyway).
QUESTION_BUBBLE_CHARS = 400

# The id of the cited span in the document viewer; ui.app scrolls it into view.
CITED_ID = "docqa-cited"

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """``text`` as HTML text: ``&``, ``<``, ``>`` and both quotes become entities.

    >>> escape('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    # A lone surrogate cannot be sent to the browser (it is not valid UTF-8): show U+FFFD.
    return html.escape(_SURROGATE.sub("\ufffd", text), quote=True)


def mark_spans(text: str, spans: Sequence[tuple[int, int, str]], *, offset: int = 0,
               ids: Mapping[str, str] | None = None) -> str:
    """``text``, escaped, with each span wrapped in ``<mark class="CLASS">``.

    ``spans`` are ``(start, end, css_class)`` in document offsets; ``text``
    starts at document offset ``offset``, so ``text == doc.text[offset:offset + len(text)]``.
    Spans are clipped to ``text``; empty ones are dropped. Spans may nest (an
    answer inside its sentence); a span that crosses an earlier one is cut at
    that span's end. ``ids`` gives an element id to the mark of a class.

    >>> mark_spans("a <b> c", [(2, 5, "answer")])
    'a <mark class="answer">&lt;b&gt;</mark> c'
    >>> mark_spans("xyz", [(10, 12, "answer")], offset=9)   # "xyz" is doc.text[9:12]
    'x<mark class="answer">yz</mark>'
    """
    ids = ids or {}
    n = len(text)
    clipped = []
    for start, end, css in spans:
        s, e = max(start - offset, 0), min(end - offset, n)
        if s < e:
            clipped.append((s, e, css))
    # Outer spans first at the same start, so nesting is well formed.
    clipped.sort(key=lambda span: (span[0], -span[1]))
    out: list[str] = []
    open_ends: list[int] = []   # ends of the marks open now, innermost last
    pos = 0
    for s, e, css in clipped:
        while open_ends and open_ends[-1] <= s:
            end = open_ends.pop()
            out.append(escape(text[pos:end]) + "</mark>")
            pos = end
        if open_ends:
            e = min(e, open_ends[-1])   # a crossing span stops where its parent does
        out.append(escape(text[pos:s]))
        attr = f' id="{escape(ids[css])}"' if css in ids else ""
        out.append(f'<mark class="{escape(css)}"{attr}>')
        open_ends.append(e)
        pos = s
    while open_ends:
        end = open_ends.pop()
        out.append(escape(text[pos:end]) + "</mark>")
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def confidence_text(confidence: float) -> str:
    """``"high (0.93)"``: the word, then the number."""
    return f"{confidence_label(confidence)} ({confidence:.2f})"


def render_question(question: str) -> str:
    """The user's chat bubble: the question as typed, escaped, shortened when
    huge; control characters are shown as spaces (never as empty boxes)."""
    question = _CONTROL.sub(" ", question)
    if not question.strip():
        return '<span class="docqa-muted">(empty question)</span>'
    if len(question) > QUESTION_BUBBLE_CHARS:
        shown = question[:QUESTION_BUBBLE_CHARS].rstrip()
        return (f'{escape(shown)}… <span class="docqa-muted">'
                f"({len(question):,} characters in all)</span>")
    return escape(question)


def render_reply(reply: Reply, documents: Mapping) -> str:
    """The assistant's chat message for one reply: the answer, or the abstention,
    after a "Searched as" line when a follow-up was rewritten (``reply.query``)."""
    searched = (f'<p class="docqa-query">Searched as: {escape(reply.searched)}</p>'
                if reply.searched != reply.question else "")
    return searched + _render_answer(reply, documents)


def _render_answer(reply: Reply, documents: Mapping) -> str:
    if reply.answer is None:
        return render_abstention(reply, documents)
    a = reply.answer
    doc_text = documents[a.doc_id].text
    # The supporting sentence with the answer highlighted, both in document offsets.
    sentence = mark_spans(a.sentence, [(a.start, a.end, "docqa-answer")], offset=a.sentence_start)
    return (
        '<div class="docqa-reply">'
        f'<p class="docqa-short"><strong>{escape(a.text)}</strong></p>'
        f'<blockquote class="docqa-quote">“{sentence}”</blockquote>'
        f'<p class="docqa-meta"><span class="docqa-citation">Source: {escape(citation(a, doc_text))}</span>'
        f'<br><span class="docqa-confidence">Confidence: {escape(confidence_text(a.confidence))}</span></p>'
        "</div>"
    )


def render_abstention(reply: Reply, documents: Mapping) -> str:
    """"The document does not say." and the closest passages, as snippets."""
    items = [f'<li><span class="docqa-where">{escape(passage_place(hit, documents))}</span>: '
             f"{escape(snippet(hit.chunk.text, SNIPPET_CHARS))}</li>" for hit in closest_passages(reply)]
    closest = (f'<p class="docqa-meta">Closest passages:</p><ol class="docqa-closest">{"".join(items)}</ol>'
               if items else "")
    return (f'<div class="docqa-reply docqa-abstain"><p><strong>{escape(ABSTENTION)}</strong></p>'
            f"{closest}</div>")


def render_error(message: str) -> str:
    """A refused question or a failed upload, as a chat message."""
    return f'<div class="docqa-reply docqa-error"><strong>Cannot answer:</strong> {escape(message)}</div>'


def render_notice(message: str) -> str:
    """A neutral chat message (e.g. which documents the chat now answers from)."""
    return f'<div class="docqa-reply docqa-notice">{escape(message)}</div>'


def render_passages(reply: Reply, documents: Mapping) -> str:
    """The evidence panel: the retrieved passages, best first, with their scores.

    The best answer is highlighted in every passage that holds it; the passage
    it was read from is labelled. "fused" is ``hit.score``, the fused rank score
    the passages were ordered by; cosine and BM25 are the two retrievers' own scores.
    """
    if not reply.passages:
        return (EVIDENCE_HEAD.format(what="no passages retrieved")
                + '<div class="docqa-evidence"><p class="docqa-muted">Nothing matched the question.</p>'
                  "</div>")
    a = reply.answer
    cards = []
    for rank, hit in enumerate(reply.passages, start=1):
        c = hit.chunk
        doc = documents.get(c.doc_id)
        title = doc.title if doc is not None else c.doc_id
        spans = []
        source = a is not None and a.doc_id == c.doc_id and a.hit.chunk.chunk_id == c.chunk_id
        if a is not None and a.doc_id == c.doc_id and c.start <= a.start and a.end <= c.end:
            spans = [(a.sentence_start, a.sentence_end, "docqa-sentence"),
                     (a.start, a.end, "docqa-answer")]
        scores = [f"fused {hit.score:.4f}"]
        if hit.dense is not None:
            scores.append(f"cosine {hit.dense:.3f}")
        if hit.lexical is not None:
            scores.append(f"BM25 {hit.lexical:.2f}")
        badge = ' <span class="docqa-badge">answer read here</span>' if source else ""
        cards.append(
            f'<div class="docqa-passage{" docqa-source" if source else ""}" data-rank="{rank}">'
            f'<div class="docqa-passage-head"><span><b>#{rank}</b> {escape(title)}, '
            f"characters {c.start}-{c.end}{badge}</span>"
            f'<span class="docqa-scores">{" · ".join(scores)}</span></div>'
            f'<div class="docqa-passage-text">{mark_spans(c.text, spans, offset=c.start)}</div>'
            "</div>")
    n = len(reply.passages)
    what = f"{n} passage{'s' if n != 1 else ''} retrieved, best first"
    return EVIDENCE_HEAD.format(what=what) + f'<div class="docqa-evidence">{"".join(cards)}</div>'


def render_document(reply: Reply, documents: Mapping, page: PagePicture | None = None) -> str:
    """The document viewer: the whole cited document, the cited span highlighted.

    The answer's span carries ``id="docqa-cited"`` (inside its highlighted
    sentence). Above the text, the heading path of the section it is in. For
    an answer from a PDF, ``page`` (``qa.source.page_picture``) shows the page
    as it looks, the answer highlighted on it, with the text view one click
    away. On an abstention it shows the document of the closest passage with
    that passage lightly marked, and says so.
    """
    a = reply.answer
    if a is not None:
        doc = documents[a.doc_id]
        where = f" · page {a.page}" if a.page is not None else ""
        head = f"{escape(doc.title)}{where} · characters {a.start}-{a.end} cited"
        spans = [(a.sentence_start, a.sentence_end, "docqa-sentence"), (a.start, a.end, "docqa-answer")]
        body = mark_spans(doc.text, spans, ids={"docqa-answer": CITED_ID})
        section = (f'<div class="docqa-section" title="The section the answer is in">'
                   f'{escape(a.section)}</div>') if a.section else ""
        text_view = section + f'<div class="docqa-doc" data-doc-id="{escape(doc.doc_id)}">{body}</div>'
        if page is not None:
            marks = "".join(
                f'<div class="docqa-page-mark" style="left:{100 * x0:.3f}%;top:{100 * y0:.3f}%;'
                f'width:{100 * (x1 - x0):.3f}%;height:{100 * (y1 - y0):.3f}%"></div>'
                for x0, y0, x1, y1 in page.boxes)
            # The marks are placed on the picture's own box (not the scrolled frame around it).
            picture = (f'<div class="docqa-page" data-page="{page.page}"><div class="docqa-page-sheet">'
                       f'<img src="{page.data_url()}" alt="Page {page.page} of {escape(doc.title)}, '
                       f'the answer highlighted">{marks}</div></div>')
            return (DOCUMENT_HEAD.format(what=head) + picture
                    + f'<details class="docqa-text-view"><summary>Text view</summary>{text_view}</details>')
        return DOCUMENT_HEAD.format(what=head) + text_view
    elif reply.passages:
        c = reply.passages[0].chunk
        doc = documents[c.doc_id]
        head = f"{escape(doc.title)} · closest passage marked"
        body = mark_spans(doc.text, [(c.start, c.end, "docqa-closest-passage")],
                          ids={"docqa-closest-passage": CITED_ID})
    else:
        return empty_document()
    return (DOCUMENT_HEAD.format(what=head)
            + f'<div class="docqa-doc" data-doc-id="{escape(doc.doc_id)}">{body}</div>')


_PANEL_HEAD = ('<div class="docqa-panel-head"><b>{title}</b> '
               '<span class="docqa-muted docqa-small">{{what}}</span></div>')
EVIDENCE_HEAD = _PANEL_HEAD.format(title="Evidence")
DOCUMENT_HEAD = _PANEL_HEAD.format(title="Document")


def empty_evidence() -> str:
    return (EVIDENCE_HEAD.format(what="the retrieved passages, with their scores")
            + '<div class="docqa-evidence docqa-empty"><p class="docqa-muted">'
              "Ask a question: the passages it was answered from appear here.</p></div>")


def empty_document() -> str:
    return (DOCUMENT_HEAD.format(what="the whole cited document")
            + '<div class="docqa-doc docqa-empty docqa-muted">'
              "The cited document appears here, its cited span highlighted.</div>")


def plural(n: int, word: str) -> str:
    """``plural(1, "passage") == "1 passage"``, ``plural(24, "passage") == "24 passages"``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def list_names(documents: Mapping, limit: int = 5) -> str:
    """The first ``limit`` doc_ids, sorted, then how many more."""
    names = sorted(documents)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def documents_notice(documents: Mapping, passages: int) -> str:
    """Plain text: which documents the chat answers from now."""
    return f"Now answering from {list_names(documents)} ({plural(passages, 'passage')})."


def render_documents_status(documents: Mapping, passages: int, *, bundled: bool) -> str:
    """One line naming the documents the chat answers from."""
    what = "the bundled article" if bundled else plural(len(documents), "document")
    return (f'<div class="docqa-status">Answering from {what}: <b>{escape(list_names(documents))}</b> '
            f"({plural(passages, 'passage')})</div>")


def render_upload_message(message: str, *, ok: bool) -> str:
    """The line under the upload box after indexing (or refusing) files."""
    css = "docqa-upload-ok" if ok else "docqa-upload-bad"
    return f'<div class="{css}">{escape(message)}</div>'


def render_indexing(status, names: str) -> str:
    """The line under the upload box while files wait or are indexed
    (``status``: a ``ui.jobs.JobStatus``): the place in the queue, or the stage,
    how far it is and about how long it has left."""
    if status.state == "queued":
        ahead = plural(status.ahead, "upload")
        text = (f"Waiting to index {names}: {ahead} {'is' if status.ahead == 1 else 'are'} being "
                f"indexed before yours (place {status.ahead + 1} in the queue).")
    else:
        stage = status.stage or "Starting"
        text = f"Indexing {names}: {stage}"
        if status.total:
            done = min(status.done or 0, status.total)
            text += f" {done:,} of {status.total:,} ({100 * done / status.total:.0f}%)"
        if status.eta_s is not None and status.total:
            text += f", about {duration(status.eta_s)} left for this step"
        text += f" ({duration(status.elapsed_s)} so far)."
    return f'<div class="docqa-upload-progress">{escape(text)}</div>'


def duration(seconds: float) -> str:
    """``"8 s"``, ``"2 min 5 s"``, ``"1 h 3 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
