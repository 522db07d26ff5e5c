"""Hybrid retrieval: dense (FAISS) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from index.backend import SearchBackend
from index.types import Hit

# Cormack et al. (2009): k = 60 damps the head of each list so that a passage
# ranked well by both retrievers beats one ranked first by a single one.
RRF_K = 60
# Each retriever ranks this many candidates before fusion (at least top_k).
POOL = 30
# Passages ranked over every document before keeping those of ``within`` (the
# question's own article, when eval.train_reader fits the reader): a deeper
# pool, so that a few documents among thousands still get their passages.
WITHIN_POOL = 100


def retrieve(question: str, query_vector: np.ndarray, index: SearchBackend, *, top_k: int,
             within: Collection[str] | None = None) -> list[Hit]:
    """The ``top_k`` passages for ``question``, best first.

    ``score`` is the fused score ``sum(1 / (RRF_K + rank))`` over the two
    rankings (ranks from 1); ``dense`` is the cosine similarity (always set)
    and ``lexical`` the BM25 score (None when the passage shares no term).

    ``within``: doc_ids; then the passages of every document are ranked to
    ``max(WITHIN_POOL, top_k)`` and the first ``top_k`` of those documents'
    are returned (fewer, or none, when that ranking holds fewer).

    >>> hits = retrieve(question, vector, index, top_k=3, within={"a.txt"})
    >>> {h.chunk.doc_id for h in hits} <= {"a.txt"}
    True
    """
    if top_k <= 0:
        raise ValueError(f"top_k must be > 0, got {top_k}")
    if within is not None:
        ranking = retrieve(question, query_vector, index, top_k=max(WITHIN_POOL, top_k))
        return [h for h in ranking if h.chunk.doc_id in within][:top_k]
    pool = pool_size(top_k)
    # Rankings of chunk ids: a Chunk (its text decoded) is made for the top_k alone.
    dense = index.dense_ranking(query_vector, pool)
    lexical = index.lexical_ranking(question, pool)
    fused: dict[int, float] = {}
    for ranking in (dense, lexical):
        for rank, (cid, _) in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    dense_score = dict(dense)
    lexical_score = dict(lexical)
    best = sorted(fused, key=lambda cid: (-fused[cid], cid))[:top_k]
    missing = [cid for cid in best if cid not in dense_score]
    if missing:  # found by BM25 only: still report its cosine similarity
        vectors = index.chunk_vectors(missing)
        dense_score.update(zip(missing, (vectors @ np.asarray(query_vector, np.float32)).tolist()))
    return [Hit(chunk, fused[cid], dense=float(dense_score[cid]), lexical=lexical_score.get(cid))
            for cid, chunk in zip(best, index.fetch_chunks(best))]


def pool_size(top_k: int, *, within: Collection[str] | None = None) -> int:
    """How many passages each retriever ranks before fusion for ``retrieve(...,
    top_k=top_k, within=within)``: two calls with the same pool rank alike, so
    the shorter one's hits are the first of the longer one's."""
    return max(POOL, WITHIN_POOL, top_k) if within is not None else max(POOL, top_k)
