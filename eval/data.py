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

from qa import InputError
from qa.api import QuestionError, clean_question


class EvalInputError(InputError):
    """A question file cannot be used; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]   # gold answers; empty: the documents do not say
    line: int = 0              # where it was read from (1-based), for messages
    group: str = ""            # SQuAD: the article's title (for train/test splits by article)

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
            raise InputError(f"{self.path} holds no documents (it is a {self.format} file)")
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
        line = raw.count(b"\n", 0, exc.start) + 1
        raise EvalInputError(f"{path}:{line}: not UTF-8 text (bad byte at offset {exc.start})") from None
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
    # Only "\n" ends a JSONL record: JSON strings may hold raw U+2028, U+0085...,
    # which str.splitlines() would also split on.
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{n}: not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise EvalInputError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
        question = _checked_question(path, n, row.get("question"))
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
    seen: dict[str, int] = {}
    article_lines = _array_element_lines(text, "data")
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict):
            line = article_lines[a] if a < len(article_lines) else where('"data"')
            raise EvalInputError(f"{path}:{line}: article {a + 1} is not a JSON object")
        title = str(article.get("title") or f"article-{a + 1}")
        paragraphs = article.get("paragraphs")
        if not isinstance(paragraphs, list) or not paragraphs \
                or not all(isinstance(p, dict) for p in paragraphs):
            raise EvalInputError(f"{path}:{where(title)}: article {title!r} needs a list of "
                                 "'paragraphs' objects")
        for p in paragraphs:
            context = p.get("context")
            if not isinstance(context, str) or not context.strip():
                raise EvalInputError(f"{path}:{where(title)}: a paragraph of {title!r} has no 'context'")
            qas = p.get("qas", [])
            if not isinstance(qas, list) or not all(isinstance(q, dict) for q in qas):
                raise EvalInputError(f"{path}:{where(title)}: 'qas' of a paragraph of {title!r} "
                                     "must be a list of objects")
            for qa in qas:
                qid = str(qa.get("id", ""))
                line = _line_of_id(text, qid, nth=qid in seen) if qid else where(title)
                if qid in seen:
                    raise EvalInputError(f"{path}:{line}: id {qid!r} is already used on line {seen[qid]}")
                seen[qid] = line
                question = _checked_question(path, line, qa.get("question"), qid)
                golds: list[str] = []
                if not qa.get("is_impossible", False):
                    answers = qa.get("answers", [])
                    if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                        raise EvalInputError(f"{path}:{line}: 'answers' of question {qid!r} must be a "
                                             "list of {\"text\", \"answer_start\"} objects")
                    for ans in answers:
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
                                              _unique(golds), line, title))
        name = _slug(title) + ".txt"
        while name in names:
            name = name[:-4] + "_.txt"
        names.add(name)
        documents.append((name, "\n\n".join(p["context"] for p in paragraphs)))
    if not questions:
        raise EvalInputError(f"{path}:1: no questions in the SQuAD file")
    return QuestionSet(path, "squad", tuple(questions), tuple(documents), sha)


def _checked_question(path: Path, line: int, question, qid: str | None = None) -> str:
    """The question if ``QA.ask`` will take it, else ``EvalInputError`` at ``line``."""
    which = f" (id {qid!r})" if qid else ""
    if not isinstance(question, str) or not question.strip():
        raise EvalInputError(f"{path}:{line}: missing 'question' (a non-empty string){which}")
    try:
        clean_question(question)
    except QuestionError as exc:
        raise EvalInputError(f"{path}:{line}: {exc}{which}") from None
    return question


def _line_of_id(text: str, qid: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` (from 0) ``"id": <qid>`` (quoted or a bare number)."""
    found = list(re.finditer(r'"id"\s*:\s*"?' + re.escape(qid) + r'"?\s*[,}\n]', text))
    m = found[min(nth, len(found) - 1)] if found else None
    return text.count("\n", 0, m.start()) + 1 if m else 1


def _array_element_lines(text: str, key: str) -> list[int]:
    """1-based lines where the elements of the first ``"key": [...]`` array start."""
    m = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
    if not m:
        return []
    decoder, pos, lines = json.JSONDecoder(), m.end(), []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return lines
        lines.append(text.count("\n", 0, pos) + 1)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return lines


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _slug(text: str) -> str:
    return re.sub(r"(?:[^\w.-]|_)+", "_", text).strip("._")[:80] or "document"
