"""Follow-up questions without an LLM: rewrite a question that leans on the
previous turn ("And how much did it lend?") into one that stands alone, by
putting back the previous turn's entities and focus.

Rules, in order:

1. A personal pronoun (he, she, him, her, his, hers) stands for the previous
   answer when that was a name; otherwise it is left alone (the previous
   question's subject is as likely a company as a person).
2. it / its stand for the previous question's first name (a capitalised
   phrase; a lone demonym such as "Chinese" does not count), else the
   previous answer when it was a name. they / them / their stand for the
   previous answer when it was a name ("Which refineries...?" - "What do
   they meet?"), else the previous question's first name.
3. "What about X?" / "And X?" with no question word of its own asks the
   previous question again about X when X holds a name: the previous
   question's first name is replaced by X. Without a name it becomes
   "What is X?".
4. A leading "And" / "So" / "Also" is dropped.

A question that needs none of these is returned unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.spans import find_spans

_PERSONAL = {"he": "", "she": "", "him": "", "her": "'s", "his": "'s", "hers": "'s"}
_THING = {"it": "", "its": "'s"}
_PLURAL = {"they": "", "them": "", "their": "'s"}
_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.I)
_LEAD = re.compile(r"^\s*(?:and|so|also|then)\b[\s,]*", re.I)
_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.I)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str | None        # None: the previous reply abstained
    answer_is_name: bool = False


def resolve(question: str, history: list[Turn]) -> str:
    """``question`` made to stand alone, given the earlier turns (oldest first).

    >>> resolve("What does he know well?", [Turn("Who is the new president?", "Kassym-Jomart Tokayev", True)])
    'What does Kassym-Jomart Tokayev know well?'
    """
    if not history:
        return question
    last = history[-1]
    subject = _first_name(last.question)
    person = last.answer if (last.answer and last.answer_is_name) else None
    thing = subject or (last.answer if last.answer_is_name else None)

    plural = (last.answer if last.answer and last.answer_is_name else None) or subject

    def swap(m: re.Match) -> str:
        word = m.group(0)
        low = word.lower()
        for table, who in ((_PERSONAL, person), (_THING, thing), (_PLURAL, plural)):
            if low in table and who:
                return who + table[low]
        return word

    about = _ABOUT.match(question)
    topic = about.group(1).strip() if about else None
    if topic is None and not _WH.search(question) and _LEAD.match(question):
        topic = _LEAD.sub("", question).strip().rstrip("?").strip() or None
    if topic:
        # "And the Silk Road Fund?": the previous question, about something else.
        if subject and _first_name(" " + topic):
            return _replace_once(last.question, subject, topic)
        topic = re.sub(r"\b(?:he|she|him|her|his|hers|it|its|they|them|their)\b", swap, topic,
                       flags=re.I)
        return f"What is {topic}?"

    rewritten = re.sub(r"\b(?:he|she|him|her|his|hers|it|its|they|them|their)\b", swap,
                       question, flags=re.I)
    if rewritten != question or _LEAD.match(question):
        rewritten = _LEAD.sub("", rewritten)
        rewritten = rewritten[:1].upper() + rewritten[1:]
    return rewritten


_DEMONYM = re.compile(r"^[A-Z][a-z]+(?:ese|ian|ish|ic|an|i)$")


def _first_name(question: str) -> str | None:
    """The first capitalised phrase of ``question`` that is not its opening word
    nor a lone demonym used as an adjective ("Chinese companies")."""
    names = [s for s in find_spans(question) if s.kind == "name" and s.start > 0
             and not _DEMONYM.match(s.text)]
    if not names:
        return None
    return re.sub(r"['’]s$", "", min(names, key=lambda s: (s.start, -len(s.text))).text)


def _replace_once(question: str, old: str, new: str) -> str:
    i = question.find(old)
    if i < 0:
        return question
    if re.match(r"(?:the|a|an)\s", new, re.I) and re.search(r"\b(?:the|a|an)\s$", question[:i], re.I):
        new = new.split(None, 1)[1]  # "the" + "the Silk Road Fund"
    return question[:i] + new + question[i + len(old):]
