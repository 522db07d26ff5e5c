"""docqa: ask questions of your documents, get verbatim, cited answers.

>>> from qa import QA
>>> QA.load().ask("How much capital does the Asian Infrastructure Investment Bank have?").answer.text
'100 billion US dollars'
>>> QA.open("/tmp/idx")    # an index built by python -m qa index ... --index-dir /tmp/idx
>>> QA.connect("http://127.0.0.1:19530")   # a collection built by ... --backend milvus

Importing ``qa`` is cheap: torch and sentence-transformers load on first use.
"""

from index.config import IndexConfig
from index.errors import (BackendError, DocqaError, IndexCorruptError, IndexMismatchError,
                          IndexNotFoundError, IngestError, InputError, WriteError)
from qa.api import QA, QuestionError
from qa.types import ABSTENTION, Answer, Reply

# The errors an edge (CLI, UI, eval) turns into a one-line message: every one a user can
# cause. Anything else, a bare ValueError included, is a bug and shows as one.
USER_ERRORS = (DocqaError,)

__all__ = ["QA", "IndexConfig", "DocqaError", "InputError", "QuestionError", "IngestError", "IndexCorruptError",
           "IndexMismatchError", "IndexNotFoundError", "WriteError", "BackendError", "USER_ERRORS", "Answer",
           "Reply", "ABSTENTION"]
