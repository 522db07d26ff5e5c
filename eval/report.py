"""``report.html``: one self-contained page (plots embedded as PNG data URIs).
All text taken from documents and questions is HTML-escaped."""

from __future__ import annotations

import base64
import io
import math
from html import escape

from eval.run import EvalResult

CATEGORY_ORDER = ("correct", "partial", "reader_miss", "retrieval_miss", "false_abstention",
                  "answered_unanswerable")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#1d2330;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #dde;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f5fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:16px}.plots img{max-width:100%;border:1px solid #eee}
mark{background:#ffe27a;padding:0 1px}.muted{color:#778}.cat{font-family:monospace;font-size:12px}
.correct{color:#17703a}.partial{color:#8a6d00}.reader_miss,.retrieval_miss,.false_abstention,.answered_unanswerable{color:#b3261e}
table.q td:nth-child(2){max-width:260px}table.q td:nth-child(4){max-width:480px}
"""


def render_report(result: EvalResult, *, title: str) -> str:
    m = result.metrics
    counts = m["categories"]
    return "\n".join([
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class=muted>{m['questions']} questions ({m['answerable']} answerable, "
        f"{m['unanswerable']} unanswerable); top_k {m['top_k']}; threshold {m['threshold']:.3f} "
        f"({escape(m['threshold_source'])}); model {escape(m['index']['model']['name'])}</p>",
        "<h2>Summary</h2>", _summary_table(m),
        "<h2>Errors</h2>", _category_table(counts, m["questions"]),
        "<h2>Plots</h2><div class=plots>",
        _img(_risk_coverage_png(result), "risk-coverage plot"),
        _img(_confidence_png(result), "confidence histogram"),
        "</div>",
        "<h2>Questions</h2>", _question_table(result.predictions),
        "</body></html>",
    ])


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else escape(str(value))


def _summary_table(m: dict) -> str:
    rows = [
        ("Exact match (all questions)", m["exact_match"]), ("F1 (all questions)", m["f1"]),
        ("Exact match (answerable)", m["has_answer_exact_match"]),
        ("F1 (answerable)", m["has_answer_f1"]),
        ("Supporting-sentence accuracy", m["sentence_accuracy"]),
        ("No-answer accuracy", m["no_answer_accuracy"]),
        ("False-abstention rate", m["false_abstention_rate"]),
        *[(f"Recall@{k}", v) for k, v in m["recall_at_k"].items()],
        ("MRR", m["mrr"]), ("Expected calibration error", m["ece"]),
        ("Threshold used", m["threshold"]),
        ("Best threshold (F1)", f"{m['best_threshold']:.3f} (F1 {m['best_f1']:.3f})"),
        ("Latency p50 / p95 / max (ms)",
         f"{m['latency_ms']['p50']:.1f} / {m['latency_ms']['p95']:.1f} / {m['latency_ms']['max']:.1f}"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td class=num>{_fmt(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _category_table(counts: dict, total: int) -> str:
    names = [c for c in CATEGORY_ORDER if c in counts] + [c for c in counts if c not in CATEGORY_ORDER]
    body = "".join(f"<tr><td class='cat {escape(c)}'>{escape(c)}</td><td class=num>{counts[c]}</td>"
                   f"<td class=num>{counts[c] / total:.0%}</td></tr>" for c in names)
    return f"<table><tr><th>category</th><th>questions</th><th>share</th></tr>{body}</table>"


def _question_table(rows: list[dict]) -> str:
    out = ["<table class=q><tr><th>id</th><th>question</th><th>gold</th>"
           "<th>prediction (span highlighted in its sentence)</th><th>confidence</th><th>category</th></tr>"]
    for r in rows:
        gold = "<br>".join(escape(g) for g in r["gold"]) or "<span class=muted>(unanswerable)</span>"
        out.append(
            f"<tr><td class=cat>{escape(r['id'])}</td><td>{escape(r['question'])}</td><td>{gold}</td>"
            f"<td>{_prediction_html(r)}</td><td class=num>{_fmt(r['confidence'])}</td>"
            f"<td class='cat {escape(r['category'])}'>{escape(r['category'])}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _prediction_html(r: dict) -> str:
    if r["sentence"] is None:
        return "<span class=muted>(no candidate)</span>"
    s, a, b = r["sentence_start"], r["start"], r["end"]
    sentence = r["sentence"]
    inner = (escape(sentence[:a - s]) + "<mark>" + escape(sentence[a - s:b - s]) + "</mark>"
             + escape(sentence[b - s:]))
    head = "<b>abstained</b> – best candidate: " if r["abstained"] else ""
    return f"{head}{inner}"


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # no display; also keeps the report reproducible
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=110)  # two fit side by side
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _risk_coverage_png(result: EvalResult) -> bytes:
    """Mean F1 of the answered questions against the share answered, as the threshold moves."""
    plt, fig, ax = _figure()
    sweep = [row for row in result.sweep if not math.isnan(row[2])]
    ax.plot([r[1] for r in sweep], [r[2] for r in sweep], "-", color="#3b6fd8", lw=1.6,
            label="answered questions")
    m = result.metrics
    for name, t, colour in (("current", m["threshold"], "#b3261e"), ("best", m["best_threshold"], "#17703a")):
        answered = [p for p in result.predictions if p["confidence"] is not None and p["confidence"] >= t]
        if answered:
            cov = len(answered) / len(result.predictions)
            acc = sum(_candidate_f1(p) for p in answered) / len(answered)
            ax.plot([cov], [acc], "o", color=colour, ms=8, label=f"{name} threshold {t:.2f}")
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("accuracy of answered (mean F1)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("Risk–coverage")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _png(plt, fig)


def _candidate_f1(p: dict) -> float:
    """F1 of the best candidate had it been given (0 for an unanswerable question)."""
    from eval.metrics import f1

    return f1(p["candidate"], p["gold"]) if p["gold"] and p["candidate"] else 0.0


def _confidence_png(result: EvalResult) -> bytes:
    plt, fig, ax = _figure()
    groups = {"correct (F1 ≥ 0.5)": [], "wrong": [], "unanswerable": []}
    for p in result.predictions:
        if p["confidence"] is None:
            continue
        if not p["gold"]:
            groups["unanswerable"].append(p["confidence"])
        elif _candidate_f1(p) >= 0.5:
            groups["correct (F1 ≥ 0.5)"].append(p["confidence"])
        else:
            groups["wrong"].append(p["confidence"])
    ax.hist(list(groups.values()), bins=[i / 20 for i in range(21)], stacked=True,
            color=["#17703a", "#b3261e", "#8a8fa3"], label=list(groups))
    ax.axvline(result.metrics["threshold"], color="#1d2330", ls="--", lw=1, label="threshold")
    ax.set_xlabel("confidence of the best candidate")
    ax.set_ylabel("questions")
    ax.set_title("Confidence")
    ax.legend(fontsize=8)
    return _png(plt, fig)
