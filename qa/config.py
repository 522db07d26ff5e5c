"""Query-time defaults, defined once (build settings live in index.config.IndexConfig)."""

DEFAULT_TOP_K = 5           # passages retrieved and read per question
MAX_QUESTION_CHARS = 1000   # longer questions are refused with a clear message
