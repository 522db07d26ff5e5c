"""eval.data: JSONL and SQuAD question files, the SQuAD articles as documents,
and every bad input as one ``EvalInputError("FILE:LINE: ...")``."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import pytest

from eval.data import EvalInputError, EvalQuestion, QuestionSet, load_questions

DATA = Path(__file__).resolve().parent / "data"
SQUAD = DATA / "tiny-squad-v2.json"
JSONL = DATA / "tiny.jsonl"


def squad_dict() -> dict:
    return json.loads(SQUAD.read_text(encoding="utf-8"))


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` occurrence of ``needle`` in ``text``."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    return text.count("\n", 0, i) + 1


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def write_squad(tmp_path: Path, data: dict, name: str = "set.json") -> tuple[Path, str]:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return write(tmp_path, name, text), text


def jsonl(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def expect_error(path: Path, line: int, *words: str) -> str:
    with pytest.raises(EvalInputError) as info:
        load_questions(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


# --- JSONL ---------------------------------------------------------------------

def test_jsonl_questions_and_answerable_flags():
    qset = load_questions(JSONL)
    assert isinstance(qset, QuestionSet)
    assert qset.format == "jsonl" and qset.documents == ()
    assert qset.path == JSONL
    assert qset.sha256 == hashlib.sha256(JSONL.read_bytes()).hexdigest()
    rows = [json.loads(line) for line in JSONL.read_text(encoding="utf-8").splitlines()]
    assert [q.id for q in qset.questions] == [r["id"] for r in rows]
    assert [q.question for q in qset.questions] == [r["question"] for r in rows]
    assert [q.answers for q in qset.questions] == [tuple(r["answers"]) for r in rows]
    assert [q.answerable for q in qset.questions] == [bool(r["answers"]) for r in rows]
    assert [q.line for q in qset.questions] == list(range(1, len(rows) + 1))
    assert sum(q.answerable for q in qset.questions) == 5
    assert all(isinstance(q, EvalQuestion) for q in qset.questions)


def test_jsonl_blank_lines_default_ids_duplicate_golds_and_bom(tmp_path):
    path = write(tmp_path, "q.jsonl", "\ufeff" + jsonl(
        {"id": "a", "question": "Who?", "answers": ["Ann", "Ann", "Bo"]},
        "",
        "   ",
        {"question": "Where?", "answers": []},
    ))
    qset = load_questions(path)
    assert [(q.id, q.answers, q.line) for q in qset.questions] == [
        ("a", ("Ann", "Bo"), 1), ("line-4", (), 4)]
    assert [q.answerable for q in qset.questions] == [True, False]


def test_a_single_json_object_named_json_is_read_as_jsonl(tmp_path):
    path = write(tmp_path, "one.json", jsonl({"id": "x", "question": "Who?", "answers": ["Ann"]}))
    qset = load_questions(path)
    assert qset.format == "jsonl" and [q.id for q in qset.questions] == ["x"]


def test_write_documents_refuses_a_jsonl_set(tmp_path):
    with pytest.raises(ValueError):
        load_questions(JSONL).write_documents(tmp_path)


# --- SQuAD ---------------------------------------------------------------------

def test_squad_questions_and_answerable_flags():
    qset = load_questions(SQUAD)
    data = squad_dict()
    text = SQUAD.read_text(encoding="utf-8")
    qas = [qa for art in data["data"] for p in art["paragraphs"] for qa in p["qas"]]
    assert qset.format == "squad"
    assert qset.sha256 == hashlib.sha256(SQUAD.read_bytes()).hexdigest()
    assert len(qset.questions) == 12
    assert [q.id for q in qset.questions] == [qa["id"] for qa in qas]
    assert [q.question for q in qset.questions] == [qa["question"] for qa in qas]
    assert [q.answerable for q in qset.questions] == [not qa["is_impossible"] for qa in qas]
    assert sum(q.answerable for q in qset.questions) == 8
    # plausible answers of impossible questions are not gold answers
    assert all(q.answers == () for q in qset.questions if not q.answerable)
    by_id = {q.id: q for q in qset.questions}
    assert by_id["lh-year"].answers == ("1871", "in 1871")
    assert by_id["lh-cost"].answers == ("£1.2 million",)
    assert by_id["vf-prize"].answers == ("$5,000",)
    assert by_id["vf-founder"].answers == ("Otto Brandauer",)
    assert by_id["vf-town"].answers == ("Kessling",)
    # each question remembers the line of its id
    for q in qset.questions:
        assert q.line == line_of(text, f'"{q.id}"')


def test_squad_articles_become_documents_holding_their_answers():
    qset = load_questions(SQUAD)
    data = squad_dict()
    assert [name for name, _ in qset.documents] == ["Harrowgate_Point_Lighthouse.txt",
                                                     "Velden_River_Festival.txt"]
    for (name, doc), article in zip(qset.documents, data["data"]):
        contexts = [p["context"] for p in article["paragraphs"]]
        assert doc == "\n\n".join(contexts)
        # gold answers (and plausible ones) are substrings of their article's document,
        # and the offsets stay consistent: paragraph offset + answer_start
        offset = 0
        for p in article["paragraphs"]:
            assert doc[offset:offset + len(p["context"])] == p["context"]
            for qa in p["qas"]:
                for a in qa["answers"] + qa.get("plausible_answers", []):
                    s = offset + a["answer_start"]
                    assert doc[s:s + len(a["text"])] == a["text"]
            offset += len(p["context"]) + 2


def test_write_documents_writes_them_and_is_idempotent(tmp_path):
    qset = load_questions(SQUAD)
    folder = qset.write_documents(tmp_path / "docs")
    assert folder.parent == tmp_path / "docs"
    assert qset.sha256[:12] in folder.name
    assert sorted(p.name for p in folder.iterdir()) == sorted(n for n, _ in qset.documents)
    for name, text in qset.documents:
        assert (folder / name).read_text(encoding="utf-8") == text
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    again = load_questions(SQUAD).write_documents(tmp_path / "docs")
    assert again == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps, "rewritten"
    assert not [p for p in folder.iterdir() if ".tmp-" in p.name]

    # a damaged copy is repaired
    name, text = qset.documents[0]
    (folder / name).write_text("scribbled over", encoding="utf-8")
    assert qset.write_documents(tmp_path / "docs") == folder
    assert (folder / name).read_text(encoding="utf-8") == text


def test_squad_v1_without_is_impossible(tmp_path):
    data = squad_dict()
    for art in data["data"]:
        for p in art["paragraphs"]:
            p["qas"] = [qa for qa in p["qas"] if not qa["is_impossible"]]
            for qa in p["qas"]:
                del qa["is_impossible"]
    data["version"] = "1.1"
    path, _ = write_squad(tmp_path, data)
    qset = load_questions(path)
    assert qset.format == "squad" and len(qset.questions) == 8
    assert all(q.answerable for q in qset.questions)


def test_same_titles_get_distinct_document_names(tmp_path):
    data = squad_dict()
    data["data"][1]["title"] = data["data"][0]["title"]
    path, _ = write_squad(tmp_path, data)
    names = [n for n, _ in load_questions(path).documents]
    assert len(set(names)) == 2 and all(n.endswith(".txt") for n in names)


# --- bad input: each one line, FILE:LINE: -------------------------------------------

def test_neither_json_nor_jsonl(tmp_path):
    expect_error(write(tmp_path, "q.jsonl", "id,question,answers\n1,Who?,Ann\n"), 1, "JSON")
    expect_error(write(tmp_path, "q.txt", "Who built it?\nNobody knows.\n"), 1, "JSON")
    # JSONL that breaks on its third line
    path = write(tmp_path, "third.jsonl", jsonl({"id": "a", "question": "Who?", "answers": []},
                                                {"id": "b", "question": "Why?", "answers": []},
                                                '{"id": "c", "question": "How?", "answers": [}'))
    expect_error(path, 3, "not valid JSON")
    # a .json file broken on its fourth line
    expect_error(write(tmp_path, "broken.json", '{\n  "version": "v2.0",\n  "data": [\n    oops\n'),
                 4, "not valid JSON")
    # valid JSON, but neither SQuAD nor a question
    expect_error(write(tmp_path, "list.json", "[1, 2, 3]\n"), 1, "SQuAD")
    expect_error(write(tmp_path, "obj.json", '{"name": "x"}\n'), 1, "SQuAD")


def test_a_jsonl_line_that_is_not_an_object(tmp_path):
    path = write(tmp_path, "q.jsonl", jsonl({"id": "a", "question": "Who?", "answers": []},
                                            '["Who?", []]'))
    expect_error(path, 2, "object")


@pytest.mark.parametrize("row", [
    {"id": "c", "answers": ["Ann"]},
    {"id": "c", "question": "", "answers": ["Ann"]},
    {"id": "c", "question": "   ", "answers": ["Ann"]},
    {"id": "c", "question": 42, "answers": ["Ann"]},
])
def test_jsonl_missing_question(tmp_path, row):
    path = write(tmp_path, "q.jsonl", jsonl({"id": "a", "question": "Who?", "answers": []},
                                            "",
                                            row))
    expect_error(path, 3, "question")


def test_squad_missing_question(tmp_path):
    data = squad_dict()
    del data["data"][1]["paragraphs"][1]["qas"][0]["question"]     # vf-founder
    path, text = write_squad(tmp_path, data)
    expect_error(path, line_of(text, '"vf-founder"'), "question", "vf-founder")


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff", "\n"])
def test_empty_file(tmp_path, content):
    expect_error(write(tmp_path, "q.jsonl", content), 1, "empty")
    expect_error(write(tmp_path, "q.json", content), 1, "empty")


def test_squad_without_questions(tmp_path):
    data = squad_dict()
    for art in data["data"]:
        for p in art["paragraphs"]:
            p["qas"] = []
    path, _ = write_squad(tmp_path, data)
    expect_error(path, 1, "no questions")


def test_squad_with_empty_data(tmp_path):
    path = write(tmp_path, "q.json", '{\n  "version": "v2.0",\n  "data": []\n}\n')
    expect_error(path, 3, "data")


@pytest.mark.parametrize("qid, change", [
    ("lh-keeper", {"answer_start": +1}),
    ("vf-prize", {"answer_start": -3}),
    ("lh-cost", {"text": "£1.3 million"}),
    ("lh-year", {"answer_start": None}),
    ("vf-town", {"answer_start": "42"}),
])
def test_squad_answer_offset_does_not_match_its_text(tmp_path, qid, change):
    data = squad_dict()
    qa = next(qa for art in data["data"] for p in art["paragraphs"] for qa in p["qas"]
              if qa["id"] == qid)
    answer = qa["answers"][-1]
    for key, value in change.items():
        if key == "answer_start" and isinstance(value, int):
            answer[key] += value
        else:
            answer[key] = value
    path, text = write_squad(tmp_path, data)
    expect_error(path, line_of(text, f'"{qid}"'), qid, "offset")


def test_squad_answerable_question_without_answers(tmp_path):
    data = squad_dict()
    data["data"][0]["paragraphs"][1]["qas"][0]["answers"] = []     # lh-keeper, not impossible
    path, text = write_squad(tmp_path, data)
    expect_error(path, line_of(text, '"lh-keeper"'), "lh-keeper", "is_impossible")


@pytest.mark.parametrize("answers", ["Paris", None, ["Paris", ""], ["Paris", 3], {"text": "Paris"}])
def test_jsonl_bad_answers_type(tmp_path, answers):
    row = {"id": "b", "question": "Where?"}
    if answers is not None:
        row["answers"] = answers
    path = write(tmp_path, "q.jsonl", jsonl({"id": "a", "question": "Who?", "answers": []}, row))
    expect_error(path, 2, "answers")


@pytest.mark.parametrize("answers", ["1871", ["1871"]], ids=["string", "list-of-strings"])
def test_squad_bad_answers_type(tmp_path, answers):
    data = squad_dict()
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"] = answers     # lh-year
    path, text = write_squad(tmp_path, data)
    expect_error(path, line_of(text, '"lh-year"'), "lh-year", "answers")


def test_squad_article_that_is_not_an_object(tmp_path):
    path = write(tmp_path, "q.json", '{\n  "version": "v2.0",\n  "data": [\n    "x"\n  ]\n}\n')
    expect_error(path, 4)


def test_jsonl_duplicate_ids(tmp_path):
    path = write(tmp_path, "q.jsonl", jsonl({"id": "a", "question": "Who?", "answers": []},
                                            {"id": "b", "question": "Why?", "answers": []},
                                            {"id": "a", "question": "How?", "answers": []}))
    message = expect_error(path, 3, "'a'")
    assert "line 1" in message


def test_squad_duplicate_ids(tmp_path):
    data = squad_dict()
    data["data"][1]["paragraphs"][0]["qas"][0]["id"] = "lh-year"    # was vf-town
    path, text = write_squad(tmp_path, data)
    expect_error(path, line_of(text, '"lh-year"', nth=1), "lh-year")


def test_squad_numeric_id_error_names_its_line(tmp_path):
    data = squad_dict()
    qa = data["data"][1]["paragraphs"][1]["qas"][0]                  # vf-founder
    qa["id"] = 17
    qa["answers"][0]["answer_start"] += 1
    path, text = write_squad(tmp_path, data)
    expect_error(path, line_of(text, '"id": 17'), "17")


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_jsonl_line_with_a_unicode_line_separator_in_a_string(tmp_path, char):
    rows = [{"id": "a", "question": f"Who wrote{char}this?", "answers": ["Ann"]},
            {"id": "b", "question": "Why?", "answers": []}]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    qset = load_questions(write(tmp_path, "q.jsonl", text))
    assert [(q.id, q.line) for q in qset.questions] == [("a", 1), ("b", 2)]


def test_not_utf8_names_the_line(tmp_path):
    raw = jsonl({"id": "a", "question": "Who?", "answers": []}).encode()
    raw += '{"id": "b", "question": "Caf\xe9?", "answers": []}\n'.encode("latin-1")
    expect_error(write(tmp_path, "q.jsonl", raw), 2, "UTF-8")


def test_not_utf8_is_an_eval_input_error(tmp_path):
    path = write(tmp_path, "q.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(EvalInputError, match="UTF-8") as info:
        load_questions(path)
    assert str(info.value).startswith(f"{path}:") and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(EvalInputError) as info:
        load_questions(tmp_path / "nope.jsonl")
    assert str(info.value).startswith(f"{tmp_path / 'nope.jsonl'}:")


def test_load_does_not_modify_the_file(tmp_path):
    path, text = write_squad(tmp_path, copy.deepcopy(squad_dict()))
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    load_questions(path)
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
