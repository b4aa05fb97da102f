"""Atomic file and directory writes: a crash never leaves half an artifact."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile

import psutil


def _temporary_prefix(path: str) -> str:
    return f".tmp-{os.path.basename(path)}."


def _umask() -> int:
    """The process's umask (read from /proc where it can be, as setting it to
    read it races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publishable(path: str) -> None:
    """Gives a temporary file or folder the permissions of one created with
    `open` or `mkdir` (0666 or 0777 less the umask), as `mkstemp` and
    `mkdtemp` make them private (0600, 0700): a TF Serving or an app running
    as another user must be able to read what is published."""
    mode = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, mode & ~_umask())


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
        publishable(temporary)
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


def json_bytes(value) -> bytes:
    """The bytes `atomic_write_json` writes for `value`."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return text.encode("utf-8")


def atomic_write_json(path: str, value) -> None:
    atomic_write_bytes(path, json_bytes(value))


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary directory that is renamed to `path` only on success.

    The temporary directory is a hidden sibling of `path`, so that a polling
    reader (TF Serving watches numeric version folders) never sees it.

    Args:
        path: str, or a function returning the destination (say, the next
            free version number). A function is asked again when another
            writer took the place it named meanwhile; a fixed `path` that
            exists raises `FileExistsError` and publishes nothing.
    """
    choose = path if callable(path) else (lambda: path)
    parent = os.path.dirname(os.path.abspath(choose()))
    os.makedirs(parent, exist_ok=True)
    prefix = f".tmp-{os.path.basename(choose())}-"
    temporary = tempfile.mkdtemp(dir=parent, prefix=prefix)
    try:
        yield temporary
        publishable(temporary)
        _rename_directory(temporary, choose, retry=callable(path))
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _rename_directory(temporary: str, choose, retry: bool, attempts: int = 100):
    """Renames `temporary` to `choose()`; with `retry`, asks `choose` again
    while the place it names is taken (by a concurrent writer), up to
    `attempts` times."""
    for _ in range(attempts if retry else 1):
        destination = choose()
        if os.path.exists(destination):
            continue
        try:
            # rename(2) fails on a non-empty directory: a concurrent writer's.
            os.rename(temporary, destination)
            return destination
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    raise FileExistsError(f"{destination} already exists; refusing to overwrite it")


class FolderInUseError(RuntimeError):
    """A run folder that another live process holds (`exclusive_folder`)."""


LOCK_FILE = ".lock"


@contextlib.contextmanager
def exclusive_folder(path: str, what: str = "run_dir"):
    """Holds an exclusive lock on folder `path` (made if missing) for the
    block, so that two runs never write the same checkpoints. The lock is
    the kernel's (`flock` on `path/.lock`): a killed holder frees it at once.

    Raises:
        FolderInUseError: another process holds it; the message names it.
    """
    os.makedirs(path, exist_ok=True)
    lock = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(lock, 200).decode("utf-8", errors="replace").strip()
        os.close(lock)
        raise FolderInUseError(
            f"{path} is in use by another run ({holder or 'a live process'}); "
            f"wait for it to end, or set {what} to another folder"
        ) from None
    try:
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield path
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
