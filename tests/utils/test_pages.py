"""`utils.pages`: which file mappings can give their pages back, and that
giving them back keeps what the process reads."""

import ctypes
import mmap
import os
import sys

import pytest

from nlp_lstm.utils import pages

SMAPS = """\
00400000-00452000 r--p 00000000 08:02 173521 /usr/lib/libclean.so
Rss:                 100 kB
Anonymous:             0 kB
00452000-00460000 r-xp 00052000 08:02 173521 /usr/lib/libclean.so
Rss:                  64 kB
Anonymous:             0 kB
00460000-00470000 r--p 00060000 08:02 173521 /usr/lib/libclean.so
Rss:                  64 kB
Anonymous:            64 kB
00470000-00480000 rw-p 00070000 08:02 173521 /usr/lib/libclean.so
Rss:                  64 kB
Anonymous:             0 kB
00480000-00490000 r--s 00000000 08:02 173522 /data/shared.bin
Rss:                  64 kB
Anonymous:             0 kB
00490000-004a0000 r--p 00000000 00:00 0
Rss:                  64 kB
Anonymous:             0 kB
004a0000-004b0000 r--p 00000000 08:02 173523 /tmp/gone.so (deleted)
Rss:                  64 kB
Anonymous:             0 kB
004b0000-004c0000 r--p 00000000 00:05 12 /dev/zero
Rss:                  64 kB
Anonymous:             0 kB
004c0000-004d0000 r-xp 00000000 08:02 173524 /opt/my lib/libspace.so
Rss:                  12 kB
Anonymous:             0 kB
004d0000-004e0000 r-xp 00000000 08:02 173525 /usr/lib/libcold.so
Rss:                   0 kB
Anonymous:             0 kB
7ffd0000-7ffe0000 r-xp 00000000 00:00 0 [vdso]
Rss:                   4 kB
Anonymous:             0 kB
"""


def test_only_clean_read_only_private_file_mappings_are_releasable():
    assert pages.releasable_mappings(SMAPS) == [
        (0x400000, 0x452000, 100 * 1024),
        (0x452000, 0x460000, 64 * 1024),
        (0x4C0000, 0x4D0000, 12 * 1024),
    ]
    assert pages.releasable_mappings(SMAPS, paths=["libspace"]) == [
        (0x4C0000, 0x4D0000, 12 * 1024)
    ]
    # A kernel whose smaps lacks the fields: nothing is taken for clean.
    assert pages.releasable_mappings(SMAPS.replace("Anonymous", "Other")) == []


def _resident(path: str) -> int:
    with open(pages.SMAPS) as stream:
        smaps = stream.read()
    blocks = smaps.split(path)[1:]
    return sum(int(block.split("Rss:")[1].split()[0]) for block in blocks) * 1024


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or pages._madvise() is None,
    reason="Linux's smaps and madvise",
)
def test_released_pages_read_back_the_same_and_copied_pages_are_kept(tmp_path):
    size = 4 << 20
    content = os.urandom(size)
    clean_path, copied_path = tmp_path / "clean.bin", tmp_path / "copied.bin"
    clean_path.write_bytes(content)
    copied_path.write_bytes(content)
    with open(clean_path, "rb") as clean_file, open(copied_path, "r+b") as copied_file:
        clean = mmap.mmap(
            clean_file.fileno(), size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ
        )
        copied = mmap.mmap(
            copied_file.fileno(),
            size,
            flags=mmap.MAP_PRIVATE,
            prot=mmap.PROT_READ | mmap.PROT_WRITE,
        )
    # The process's own bytes in a private mapping, then made read-only (as
    # the loader does with a relocated section): releasing them would lose
    # them (the file's bytes would come back).
    copied[: 1 << 20] = b"\x01" * (1 << 20)
    address = ctypes.addressof(ctypes.c_char.from_buffer(copied))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(address, size, mmap.PROT_READ) == 0
    assert clean[:] == content  # every page read, so resident
    assert _resident(str(clean_path)) >= size

    released = pages.release_file_pages(paths=[str(tmp_path)])

    assert released >= size
    assert _resident(str(clean_path)) < size // 8
    assert clean[:] == content
    assert copied[: 1 << 20] == b"\x01" * (1 << 20)
    assert copied[1 << 20 :] == content[1 << 20 :]
    assert pages.release_file_pages(paths=[str(tmp_path / "nothing")]) == 0
    clean.close()
    copied.close()


def test_a_system_without_madvise_changes_nothing(monkeypatch):
    monkeypatch.setattr(pages, "_madvise", lambda: None)
    assert pages.release_file_pages() == 0
