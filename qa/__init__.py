"""docqa: ask questions of your documents, get verbatim, cited answers.

>>> from qa import QA
>>> QA.load().ask("Who is the new president of Kazakhstan?").answer.text
'Kassym-Jomart Tokayev'

Importing ``qa`` is cheap: torch and sentence-transformers load on first use.
"""

from qa.api import QA, QuestionError
from qa.types import ABSTENTION, Answer, Reply

__all__ = ["QA", "QuestionError", "Answer", "Reply", "ABSTENTION"]
