"""Atomic file and directory writes: a crash never leaves half an artifact."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def atomic_write_json(path: str, value) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str):
    """Yields a temporary directory that is renamed to `path` only on success.

    The temporary directory is a hidden sibling of `path`, so that a polling
    reader (TF Serving watches numeric version folders) never sees it.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(path)}-")
    try:
        yield temporary
        if os.path.exists(path):
            raise FileExistsError(f"{path} already exists; refusing to overwrite it")
        os.rename(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
