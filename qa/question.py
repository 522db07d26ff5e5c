"""Question analysis: what kind of answer is expected, and which words carry the topic.

Pattern rules over the question's wording; no model. The kinds:

=============  ==============================================  ==========================
kind           typical question                                answer looked for
=============  ==============================================  ==========================
money          How much capital ...? How large is the fund?    "$13.9 billion"
number         How many ...? How long, in kilometers ...?       "51", "over 3,000"
percent        What share / percentage ...?                     "over 30%", "almost a third"
date           When ...? In what year ...?                      "2013", "February 1, 2017"
person         Who ...? Which president ...?                    a capitalised name
organisation   Which bank / company / organization ...?         a capitalised name
place          Where ...? Which country / city / region ...?    a capitalised name
entity         Which <other noun> ...?                          a capitalised name
yesno          Is / Are / Does ...?                              the supporting clause
reason         Why ...?                                          the supporting clause
description    What ...? How ...? anything else                  the supporting clause
=============  ==============================================  ==========================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.lexical import stem, tokenize

TYPED_KINDS = frozenset({"money", "number", "percent", "date", "person", "organisation",
                         "place", "entity"})
NAME_KINDS = frozenset({"person", "organisation", "place", "entity"})

_MONEY_CUES = re.compile(
    r"\b(?:capital|cost|costs|price|budget|invest\w*|fund\w*|loan\w*|lend|lent|debt\w*|worth"
    r"|pa(?:y|id)|spen[dt]|revenue\w*|income|profit\w*|salar\w*|money|dollars?|euros?"
    r"|financ\w*|valu(?:e|ed)|sum|amount of money|turnover)\b")
_PERCENT_HEADS = r"(?:percentage|percent|share|proportion|fraction|part|portion|rate)"
_PLACE_NOUNS = frozenset("""country countries city cities region regions province provinces state
states place places town towns capital continent area areas village river rivers sea island
islands nation nations territory territories location district port""".split())
_ORG_NOUNS = frozenset("""bank banks company companies organization organisation organizations
organisations foundation fund funds agency agencies institution institutions university
corporation corporations firm firms party parties group groups body ministry council committee
association union newspaper team club school network channel broadcaster airline publisher
government""".split())
_PERSON_NOUNS = frozenset("""person people president leader leaders author writer man woman king
queen emperor minister ruler scientist politician official officials chairman founder ceo
director expert analyst member members son daughter father mother wife husband""".split())
_QUANTITY_HEADS = (r"(?:amount|volume|value|size|sum|total|inflow|outflow|cost|price|level|portfolio"
                   r"|population|length|distance|height|area|weight|age|speed|depth|temperature)")
_AUX = r"(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|shall|may|might|must)"


@dataclass(frozen=True)
class Question:
    text: str
    kind: str                 # one of the kinds in the module docstring
    terms: tuple[str, ...]    # stemmed content words (index.lexical.tokenize), in order
    head: str | None = None   # the noun after which/what/how many, when there is one
    plural: bool = False      # the question asks for several things ("which two", "refineries")
    lead: str | None = None   # words right before the wh-word: "according to", "between"
    verb: str | None = None   # stem of the verb right after who/what ("who published" -> publish)

    @property
    def typed(self) -> bool:
        return self.kind in TYPED_KINDS


def analyze_question(text: str) -> Question:
    """Classify ``text`` and pick its topic terms.

    >>> analyze_question("How much capital does the Asian Infrastructure Investment Bank have?").kind
    'money'
    >>> analyze_question("Who is the new president of Kazakhstan?").kind
    'person'
    """
    q = " ".join(text.replace("’", "'").split())
    low = q.lower()
    kind, head, plural = _classify(low, q)
    lead = re.match(r"(?:[a-z]+\s+){0,2}?((?:[a-z]+\s+){1,2})(?:which|what|whom)\b", low)
    verb = re.match(r"(?:who|what)\s+(?:[a-z]+ly\s+)?([a-z]+)\b", low)  # "what actively replicates"
    verb_word = verb.group(1) if verb and not re.fullmatch(_AUX, verb.group(1)) else None
    passive = re.match(r"(?:who|what)\s+(?:is|was|were|are)\b.*?\b([a-z]+(?:ed|en|wn))\s+by\s*\??$", low)
    if passive:  # "Who is VideoGuard owned by?" -> owned ... by [NDS]
        verb_word = passive.group(1)
    return Question(text=text, kind=kind, terms=tuple(tokenize(text)), head=head, plural=plural,
                    lead=lead.group(1).strip() if lead else None,
                    verb=stem(verb_word) if verb_word else None)


_STOP_HEAD = frozenset("""of in on at to for with from by about between under over into after
before during that who which whom whose than as like against""".split())
_NUMBER_WORDS = frozenset("two three four five several both".split())


def _looks_plural(word: str) -> bool:
    return word.endswith("s") and not word.endswith(("ss", "us", "is", "ics", "news"))


def _looks_adjective(word: str, original: str) -> bool:
    return original[:1].isupper() or bool(re.search(r"(?:al|ic|ive|ous|ian|ese|ish|ern|ful|less)$", word))


def _head_after(question: str, word: str) -> tuple[str | None, bool]:
    """The head noun of the phrase after ``word`` ("which two economic giants is"
    -> giants, plural). The phrase runs to the first auxiliary, preposition,
    -ing/-ed word or punctuation; its head is its first plural-looking word,
    else its first word that does not look like an adjective."""
    m = re.search(rf"\b{word}\b(.*)", question, re.I)
    if not m:
        return None, False
    run: list[tuple[str, str]] = []   # (lower-case word, as written)
    words = re.findall(r"[A-Za-z0-9][\w'-]*|[,;:?!“”\"]", m.group(1))[:7]
    if words and words[0].lower() in {"is", "are", "was", "were"}:  # "what is the capital of"
        words = words[1:]
    elif words and re.fullmatch(_AUX, words[0].lower()):
        return None, False  # "what did the committee recommend": the noun is the subject
    for original in words:
        w = original.lower()
        if (not w[0].isalnum() or w in _STOP_HEAD or re.fullmatch(_AUX, w)
                or (run and re.search(r"(?:ing|ed)$", w))):
            break
        if w not in {"the", "a", "an"}:
            run.append((w.removesuffix("'s"), original))
        if w.endswith("'s"):  # "which organization's activities": the owner is asked for
            break
    plural = any(w in _NUMBER_WORDS for w, _ in run)
    nouns = [(w, o) for w, o in run if w not in _NUMBER_WORDS and w.isalpha()]
    if not nouns:
        return None, plural
    head = next((w for w, _ in nouns[:3] if _looks_plural(w)), None) \
        or next((w for w, o in nouns if not _looks_adjective(w, o)), nouns[-1][0])
    return head, plural or _looks_plural(head)


def _noun_kind(noun: str | None) -> str | None:
    if noun is None:
        return None
    singular = noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun
    for n in (noun, singular):
        if n in _PLACE_NOUNS:
            return "place"
        if n in _ORG_NOUNS:
            return "organisation"
        if n in _PERSON_NOUNS:
            return "person"
    return None


def _classify(low: str, q: str) -> tuple[str, str | None, bool]:
    money_cue = bool(_MONEY_CUES.search(low))
    if re.search(rf"\b(?:what|which)\s+(?:[\w']+\s+){{0,3}}?{_PERCENT_HEADS}\b", low) \
            or re.search(rf"\b{_PERCENT_HEADS}\s+of\b", low) or "how much of" in low \
            or re.search(r"\bhow many percent", low):
        return "percent", None, False
    if "how much" in low:
        return ("money" if money_cue or "cost" in low else "number"), None, False
    m = re.search(r"\bhow many\b", low) or re.search(r"\b(?:what|the) number of\b", low)
    if m:
        head, _ = _head_after(q, "many") if "how many" in low else _head_after(q, "of")
        return "number", head, False
    if re.search(rf"\bhow (?:large|big|high|great|huge|small)\b|\b(?:what|which)\s+{_AUX}\s+"
                 rf"(?:the\s+)?(?:total\s+)?{_QUANTITY_HEADS}\b", low):
        return ("money" if money_cue else "number"), None, False
    if re.search(r"\bhow (?:long|far|old|tall|wide|deep|heavy|fast|often|many times)\b", low):
        unit = re.search(r"\bin ([a-z]+)\b", low)  # "how long, in kilometers, is ..."
        return "number", unit.group(1) if unit else None, False
    # "when" counts only as the question's own wh-word, not in a clause after
    # it ("Who was the chief executive when the service began?").
    first_wh = re.search(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", low)
    if (first_wh and first_wh.group() == "when") or re.search(
            r"\b(?:what year|which year|what date|what time|what century|what decade"
            r"|what month|what day|which century|which decade)\b", low):
        return "date", None, False
    if re.match(r"(?:\w+\s+){0,4}?(?:who|whom|whose)\b", low):
        return "person", None, False
    if re.match(r"(?:\w+\s+){0,4}?where\b", low):
        return "place", None, False
    if re.match(r"(?:\w+\s+){0,4}?why\b", low):
        return "reason", None, False
    for word in ("which", "what"):
        if re.search(rf"\b{word}\b", low):
            if re.search(rf"\b{word}\s+(?:kind|type|sort)s?\s+of\b", low):
                return "description", None, False
            head, plural = _head_after(q, word)
            noun_kind = _noun_kind(head)
            if noun_kind:
                return noun_kind, head, plural
            # "what is/are/does ..." asks for a description; "which X" for a thing named X.
            if word == "which" and head is not None:
                return "entity", head, plural
            return "description", head, plural
    if re.match(_AUX + r"\b", low):
        return "yesno", None, False
    return "description", None, False
