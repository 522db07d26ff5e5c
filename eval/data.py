"""Question sets: JSONL (``{"id", "question", "answers"}`` a line) or SQuAD v1.1/v2.0 JSON.

Every problem is reported as ``EvalInputError("FILE:LINE: what is wrong")``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path


class EvalInputError(ValueError):
    """A question file cannot be used; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]   # gold answers; empty: the documents do not say
    line: int = 0              # where it was read from (1-based), for messages

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class QuestionSet:
    path: Path
    format: str                          # "jsonl" or "squad"
    questions: tuple[EvalQuestion, ...]
    documents: tuple[tuple[str, str], ...] = ()   # SQuAD: (file name, text) per article
    sha256: str = ""                     # of the file's bytes

    def write_documents(self, root: Path) -> Path:
        """Write a SQuAD set's articles as ``.txt`` files into a folder under
        ``root`` named after the file's hash (reused when already there); return it."""
        if not self.documents:
            raise ValueError(f"{self.path} holds no documents (it is a {self.format} file)")
        folder = Path(root) / f"{_slug(self.path.stem)}-{self.sha256[:12]}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.documents:
            path = folder / name
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            tmp = path.with_name(f".{name}.tmp-{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        return folder


def load_questions(path: str | Path) -> QuestionSet:
    """Read a JSONL or SQuAD question file. Raises ``EvalInputError`` naming the
    file and line of the first problem: not JSON, a missing field, an empty
    file, a SQuAD answer whose offset does not match its context."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalInputError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise EvalInputError(f"{path}:1: empty file, no questions")
    sha = hashlib.sha256(raw).hexdigest()
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{\n") or _looks_squad(text):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise EvalInputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
            data = None
        if isinstance(data, dict) and "data" in data:
            return _read_squad(path, text, data, sha)
        if path.suffix.lower() == ".json" and not (isinstance(data, dict) and "question" in data):
            raise EvalInputError(f"{path}:1: not a SQuAD file (no top-level 'data' list) "
                                 "and not JSONL")
    return QuestionSet(path, "jsonl", _read_jsonl(path, text), sha256=sha)


def _looks_squad(text: str) -> bool:
    return bool(re.match(r'\s*\{\s*"(?:version|data)"', text))


def _read_jsonl(path: Path, text: str) -> tuple[EvalQuestion, ...]:
    questions: list[EvalQuestion] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{n}: not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise EvalInputError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise EvalInputError(f"{path}:{n}: missing 'question' (a non-empty string)")
        answers = row.get("answers")
        if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
            raise EvalInputError(f"{path}:{n}: 'answers' must be a list of non-empty strings "
                                 "(empty list: unanswerable)")
        qid = str(row.get("id", f"line-{n}"))
        if qid in seen:
            raise EvalInputError(f"{path}:{n}: id {qid!r} is already used on line {seen[qid]}")
        seen[qid] = n
        questions.append(EvalQuestion(qid, question, _unique(answers), n))
    if not questions:
        raise EvalInputError(f"{path}:1: empty file, no questions")
    return tuple(questions)


def _read_squad(path: Path, text: str, data: dict, sha: str) -> QuestionSet:
    """Each article becomes one document: its paragraphs joined by blank lines."""
    def where(key: str) -> int:
        i = text.find(key)
        return text.count("\n", 0, i) + 1 if i >= 0 else 1

    if not isinstance(data["data"], list) or not data["data"]:
        line = where('"data"')
        raise EvalInputError(f"{path}:{line}: 'data' must be a non-empty list of articles")
    questions: list[EvalQuestion] = []
    documents: list[tuple[str, str]] = []
    names: set[str] = set()
    for a, article in enumerate(data["data"]):
        title = str(article.get("title") or f"article-{a + 1}")
        paragraphs = article.get("paragraphs")
        if not isinstance(paragraphs, list) or not paragraphs:
            raise EvalInputError(f"{path}:{where(title)}: article {title!r} has no 'paragraphs'")
        for p in paragraphs:
            context = p.get("context")
            if not isinstance(context, str) or not context.strip():
                raise EvalInputError(f"{path}:{where(title)}: a paragraph of {title!r} has no 'context'")
            for qa in p.get("qas", []):
                qid = str(qa.get("id", ""))
                line = where(f'"{qid}"') if qid else where(title)
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise EvalInputError(f"{path}:{line}: missing 'question' (id {qid!r})")
                golds: list[str] = []
                if not qa.get("is_impossible", False):
                    for ans in qa.get("answers", []):
                        start, answer = ans.get("answer_start"), ans.get("text")
                        if not isinstance(answer, str) or not isinstance(start, int) \
                                or context[start:start + len(answer)] != answer:
                            raise EvalInputError(
                                f"{path}:{line}: answer {answer!r} of question {qid!r} does not "
                                f"match its context at offset {start!r}")
                        golds.append(answer)
                    if not golds:
                        raise EvalInputError(f"{path}:{line}: question {qid!r} has no answers "
                                             "and is not marked is_impossible")
                questions.append(EvalQuestion(qid or f"q{len(questions) + 1}", question,
                                              _unique(golds), line))
        name = _slug(title) + ".txt"
        while name in names:
            name = name[:-4] + "_.txt"
        names.add(name)
        documents.append((name, "\n\n".join(p["context"] for p in paragraphs)))
    if not questions:
        raise EvalInputError(f"{path}:1: no questions in the SQuAD file")
    return QuestionSet(path, "squad", tuple(questions), tuple(documents), sha)


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _slug(text: str) -> str:
    return re.sub(r"(?:[^\w.-]|_)+", "_", text).strip("._")[:80] or "document"
