"""The search-backend interface: what ``qa/`` asks of wherever the chunks live.

Two backends implement it:

- ``index.search.Index``, the embedded one (FAISS + bm25s in a folder; the
  default), whose ``reader_view`` is the index itself;
- ``index.milvus.MilvusIndex``, a Milvus collection, whose chunks carry
  their sentences and analysis (``index.payload``), so any process that can
  reach the server reads answers from what it returns.

Writing differs: the embedded index is built whole (``index.build``); a
Milvus collection is written row by row (``index.milvus_upload.add_chunks``:
each chunk with its vector and its pack) by ``index.milvus_upload.sync``, which uploads
what an embedded build holds and the collection lacks.

Retrieval (``qa.retrieve``) fuses the two rankings with the same
reciprocal-rank code for both, so they rank alike wherever their hits agree.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from index.types import Chunk, Hit


class SearchBackend(Protocol):
    model_name: str   # the embedding model the chunk vectors come from
    dim: int

    def dense_ranking(self, query_vector: np.ndarray, top_k: int) -> list[tuple[int, float]]:
        """``(chunk_id, cosine)`` of the ``top_k`` nearest chunks, best first."""

    def lexical_ranking(self, query: str, top_k: int) -> list[tuple[int, float]]:
        """``(chunk_id, BM25 score)`` of the ``top_k`` best chunks, best first;
        chunks sharing no term with ``query`` are left out."""

    def chunk_vectors(self, chunk_ids) -> np.ndarray:
        """The stored vectors of ``chunk_ids``, one float32 row each."""

    def fetch_chunks(self, chunk_ids) -> list[Chunk]:
        """The chunks (payloads) ``chunk_ids``, in that order."""

    def reader_view(self, hits: list[Hit], words: list[str], terms: list[str]):
        """What ``qa.read`` reads for ``hits`` (sentences, their vectors and
        analysis, documents); ``words``: the question's words, whose stored
        vectors it may look up; ``terms``: the question's terms, whose sentence
        frequencies it must hold."""
