"""The few named errors of the index layer. Each message names the bad value."""


class IngestError(ValueError):
    """A source file cannot be used (missing, binary, not UTF-8, empty)."""


class IndexNotFoundError(FileNotFoundError):
    """There is no index at the given directory."""


class IndexCorruptError(RuntimeError):
    """An index directory exists but a file in it is unreadable or inconsistent."""


class IndexMismatchError(RuntimeError):
    """The index was built with another model, dimension or format."""


class WriteError(RuntimeError):
    """A file or folder cannot be written (permissions, a path under a file, a
    read-only or full disk). The message names the path and the OS's reason."""
