"""Python child processes for the stages of a large build that hold memory no
library gives back (the embedding model, the parser): the child's memory is
the system's again when it exits.

A child runs ``python -m MODULE ARGS...`` with this checkout's ``index``
package importable, in a session of its own: Ctrl+C reaches the build process,
which stops the child (``stop_child``) rather than having it killed in the
middle of a reply.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def start_child(module: str, *args: str) -> subprocess.Popen:
    """Start ``python -m module args...`` with pipes to its standard input and
    output (standard error is shared with this process)."""
    root = str(Path(__file__).resolve().parents[1])   # where the ``index`` package lives
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    # glibc serves blocks of 128 kB or more (a batch's tensors) with their own
    # mappings, given back when freed, instead of raising that limit as it goes
    # and keeping them in its heap: embedding 6,000 docstring lines in batches
    # of 256 peaked at 664 MB instead of 802, in the same time.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
    return subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, start_new_session=True)


def stop_child(proc: subprocess.Popen) -> int | None:
    """Close both pipes (a child exits at the end of its input, or when what
    it writes has no reader); kill it if it does not. Returns its exit code."""
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def private_stdout():
    """In a child: a binary file on the pipe to the parent, with file
    descriptor 1 pointed at standard error instead, so that anything a
    library prints does not mix with what the child sends."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return out
