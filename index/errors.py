"""The named errors of docqa. Each message names the bad value.

``DocqaError`` is the base of every error a user can cause (a bad question,
file, argument or index folder): the edges (CLI, UI, eval) turn it into one
line, with exit code 2 on the command line. Anything else, a bare
``ValueError`` included, is a bug, and shows as one.
"""


class DocqaError(Exception):
    """An error in what the user gave docqa; the message says what and why."""


class InputError(DocqaError, ValueError):
    """A bad argument, setting or input; the message names the value."""


class IngestError(InputError):
    """A source file cannot be used (missing, binary, not UTF-8, empty)."""


class IndexNotFoundError(DocqaError, FileNotFoundError):
    """There is no index at the given directory."""


class IndexCorruptError(DocqaError, RuntimeError):
    """An index directory exists but a file in it is unreadable or inconsistent."""


class IndexMismatchError(DocqaError, RuntimeError):
    """The index was built with another model, dimension or format."""


class WriteError(DocqaError, RuntimeError):
    """A file or folder cannot be written (permissions, a path under a file, a
    read-only or full disk). The message names the path and the OS's reason."""


class BackendError(DocqaError, ConnectionError):
    """A search server (Milvus) cannot be reached, or failed; the message names
    its URI and what was being done."""
