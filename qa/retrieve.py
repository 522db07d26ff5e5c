"""Hybrid retrieval: dense (FAISS) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

import numpy as np

from index.store import Index
from index.types import Hit

# Cormack et al. (2009): k = 60 damps the head of each list so that a passage
# ranked well by both retrievers beats one ranked first by a single one.
RRF_K = 60
# Each retriever ranks this many candidates before fusion (at least top_k).
POOL = 30


def retrieve(question: str, query_vector: np.ndarray, index: Index, *, top_k: int) -> list[Hit]:
    """The ``top_k`` passages for ``question``, best first.

    ``score`` is the fused score ``sum(1 / (RRF_K + rank))`` over the two
    rankings (ranks from 1); ``dense`` is the cosine similarity (always set)
    and ``lexical`` the BM25 score (None when the passage shares no term).
    """
    if top_k <= 0:
        raise ValueError(f"top_k must be > 0, got {top_k}")
    pool = max(POOL, top_k)
    dense = index.search(query_vector, pool)
    lexical = index.search_lexical(question, pool)
    fused: dict[int, float] = {}
    for ranking in (dense, lexical):
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.chunk.chunk_id] = fused.get(hit.chunk.chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    dense_score = {h.chunk.chunk_id: h.score for h in dense}
    lexical_score = {h.chunk.chunk_id: h.score for h in lexical}
    best = sorted(fused, key=lambda cid: (-fused[cid], cid))[:top_k]
    missing = [cid for cid in best if cid not in dense_score]
    if missing:  # found by BM25 only: still report its cosine similarity
        vectors = index.chunk_vectors(missing)
        dense_score.update(zip(missing, (vectors @ np.asarray(query_vector, np.float32)).tolist()))
    return [Hit(index.chunks[cid], fused[cid], dense=float(dense_score[cid]),
                lexical=lexical_score.get(cid)) for cid in best]
