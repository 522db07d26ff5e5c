"""``python -m ui.worker``: index documents in a process of its own, for the web UI.

    python -m ui.worker --index-dir DIR [--max-file-bytes N] [PATH ...]

The server (``ui.jobs.Indexer``) runs one of these per upload, so indexing
never holds the lock, the GIL or the memory that answering needs. No PATH
means the bundled article. It prints one JSON object per line on stdout:

    {"stage": "Embedding chunks", "done": 256, "total": 900, "rate": 41.2}
    {"ok": true}                       # the index is on disk, up to date
    {"error": "'a.txt' is empty"}      # a user error, one line

and exits 0 after ``ok``, 2 after ``error``, 1 on anything else (details on
stderr). It runs at a lower CPU priority than the server, with one torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

_out = sys.stdout


def report(**fields) -> None:
    _out.write(json.dumps(fields, ensure_ascii=True) + "\n")
    _out.flush()


def _report_bars() -> None:
    """Make every tqdm bar the index layer opens (``tqdm.auto.tqdm``) report
    its progress as JSON lines, at most every half second per bar."""
    import tqdm.auto
    import tqdm.std

    class Reporting(tqdm.std.tqdm):
        _sent = 0.0   # when this bar last reported

        def __init__(self, *args, **kwargs):
            kwargs.update(file=open(os.devnull, "w"), mininterval=0.5)   # noqa: SIM115
            super().__init__(*args, **kwargs)
            self._send(force=True)

        def _send(self, force=False):
            now = time.monotonic()
            if self.disable or (not force and now - self._sent < 0.5):
                return
            self._sent = now
            rate = self.format_dict.get("rate")
            report(stage=self.desc or "Working", done=int(self.n), total=self.total,
                   rate=round(rate, 3) if rate else None)

        def display(self, *args, **kwargs):
            self._send()
            return True

        def close(self):
            if not self.disable and self.total is not None:
                self._send(force=True)
            super().close()

    tqdm.auto.tqdm = Reporting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.worker", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--max-file-bytes", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        os.nice(10)   # answers first: questions must not wait on an upload
    except OSError:
        pass
    os.environ.setdefault("QA_TORCH_THREADS", "1")
    # stdout carries the protocol only: anything else a library prints goes to stderr.
    sys.stdout = sys.stderr
    report(stage="Loading the language model")
    from qa.cli import setup_logging

    setup_logging(quiet=True)
    from index.embed import Embedder
    from qa import QA, USER_ERRORS, IndexConfig

    try:
        embedder = Embedder(IndexConfig().model_name, threads=int(os.environ["QA_TORCH_THREADS"]))
        embedder.embed_texts(["warm up"])   # load the model now, so the bars show real work
        report(stage="Reading the files")
        _report_bars()
        QA.load(args.paths or None, index_dir=args.index_dir, max_file_bytes=args.max_file_bytes,
                embedder=embedder, encoder=embedder, progress=True)
    except USER_ERRORS as exc:
        report(error=str(exc))
        return 2
    report(ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
