"""The C heap (glibc's `malloc`) of the commands that translate or tag.

glibc's `malloc` serves a block above its mmap threshold (128 KiB at first)
with its own `mmap`, returned to the system by `free`. But each time such a
block is freed, glibc raises the threshold to the block's size (up to 32 MiB),
so that from then on blocks of that size come from the heap, which keeps what
they leave free. LiteRT allocates and frees tensors of several MiB on every
call of a batch signature (a beam search's `(rows, vocabulary)` scores, with
sources of every length): a beam search of 3,000 sentences on two
interpreters peaked at 522-605 MB (int8) and 788-806 MB (float32), against
283-305 and 408-428 MB with the threshold fixed (README, "Second sitting"
under Benchmarks). `keep_large_blocks_off_the_heap` fixes it for the process:
the commands that run LiteRT call it first; a program that runs
`TFLiteTranslator` itself can too. `limit_arenas` caps the heaps that
threads allocate from (the commands that run a SavedModel call it).
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# Tensors above this size get their own mapping: the vocabulary-wide ones of a
# search (a row of 8,000 scores is 32 KB), not the per-step small ones.
MMAP_THRESHOLD = 4 << 20


def _glibc():
    """glibc, or None where the C library is another (macOS, musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    library = ctypes.CDLL(name)
    if not hasattr(library, "mallopt") or not hasattr(library, "gnu_get_libc_version"):
        return None
    return library


def keep_large_blocks_off_the_heap(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fixes glibc's mmap threshold at `threshold` bytes for this process
    (which also stops its upward adjustment), so that freed large blocks go
    back to the system. True when set; False where the C library is not
    glibc (nothing changes)."""
    library = _glibc()
    if library is None:
        return False
    return bool(library.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(threshold)))


def limit_arenas(count: int) -> bool:
    """Lets glibc's `malloc` keep at most `count` arenas (heaps that threads
    allocate from; by default up to eight per core), for the threads that
    allocate from now on: fewer heaps keep fewer freed blocks resident. On
    the 2-core machine (2026-12-05, docs/benchmarks.md, "Where the memory
    was") two arenas took 3-32 MB off the peaks of two-thread `nlp-lstm
    translate` runs (greedy and beam, float32 and bfloat16; about 20 MB off
    a bfloat16 beam search), at the same speed. True when set; False where
    the C library is not glibc (nothing changes)."""
    library = _glibc()
    if library is None:
        return False
    return bool(library.mallopt(M_ARENA_MAX, ctypes.c_int(max(1, count))))
