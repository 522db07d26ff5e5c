"""eval.compare: two runs' citations and metrics, side by side."""

from __future__ import annotations

import json

import pytest

from eval.compare import compare, main
from index.errors import InputError


def write_run(folder, predictions, f1=0.5):
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"f1": f1, "exact_match": 0.4, "ece": 0.1}))
    (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
    return folder


def pred(qid, start, abstained=False, confidence=0.5):
    return {"id": qid, "abstained": abstained, "doc_id": "a.txt", "start": start, "end": start + 3,
            "confidence": confidence}


def test_identical_runs_agree_everywhere(tmp_path):
    preds = [pred("q1", 0), pred("q2", 5, abstained=True)]
    a, b = write_run(tmp_path / "a", preds), write_run(tmp_path / "b", preds)
    result = compare(a, b)
    assert result["identical_citations"] == 2 and result["identical_share"] == 1.0
    assert result["max_abs_delta"] == 0 and result["differ"] == []


def test_a_different_span_abstention_or_metric_is_reported(tmp_path, capsys):
    a = write_run(tmp_path / "a", [pred("q1", 0), pred("q2", 5), pred("q3", 9)])
    b = write_run(tmp_path / "b", [pred("q3", 9, confidence=0.9), pred("q2", 5, abstained=True),
                                   pred("q1", 1)], f1=0.45)
    result = compare(a, b)
    assert result["identical_citations"] == 1 and result["identical_confidence"] == 0
    assert sorted(result["differ"]) == ["q1", "q2"]
    assert result["metric_deltas"]["f1"] == -0.05 and result["max_abs_delta"] == 0.05
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "3 questions: 1 identical" in out and "f1 -0.0500" in out and "differ: q1, q2" in out


def test_runs_of_other_questions_or_missing_files_are_one_line_errors(tmp_path, capsys):
    a = write_run(tmp_path / "a", [pred("q1", 0)])
    b = write_run(tmp_path / "b", [pred("q2", 0)])
    with pytest.raises(InputError, match="different questions"):
        compare(a, b)
    assert main([str(a), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "metrics.json" in err[0]
