"""Query-time defaults, defined once (build settings live in index.config.IndexConfig)."""

DEFAULT_TOP_K = 5           # passages retrieved and read per question
MAX_QUESTION_CHARS = 1000   # longer questions are refused with a clear message
# Larger source files are refused (QA.load(max_file_bytes=...), --max-file-mb,
# $QA_MAX_FILE_MB at the command lines): indexing 50 MB of text took over an
# hour and 1.1-1.4 GB of memory on the 2-core reference machine.
DEFAULT_MAX_FILE_MB = 20
MB = 1_000_000
DEFAULT_MAX_FILE_BYTES = DEFAULT_MAX_FILE_MB * MB
# Where passages are searched (QA.load(backend=...), --backend): the index folder's FAISS
# and BM25, or a Milvus collection (index.milvus).
BACKENDS = ("embedded", "milvus")
