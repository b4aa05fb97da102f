"""Helpers shared by the command modules: stdin lines, errors and warnings."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator

DEFAULT_BATCH_SIZE = 32


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
