"""`utils.heap`: freed large blocks go back to the system once the mmap
threshold is fixed (glibc), in a fresh process each (mallopt is process-wide)."""

import subprocess
import sys

import pytest

from nlp_lstm.utils import heap

SCENARIO = r"""
import ctypes, ctypes.util, sys
from nlp_lstm.utils.heap import keep_large_blocks_off_the_heap

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
MB = 1 << 20


def resident_mb():
    with open("/proc/self/status") as stream:
        return int(stream.read().split("VmRSS:")[1].split()[0]) // 1024


def touched(size):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    return block


if sys.argv[1] == "fixed":
    assert keep_large_blocks_off_the_heap()
# What LiteRT does call after call: a large tensor freed (glibc then raises
# its threshold to that size), then others allocated, something small above
# them, and the large ones freed.
libc.free(touched(30 * MB))
blocks = [touched(20 * MB) for _ in range(4)]
small = touched(64 * 1024)
before = resident_mb()
for block in blocks:
    libc.free(block)
print(before - resident_mb())
"""


def returned_mb(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO, mode], capture_output=True, text=True,
        check=True, timeout=60,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or heap._glibc() is None,
    reason="the mmap threshold is glibc's",
)
def test_freed_large_blocks_go_back_to_the_system():
    # glibc's own behaviour, which the fix is for: the 80 MB stay resident.
    assert returned_mb("default") < 20
    assert returned_mb("fixed") >= 75


def test_another_c_library_changes_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    assert heap.keep_large_blocks_off_the_heap() is False


ARENAS = r"""
import ctypes, ctypes.util, sys, threading
from nlp_lstm.utils.heap import limit_arenas

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]


def heaps():
    with open("/proc/self/smaps") as stream:
        text = stream.read()
    # A thread arena reserves 64 MiB at a 64 MiB boundary: what it has not
    # used yet is an inaccessible mapping that ends on the next boundary.
    count = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[1] == "---p" and fields[4] == "0":
            start, end = (int(x, 16) for x in fields[0].split("-"))
            count += end % (64 << 20) == 0 and end - start >= 32 << 20
    return count


if sys.argv[1] == "limited":
    assert limit_arenas(1)
before = heaps()
ready, go = threading.Barrier(9), threading.Event()


def allocate():
    libc.malloc(1024)  # the thread's first allocation picks its arena
    ready.wait()
    go.wait()


threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
ready.wait()
print(heaps() - before)
go.set()
for thread in threads:
    thread.join()
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or heap._glibc() is None,
    reason="arenas are glibc's",
)
def test_limited_arenas_stop_threads_from_making_heaps_of_their_own():
    def new_heaps(mode):
        done = subprocess.run(
            [sys.executable, "-c", ARENAS, mode], capture_output=True, text=True,
            check=True, timeout=60,
        )
        return int(done.stdout.split()[-1])

    # glibc's own behaviour: threads that allocate at once get arenas.
    assert new_heaps("default") >= 2
    assert new_heaps("limited") == 0


def test_another_c_library_limits_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    assert heap.limit_arenas(2) is False
