"""Helpers shared by the command modules: stdin lines, errors and warnings."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator

from nlp_lstm.utils.cores import usable_cores

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
)


def positive_int(text: str) -> int:
    """An argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_threads_argument(parser) -> None:
    """`--threads N`: batches run at once, one thread each."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=usable_cores(),
        help="batches run at once, one core each (default: the usable cores, "
        f"{usable_cores()} here)",
    )


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


@contextlib.contextmanager
def user_errors():
    """Turns the library's `ValueError`s (bad input, wrong model) into
    `error: ...` exits without a traceback."""
    try:
        yield
    except ValueError as error:
        raise fail(str(error)) from None


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
