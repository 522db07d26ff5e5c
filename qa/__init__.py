"""docqa: ask questions of your documents, get verbatim, cited answers.

>>> from qa import QA
>>> QA.load().ask("Who is the new president of Kazakhstan?").answer.text
'Kassym-Jomart Tokayev'

Importing ``qa`` is cheap: torch and sentence-transformers load on first use.
"""

from index.config import IndexConfig
from index.errors import IndexCorruptError, IndexMismatchError, IngestError, WriteError
from qa.api import QA, QuestionError
from qa.types import ABSTENTION, Answer, Reply

# The errors an edge (CLI, UI, eval) turns into a one-line message.
USER_ERRORS = (QuestionError, IngestError, IndexCorruptError, IndexMismatchError, WriteError,
               ValueError)

__all__ = ["QA", "IndexConfig", "QuestionError", "IngestError", "IndexCorruptError", "IndexMismatchError",
           "WriteError", "USER_ERRORS", "Answer", "Reply", "ABSTENTION"]
