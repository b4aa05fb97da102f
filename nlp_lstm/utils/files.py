"""Atomic file and directory writes: a crash never leaves half an artifact."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile

import psutil


def _temporary_prefix(path: str) -> str:
    return f".tmp-{os.path.basename(path)}."


def remove_abandoned_temporaries(path: str) -> list[str]:
    """Removes the temporary files that writers of `path` killed midway left.

    They are named `.tmp-<name>.<pid>.<random>`; those of a live process are
    kept (it may still be writing).
    """

    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temporary_prefix(path)
    removed = []
    for name in os.listdir(directory):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(directory, name))
                removed.append(name)
    return removed


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it into place.

    A crash at any moment leaves either the previous file or the new one,
    never a partial one; temporaries of writers that were killed are removed
    on the next write of the same path.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_abandoned_temporaries(path)
    handle, temporary = tempfile.mkstemp(
        dir=directory, prefix=f"{_temporary_prefix(path)}{os.getpid()}."
    )
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


def atomic_write_with(path: str, write) -> None:
    """Calls `write(temporary_path)` (e.g. `model.save_weights`), then renames
    the file into place; a failed write leaves the previous file."""
    root, extension = os.path.splitext(path)
    # Keep the extension: writers such as Keras check it.
    temporary = f"{root}.tmp-{os.getpid()}{extension}"
    if path.endswith(".weights.h5"):
        temporary = f"{path[: -len('.weights.h5')]}.tmp-{os.getpid()}.weights.h5"
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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
