"""Pages of mapped files that a process read at start-up and no longer needs.

Loading TensorFlow's C++ libraries makes 300 MB of their files resident in
the process (measured on the 2-core machine, 2026-12-05): all 83 MB of the
main library's dynamic symbol names, 11 MB of symbols, 24 MB of relocations,
read while the dynamic linker links it, and 107 MB of code that its static
initializers touched (op and kernel registrations spread over the whole
library). Once linked, most of them are clean pages of a file that nothing
reads again, yet they count in the process's resident set (RSS): 341 MB of
file pages at the peak of an `nlp-lstm translate` run where OpenNMT-py's
whole process, PyTorch's libraries included, kept 121 MB (docs/benchmarks.md,
"Where the memory was").

`release_file_pages` hands such pages back with `madvise(MADV_DONTNEED)`:
the process stops mapping them; they stay in the page cache, and a page read
again later comes back from it (a minor page fault, no disk read). Only pages
that cannot hold anything of the process's own are released: mappings of a
regular file that are private, not writable and hold no copied-on-write
page (a relocated read-only section does: it is skipped), so that what the
process reads afterwards is what it read before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re

# Linux's madvise advice (asm-generic/mman-common.h).
MADV_DONTNEED = 4

SMAPS = "/proc/self/smaps"

# A mapping's first line: address range, permissions, offset, device, inode, path.
_HEADER = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$", re.MULTILINE
)
_FIELD = re.compile(r"^(Rss|Anonymous):\s+(\d+) kB", re.MULTILINE)


def _madvise():
    """libc's `madvise`, or None where there is none (not Linux)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    library = ctypes.CDLL(name, use_errno=True)
    if not hasattr(library, "madvise"):
        return None
    function = library.madvise
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def releasable_mappings(smaps: str, paths=None) -> list[tuple[int, int, int]]:
    """`(start, end, resident bytes)` of the mappings in `smaps` (the text of
    `/proc/PID/smaps`) whose resident pages can be released: private, not
    writable, of a regular file (an inode, a path, not `(deleted)` or a
    device), no anonymous (copied-on-write) page, something resident. With
    `paths`, only files whose path contains one of them."""
    headers = list(_HEADER.finditer(smaps))
    found = []
    for header, following in zip(headers, headers[1:] + [None]):
        start, end, permissions, inode, path = header.groups()
        if permissions[1] == "w" or permissions[3] != "p" or inode == "0":
            continue
        if not path.startswith("/") or path.startswith("/dev/") or path.endswith(
            "(deleted)"
        ):
            continue
        if paths is not None and not any(part in path for part in paths):
            continue
        body = smaps[header.end() : following.start() if following else len(smaps)]
        fields = dict(_FIELD.findall(body))
        if "Rss" not in fields or "Anonymous" not in fields:
            continue  # a kernel without these fields: leave it
        if int(fields["Anonymous"]) or not int(fields["Rss"]):
            continue
        found.append((int(start, 16), int(end, 16), int(fields["Rss"]) * 1024))
    return found


def release_file_pages(paths=None) -> int:
    """Releases the resident pages of this process's read-only, unmodified
    file mappings (`releasable_mappings`; with `paths`, of those files only);
    returns how many bytes were resident in what it released. 0 where the
    system has no `/proc/self/smaps` or no `madvise` (nothing changes)."""
    madvise = _madvise()
    if madvise is None or not os.path.exists(SMAPS):
        return 0
    try:
        with open(SMAPS) as stream:
            smaps = stream.read()
    except OSError:
        return 0
    released = 0
    for start, end, resident in releasable_mappings(smaps, paths):
        if madvise(start, end - start, MADV_DONTNEED) == 0:
            released += resident
    return released
