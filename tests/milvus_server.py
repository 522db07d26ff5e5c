"""A ``milvus-lite server`` for the Milvus tests and the bench: started on
127.0.0.1 at a free port, waited for, stopped.

    python tests/milvus_server.py --data-dir DIR     # prints "URI PID", leaves it running

``.ci/run`` starts one this way for the whole test run and passes its URI in
``$DOCQA_MILVUS_URI``; tests that stop and restart a server (``tests/milvus``)
start their own with ``MilvusServer``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

URI_ENV = "DOCQA_MILVUS_URI"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def executable() -> str:
    """The ``milvus-lite`` command of this Python's environment."""
    beside = Path(sys.executable).with_name("milvus-lite")
    found = str(beside) if beside.exists() else shutil.which("milvus-lite")
    if not found:
        raise RuntimeError("no milvus-lite command: pip install -r requirements.txt")
    return found


def reachable(uri: str, timeout: float = 5.0) -> str | None:
    """None when a Milvus server answers at ``uri``, else why not (one line)."""
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, timeout=timeout)
        client.list_collections()
        client.close()
        return None
    except Exception as exc:   # noqa: BLE001
        return " ".join((str(exc) or type(exc).__name__).split())[:200]


class MilvusServer:
    """One ``milvus-lite server`` process over ``data_dir``; ``start`` waits
    until it answers, ``stop`` ends it (``kill``: at once, as a crash would)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0, *, detach: bool = False) -> "MilvusServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")
        self.process = subprocess.Popen(
            [executable(), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=detach)
        deadline = time.monotonic() + timeout
        why = "not started"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited with {self.process.returncode}; "
                                   f"see {log.name}")
            why = reachable(self.uri, timeout=2.0)
            if why is None:
                return self
            time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"milvus-lite server at {self.uri} did not answer in {timeout:.0f} s: {why}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def main() -> int:
    p = argparse.ArgumentParser(description="Start a milvus-lite server on 127.0.0.1 at a free "
                                            "port; print 'URI PID' once it answers.")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()
    try:
        server = MilvusServer(Path(args.data_dir)).start(args.timeout, detach=True)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(server.uri, server.process.pid, flush=True)
    os._exit(0)   # leave the server running


if __name__ == "__main__":
    sys.exit(main())
