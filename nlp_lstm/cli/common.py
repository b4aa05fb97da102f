"""Helpers shared by the command modules: stdin lines, errors and warnings."""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import re
import sys
import threading
import urllib.parse
import warnings
from collections.abc import Iterator

from nlp_lstm.config import MAX_BEAM_SIZE, ConfigError, check_name
from nlp_lstm.utils import heap
from nlp_lstm.utils.cores import usable_cores
from nlp_lstm.utils.files import FolderInUseError

DEFAULT_BATCH_SIZE = 64

# What TensorFlow's C++ side prints at start-up on a machine without a GPU
# whatever TF_CPP_MIN_LOG_LEVEL says (some of it before its logging is set
# up): notices about the build, not about the user's input or model.
NATIVE_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|\] oneDNN custom operations are on"
    r"|\] Could not find cuda drivers on your machine"
    r"|\] failed call to cuInit"
    r"|\] This TensorFlow binary is optimized to use available CPU instructions"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
    r"|\] oneDNN supports DT_INT64 only on platforms with AVX-512"
    r"|^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
)


def int_between(low: int, high: int | None = None):
    """An argparse type: an integer from `low` to `high` (no upper bound if
    None); the message says which values are allowed."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            allowed = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(
                f"must be an integer {allowed}, got {text!r}"
            )
        return value

    return parse


positive_int = int_between(1)
non_negative_int = int_between(0)


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value


def beam_size(text: str) -> int:
    """An argparse type: a beam size, 1 (greedy) to `MAX_BEAM_SIZE`."""
    return int_between(1, MAX_BEAM_SIZE)(text)


def model_name(text: str) -> str:
    """An argparse type: a model folder name (`config.check_name`), never a
    path that leads out of `--directory`."""
    try:
        check_name(text, "the name")
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def http_url(text: str) -> str:
    """An argparse type: an `http://` or `https://` URL with a host."""
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise argparse.ArgumentTypeError(
            f"must be an http:// or https:// URL with a host, such as "
            f"http://localhost:8501, got {text!r}"
        )
    return text


def add_threads_argument(parser) -> None:
    """`--threads N`: batches run at once, one thread each."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=usable_cores(),
        help="batches run at once, one core each (default: the usable cores, "
        f"{usable_cores()} here)",
    )


def start_runtime(model_path: str, threads: int) -> None:
    """What `translate` and `tag` do before loading an export: glibc's
    arenas capped at `threads` (before any thread allocates), oneDNN chosen
    for the export (before TensorFlow is imported), TensorFlow's runtime
    imported with the pages linking it read handed back, and `threads`
    graph calls at once. Call `utils.pages.release_file_pages()` again after
    the model's first call ("Where the memory was" in docs/benchmarks.md)."""
    from nlp_lstm.export import runtime  # noqa: PLC0415 (imports TensorFlow)

    heap.limit_arenas(threads)
    runtime.choose_kernels(model_path)
    runtime.import_runtime(release_pages=True)
    runtime.use_threads(threads)


def stdin_lines() -> Iterator[bytes]:
    """The lines of stdin as bytes, without their line ends (any encoding)."""
    for raw in sys.stdin.buffer:
        yield raw.rstrip(b"\r\n")


def stdin_text() -> Iterator[str]:
    """The lines of stdin as str; bytes that are not UTF-8 become U+FFFD."""
    for raw in stdin_lines():
        yield raw.decode("utf-8", errors="replace")


def fail(message: str) -> SystemExit:
    """The exit of a command that cannot go on: `raise fail("...")`."""
    return SystemExit(f"error: {message}")


def _forward_lines(source: int, target: int, noise: re.Pattern) -> None:
    """Copies the lines read from fd `source` to fd `target`, but noise."""
    with os.fdopen(source, "rb", closefd=True) as lines:
        for line in lines:
            if not noise.search(line.decode("utf-8", errors="replace")):
                os.write(target, line)


@contextlib.contextmanager
def without_native_noise(noise: re.Pattern = NATIVE_NOISE):
    """Drops the `noise` lines that native code writes to stderr (fd 2)
    inside the block; every other line goes through, in order.

    Meant for a command's start-up (importing TensorFlow, loading and first
    calling a model), where TensorFlow prints its build notices: a crash
    inside the block would lose what was still in the pipe.
    """
    sys.stderr.flush()
    stderr = os.dup(2)
    source, sink = os.pipe()
    os.dup2(sink, 2)
    os.close(sink)
    forwarder = threading.Thread(
        target=_forward_lines, args=(source, stderr, noise), daemon=True
    )
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(stderr, 2)  # closes the pipe's last writer: the forwarder ends
        forwarder.join()
        os.close(stderr)


# Hints for the OSErrors a command meets on its files.
OS_ERROR_HINTS = {
    errno.ENOSPC: "free some space there (nothing was published) and run it again",
    errno.EDQUOT: "free some space there (nothing was published) and run it again",
    errno.EACCES: "check the permissions of that path",
    errno.EPERM: "check the permissions of that path",
    errno.EROFS: "write somewhere else: the file system is read-only",
}


def error_message(error: BaseException) -> str | None:
    """The one line a command prints for `error` when it is the user's input,
    model or files that are wrong (not a bug); None for anything else."""
    if isinstance(error, OSError) and error.errno in OS_ERROR_HINTS:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}; {OS_ERROR_HINTS[error.errno]}"
    if isinstance(error, (ValueError, OSError, EOFError, FolderInUseError)):
        return str(error) or type(error).__name__
    if type(error).__module__.startswith("tensorflow") and hasattr(error, "message"):
        lines = [line for line in error.message.splitlines() if line.strip()]
        return lines[-1] if lines else type(error).__name__
    return None


@contextlib.contextmanager
def user_errors():
    """Turns errors of the user's input, model or files (`error_message`)
    into an `error: ...` exit without a traceback (set NLP_LSTM_TRACEBACK=1
    to see it)."""
    try:
        yield
    except Exception as error:
        message = error_message(error)
        if message is None or os.environ.get("NLP_LSTM_TRACEBACK"):
            raise
        raise fail(message) from None


@contextlib.contextmanager
def plain_warnings(category: type[Warning]):
    """Prints every warning of `category` as a `warning: MESSAGE` line on
    stderr (other warnings as Python prints them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", category)
        show = warnings.showwarning

        def show_plain(message, kind, filename, lineno, file=None, line=None):
            if issubclass(kind, category):
                print(f"warning: {message}", file=sys.stderr)
            else:
                show(message, kind, filename, lineno, file, line)

        # catch_warnings restores showwarning on exit.
        warnings.showwarning = show_plain
        yield
