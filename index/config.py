"""Build settings of an index. They are written to the manifest, and a
change to any of them makes the next load rebuild the index."""

from __future__ import annotations

from index.errors import InputError

from dataclasses import asdict, dataclass


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
    # Dense search: exact (IndexFlatIP) below ``ann_min_chunks`` chunks, HNSW
    # from there on. Measured on this 2-core machine (README, "Performance"):
    # one exact search costs ~0.07 ms per 1,000 chunks (0.6 ms at 8,700,
    # 3-7 ms at 50,000). ``hnsw_m``: links per node; ``hnsw_ef_*``: candidate
    # lists when building and searching. On the 50,002-chunk benchmark corpus,
    # recall@10 against exact search (240 queries) was 0.950 with M 32 /
    # efConstruction 80 / efSearch 128, 0.995 with 32/200/256, and 0.999 with
    # 48/300/256 (search 1.3 ms, graph built in 34 s): the defaults.
    ann_min_chunks: int = 20_000
    hnsw_m: int = 48
    hnsw_ef_construction: int = 300
    hnsw_ef_search: int = 256

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise InputError(f"chunk_size must be > 0, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise InputError(
                f"chunk_overlap must be in [0, chunk_size), got {self.chunk_overlap}"
            )
        for name in ("ann_min_chunks", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_search"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)
