"""The web UI's settings, defined once (cheap to import: no gradio)."""

DEFAULT_HOST = "127.0.0.1"    # this machine only
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 10    # per uploaded file
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown")   # what QA.load reads
ASK_CONCURRENCY = 2           # questions answered at once (2 cores; torch uses 1 thread each)
INDEX_CONCURRENCY = 1         # uploads indexed at once
QUEUE_SIZE = 64               # requests waiting beyond that are refused ("queue is full")
MAX_LOADED_UPLOADS = 3        # uploaded document sets kept in memory; older ones reload from disk

# Generic questions about the bundled article, shown as buttons (the last one abstains).
EXAMPLES = (
    "Who is the new president of Kazakhstan?",
    "Which cities have refineries that Chinese companies modernized?",
    "How much direct investment came from China?",
    "What is the climate like in Kazakhstan?",
)
MAX_TURNS = 3                # earlier replies kept per chat session, for follow-up questions
