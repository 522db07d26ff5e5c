"""docqa: ask questions of your documents, get verbatim, cited answers.

>>> from qa import QA
>>> QA.load().ask("How much capital does the Asian Infrastructure Investment Bank have?").answer.text
'100 billion US dollars'
>>> QA.open("/tmp/idx")    # an index built by python -m qa index ... --index-dir /tmp/idx

Importing ``qa`` is cheap: torch and sentence-transformers load on first use.
"""

from index.config import IndexConfig
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, IngestError, WriteError
from qa.api import QA, QuestionError
from qa.types import ABSTENTION, Answer, Reply

# The errors an edge (CLI, UI, eval) turns into a one-line message.
USER_ERRORS = (QuestionError, IngestError, IndexCorruptError, IndexMismatchError, IndexNotFoundError,
               WriteError, ValueError)

__all__ = ["QA", "IndexConfig", "QuestionError", "IngestError", "IndexCorruptError", "IndexMismatchError",
           "IndexNotFoundError", "WriteError", "USER_ERRORS", "Answer", "Reply", "ABSTENTION"]
