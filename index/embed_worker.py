"""The embedding model in a child process, for large builds.

Importing torch and sentence-transformers costs a process ~410 MB, and the
model's working memory more, none of which is given back when the model is
dropped: a Python process cannot unload a library. A large build embeds (the
texts), parses (spaCy), embeds again (the lemmas) and then builds FAISS and
BM25, all beside its own lists of every chunk and sentence. With the model in
a child process, its memory is gone when the child exits between the stages,
and the build process never imports torch.

``WorkerEmbedder`` has ``Embedder``'s interface (``name``, ``threads``,
``batch_size``, ``dim``, ``embed_texts``, ``release``). The child starts on
first use and runs ``python -m index.embed_worker``: requests and replies are
pickled over its stdin and stdout (a batch of 64 sentences sends ~5 kB and
gets 98 kB back). ``release()`` ends the child; the next call starts another.
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import weakref

import numpy as np

from index import memory
from index.child import private_stdout, start_child, stop_child
from index.embed import BATCH_SIZE, DEFAULT_THREADS, Embedder, batches_by_length

log = logging.getLogger(__name__)

REQUEST_TEXTS = 2048   # texts sent to the child per request


class EmbedWorkerError(RuntimeError):
    """The child process failed or went away."""


class WorkerEmbedder:
    """``Embedder``, with the model in a child process (see the module doc)."""

    def __init__(self, model_name: str, *, threads: int | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        self.name = model_name
        self.threads = threads if threads is not None else DEFAULT_THREADS
        self.batch_size = batch_size
        self._proc: subprocess.Popen | None = None
        self._dim: int | None = None

    @classmethod
    def like(cls, embedder: Embedder) -> "WorkerEmbedder":
        return cls(embedder.name, threads=embedder.threads, batch_size=embedder.batch_size)

    def __repr__(self) -> str:
        return f"WorkerEmbedder({self.name!r}, threads={self.threads})"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._call("dim"))
        return self._dim

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """As ``Embedder.embed_texts``: the same model, the same batches
        (``index.embed.batches_by_length``, worked out here), so the same
        vectors. The batches go to the child ``REQUEST_TEXTS`` texts at a time,
        so neither process holds more than that many texts' vectors twice
        (127,088 lemmas in one call are 195 MB of vectors)."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not a string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = None
        group: list[list[int]] = []
        batches = batches_by_length(texts, self.batch_size)
        for k, rows in enumerate(batches):
            group.append(rows)
            if k + 1 < len(batches) and sum(map(len, group)) + len(batches[k + 1]) <= REQUEST_TEXTS:
                continue
            vectors = self._call("embed", [[texts[i] for i in rows] for rows in group])
            if out is None:
                out = np.empty((len(texts), vectors[0].shape[1]), dtype=np.float32)
            for rows, block in zip(group, vectors):
                out[rows] = block
            group = []
        return out

    def release(self) -> None:
        """End the child process: all of its memory goes back to the system."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_child(proc)

    def _call(self, *request):
        if self._proc is None or self._proc.poll() is not None:
            self._proc = _start(self.name, self.threads, self.batch_size)
            weakref.finalize(self, stop_child, self._proc)
        proc = self._proc
        try:
            pickle.dump(request, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
            status, value = pickle.load(proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self._proc = None
            code = stop_child(proc)
            raise EmbedWorkerError(f"the embedding process stopped (exit code {code}): "
                                   f"{type(exc).__name__}: {exc}") from None
        if status != "ok":
            raise EmbedWorkerError(f"the embedding process failed: {value}")
        return value


def _start(name: str, threads: int, batch_size: int) -> subprocess.Popen:
    log.debug("Starting the embedding process for %s", name)
    return start_child("index.embed_worker", name, str(threads), str(batch_size))


def serve(name: str, threads: int, batch_size: int) -> None:
    """The child's loop: one reply per request, until its input ends."""
    replies = private_stdout()   # the pipe to the parent gets our replies only
    requests = sys.stdin.buffer
    embedder = Embedder(name, threads=threads, batch_size=batch_size)
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            if request[0] == "dim":
                reply = ("ok", embedder.dim)
            elif request[0] == "embed":   # batches, each embedded as one
                reply = ("ok", [embedder.embed_texts(batch) for batch in request[1]])
            else:
                reply = ("error", f"unknown request {request[0]!r}")
        except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
            replies.flush()
        except BrokenPipeError:   # the parent stopped reading: it is done with us
            return
        del request, reply
        memory.trim()   # the batch's tensors, back to the system (index.memory)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
