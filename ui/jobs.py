"""Indexing jobs for the web UI, each in a worker process (``ui.worker``).

An ``Indexer`` runs uploads first come, first served, ``slots`` at a time.
Questions never wait on it: a job holds no lock that answering needs, and
its process runs at a lower priority with one torch thread. Each job can be
followed (``Job.status()``: its place in the queue, then the stage, the
count done and an estimate of the time left) and cancelled.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
STOP_GRACE_S = 5.0   # a cancelled worker is killed if it has not stopped by then


@dataclass(frozen=True)
class JobStatus:
    state: str                # queued, running, done, failed or cancelled
    ahead: int = 0            # jobs before this one (queued only)
    stage: str = ""           # e.g. "Embedding chunks"
    done: int | None = None   # items of the stage done, of ``total``
    total: int | None = None
    eta_s: float | None = None   # seconds left in this stage, from its rate so far
    elapsed_s: float = 0.0    # since the job started running
    error: str | None = None  # failed: the one-line reason


class Job:
    """One indexing job: ``paths`` (None: the bundled article) into ``index_dir``."""

    def __init__(self, job_id: str, key: str, paths: list[Path] | None, index_dir: Path,
                 max_file_bytes: int | None) -> None:
        self.id = job_id
        self.key = key
        self.paths = paths
        self.index_dir = Path(index_dir)
        self.max_file_bytes = max_file_bytes
        self.watchers = 1
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._state = QUEUED
        self._stage, self._done, self._total, self._rate = "", None, None, None
        self._started: float | None = None
        self._ended: float | None = None
        self._error: str | None = None
        self._proc: subprocess.Popen | None = None
        self._indexer: Indexer | None = None

    def status(self) -> JobStatus:
        with self._lock:
            ahead = self._indexer.ahead_of(self) if self._state == QUEUED and self._indexer else 0
            eta = None
            if self._rate and self._total is not None and self._done is not None:
                eta = max(0.0, (self._total - self._done) / self._rate)
            elapsed = 0.0
            if self._started is not None:
                elapsed = (self._ended or time.monotonic()) - self._started
            return JobStatus(self._state, ahead, self._stage, self._done, self._total, eta,
                             elapsed, self._error)

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the job finished (done, failed or cancelled) within ``timeout``."""
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def _finish(self, state: str, error: str | None = None) -> None:
        with self._lock:
            if self._state in FINISHED:
                return
            self._state, self._error = state, error
            self._ended = time.monotonic()
        self._finished.set()


class Indexer:
    """Runs ``Job``s in worker processes, ``slots`` at a time, in order."""

    def __init__(self, *, slots: int = 1, command: list[str] | None = None) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        # The worker's command line; tests swap in a stand-in.
        self.command = command if command is not None else [sys.executable, "-m", "ui.worker"]
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}
        self._active: dict[str, Job] = {}   # by key: queued or running, shared by every session
        self._ids = itertools.count(1)
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"docqa-indexer-{i}", daemon=True)
                         for i in range(slots)]
        for t in self._threads:
            t.start()

    def submit(self, key: str, paths: list[Path] | None, index_dir: Path, *,
               max_file_bytes: int | None) -> Job:
        """Queue the indexing of ``paths``; a job for the same ``key`` already
        queued or running is shared (and returned) instead."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the indexer is closed")
            job = self._active.get(key)
            if job is not None:
                job.watchers += 1
                return job
            job = Job(f"job-{next(self._ids)}", key, paths, index_dir, max_file_bytes)
            job._indexer = self
            self._jobs[job.id] = job
            self._active[key] = job
            self._queue.append(job)
            self._wake.notify()
            return job

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def ahead_of(self, job: Job) -> int:
        """Jobs that run before ``job``: those running, and those queued before it."""
        running = sum(1 for j in self._active.values() if j._state == RUNNING)
        try:
            return running + self._queue.index(job)
        except ValueError:
            return running

    def active_keys(self) -> set[str]:
        with self._lock:
            return set(self._active)

    def cancel(self, job: Job, *, wait: bool = False) -> None:
        """Stop watching ``job``; it is stopped once no session watches it.
        Its worker is asked to stop, and killed after ``STOP_GRACE_S``: in the
        background, unless ``wait``."""
        with self._lock:
            job.watchers -= 1
            if job.watchers > 0 or job.finished:
                return
            if job in self._queue:
                self._queue.remove(job)
            self._active.pop(job.key, None)
            proc = job._proc
        job._finish(CANCELLED)
        if proc is not None and wait:
            _stop(proc)
        elif proc is not None:   # the caller (a click) need not wait for it
            threading.Thread(target=_stop, args=(proc,), name=f"docqa-stop-{job.id}", daemon=True).start()

    def close(self) -> None:
        """Cancel every job and stop the worker threads (their processes too)."""
        with self._lock:
            self._closed = True
            jobs = list(self._active.values())
            self._wake.notify_all()
        for job in jobs:
            job.watchers = 1
            self.cancel(job, wait=True)   # no worker outlives the server

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                job._state, job._started = RUNNING, time.monotonic()
            try:
                self._work(job)
            except Exception as exc:  # noqa: BLE001 - a thread must not die: log it, fail the job
                log.exception("Indexing job %s failed", job.id)
                job._finish(FAILED, f"indexing failed ({type(exc).__name__}); the server log "
                                    "has the details")
            finally:
                with self._lock:
                    if self._active.get(job.key) is job:
                        del self._active[job.key]

    def _work(self, job: Job) -> None:
        argv = [*self.command, "--index-dir", str(job.index_dir)]
        if job.max_file_bytes is not None:
            argv += ["--max-file-bytes", str(job.max_file_bytes)]
        argv += ["--", *(str(p) for p in job.paths or [])]
        with self._lock:
            if job.finished:   # cancelled before it started
                return
            job._proc = proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", errors="replace", cwd=_project_root())
        errors: list[str] = []
        drain = threading.Thread(target=_keep_tail, args=(proc.stderr, errors), daemon=True)
        drain.start()
        result: dict = {}
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "stage" in msg:
                with job._lock:
                    job._stage, job._done = msg["stage"], msg.get("done")
                    job._total, job._rate = msg.get("total"), msg.get("rate")
            else:
                result = msg
        rc = proc.wait()
        drain.join(timeout=5)
        if job.finished:   # cancelled
            return
        if rc == 0 and result.get("ok"):
            job._finish(DONE)
        elif result.get("error"):
            job._finish(FAILED, result["error"])
        else:
            log.error("The indexing worker for %s exited with %s:\n%s", job.key, rc,
                      "".join(errors[-40:]))
            job._finish(FAILED, "indexing failed; the server log has the details")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _keep_tail(stream, lines: list[str], keep: int = 200) -> None:
    for line in stream:
        lines.append(line)
        if len(lines) > keep:
            del lines[: len(lines) - keep]


def _project_root() -> str:
    """The folder ``ui`` and ``qa`` are imported from, so ``-m ui.worker`` finds them."""
    return os.fspath(Path(__file__).resolve().parent.parent)
