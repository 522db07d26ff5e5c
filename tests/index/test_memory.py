"""index.memory: pages of a memory-mapped file dropped from the process keep
their data (written ones included), and a plain array is left alone."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from index import memory


def resident_kb() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))
    except (OSError, StopIteration):
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc are Linux's")
def test_released_pages_keep_what_was_written_and_leave_the_rss(tmp_path):
    path = tmp_path / "v.npy"
    rng = np.random.default_rng(0)
    values = rng.standard_normal((8192, 512)).astype(np.float32)   # 16 MB
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=values.shape)
    out[:] = values
    before = resident_kb()
    assert memory.release(out[100:])   # a view finds its mapping
    after = resident_kb()
    # Not flushed first: the mapping is shared, so the written pages are the file's.
    np.testing.assert_array_equal(out, values)
    out.flush()
    del out
    np.testing.assert_array_equal(np.load(path), values)
    assert before is None or before - after > 8_000, (before, after)


def test_a_plain_array_is_not_released():
    assert memory.release(np.zeros(4)) is False
