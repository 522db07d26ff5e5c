"""The web UI's settings, defined once (cheap to import: no gradio)."""

DEFAULT_HOST = "127.0.0.1"    # this machine only
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 10    # per uploaded file
DEFAULT_MAX_STORAGE_MB = 500  # uploads and their indexes on disk; least recently used sets go first
MAX_UPLOAD_FILES = 20         # files in one upload
MAX_REQUEST_BYTES = 1_000_000  # body of any request but a file upload (a question is <= 1,000 characters)
UPLOAD_SUFFIXES = (".pdf", ".html", ".htm", ".docx", ".epub", ".txt", ".md", ".markdown")  # what QA.load reads
PAGE_SCALE = 1.5              # pixels per PDF point of a cited page's picture (108 dpi)
ASK_CONCURRENCY = 2           # questions answered at once (2 cores; torch uses 1 thread each)
INDEX_CONCURRENCY = 1         # uploads indexed at once, each in its own worker process
UPLOAD_WATCHERS = 16          # sessions following their upload's progress at once (cheap: they poll)
API_SESSION_TTL_S = 2.0       # an /ask call's Gradio session is dropped this long after it ends
POLL_SECONDS = 0.5            # how often an upload's progress is refreshed in the page
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
