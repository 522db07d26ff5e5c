"""The sentence parse of a large build, in a child process.

spaCy's libraries and the heap a parse leaves behind stay with a process
until it exits: after parsing the bench's 784,562 sentences the build process
held ~900 MB, beside which the lemma vectors were then embedded (in a second
child, ``index.embed_worker``), for a peak of 1.6 GB over the two. Parsed
here, that memory is the system's again before the lemmas are embedded.

The child runs ``python -m index.analysis_worker TABLES SPILL``: it reads the
distinct sentence texts from the tables the build has written
(``index.tables.distinct_sentence_texts``), parses and analyses them
(``index.analysis.parse_layers``) writing every array to ``SPILL``, writes
``layers.json`` last, and exits. On its standard output it sends lines: a
number of sentences done, ``ok`` at the end, or ``error`` and a JSON
object saying what failed.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from index.child import private_stdout, start_child, stop_child

log = logging.getLogger(__name__)


class AnalysisWorkerError(RuntimeError):
    """The parse process failed or went away."""


def parse_apart(tables: Path, spill: Path, *, progress: bool = False):
    """``index.analysis.parse_layers`` over the distinct sentence texts in
    ``tables``, in a child process; returns its ``Layers``, mapped from
    ``spill``. Raises ``AnalysisWorkerError`` with the child's message when it
    fails."""
    import numpy as np
    from tqdm.auto import tqdm

    from index.analysis import Layers
    from index.tables import SENTENCES

    rows = np.load(Path(tables) / SENTENCES, mmap_mode="r", allow_pickle=False)
    total = int(rows["text_row"].max()) + 1 if len(rows) else 0
    del rows
    log.debug("Starting the parse process over %s", tables)
    proc = start_child("index.analysis_worker", str(tables), str(spill))
    proc.stdin.close()
    last = ""
    try:
        with tqdm(total=total, desc="Analysing sentences", unit="sentence", leave=False,
                  disable=not progress) as bar:
            for line in proc.stdout:
                last = line.decode("utf-8", "replace").strip()
                if last.isdigit():
                    bar.update(int(last))
    finally:
        code = stop_child(proc)
    if last.startswith("error "):
        error = json.loads(last[len("error "):])
        if error.get("errno") is not None:   # a full or read-only disk: the caller says so
            raise OSError(error["errno"], error["message"], error.get("filename"))
        raise AnalysisWorkerError(f"the parse process failed: {error['message']}")
    if code != 0 or last != "ok":
        raise AnalysisWorkerError(f"the parse process stopped (exit code {code})")
    return Layers.read(spill)


def main(tables: str, spill: str) -> int:
    from index.analysis import parse_layers
    from index.tables import distinct_sentence_texts

    out = private_stdout()

    def send(line: str) -> None:
        out.write(line.encode("utf-8") + b"\n")
        out.flush()

    try:
        texts = distinct_sentence_texts(Path(tables))
        layers = parse_layers(texts, spill=Path(spill), report=lambda n: send(str(n)))
        del texts
        layers.write(Path(spill))
    except BrokenPipeError:   # the parent went away: nobody to tell
        return 1
    except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
        if isinstance(exc, OSError) and exc.errno is not None:
            error = {"errno": exc.errno, "message": exc.strerror, "filename": exc.filename}
        else:
            error = {"message": " ".join(f"{type(exc).__name__}: {exc}".split())}
        try:
            send("error " + json.dumps(error))
        except OSError:
            pass
        return 1
    send("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
