"""Build settings of an index. They are written to the manifest, and a
change to any of them makes the next load rebuild the index."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Bump when the on-disk layout or the meaning of a stored field changes.
FORMAT_VERSION = 1

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class IndexConfig:
    model_name: str = DEFAULT_MODEL
    # Characters, not tokens: MiniLM reads at most 256 word pieces (~1,000
    # characters of English), so an 800-character chunk is embedded whole.
    chunk_size: int = 800
    chunk_overlap: int = 120
    # BM25 with Lucene's IDF, log(1 + (N - n + 0.5) / (n + 0.5)), which stays
    # positive even when a term is in every chunk of a one-document corpus.
    bm25_method: str = "lucene"
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    # Version of our own tokenizer / sentence splitter rules (index/lexical.py,
    # index/sentences.py): bump when they change, so indexes get rebuilt.
    text_rules: int = 2

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError(f"chunk_size must be > 0, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError(
                f"chunk_overlap must be in [0, chunk_size), got {self.chunk_overlap}"
            )

    def to_dict(self) -> dict:
        return asdict(self)
