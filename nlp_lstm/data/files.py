"""Corpus files line by line: plain or gzipped, UTF-8, decoded one line at a
time (so that an error names its line), with the file-level mistakes caught
before they turn into a silently wrong corpus:

- a file in another encoding (UTF-16 or UTF-32, found by its byte-order mark
  or its NUL bytes; or most of its first lines invalid as UTF-8) stops the
  read with a message naming the file and the conversion to run;
- a truncated `.gz`, or a `.gz` that is no gzip file, stops it likewise
  rather than end the corpus early or raise a bare `EOFError`;
- a UTF-8 byte-order mark at the start of the file is dropped (it would
  otherwise glue itself to the first word).
"""

from __future__ import annotations

import gzip
import os
import zlib

# Within the first SNIFF_LINES lines, more than this share of invalid UTF-8
# means the file is in another encoding, not that a few lines are damaged.
SNIFF_LINES = 1000
MAX_INVALID_SHARE = 0.1
UTF8_BOM = b"\xef\xbb\xbf"
OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


class CorpusFileError(ValueError):
    """A corpus file that cannot be read as UTF-8 text; the message names it
    and what to do."""


def _not_utf8(path: str, why: str) -> CorpusFileError:
    return CorpusFileError(
        f"{path} is not UTF-8 text ({why}); convert it, e.g. `iconv -f "
        f"UTF-16 -t UTF-8 {path} > {path}.utf8`, and give the converted file "
        "(in the config, or to the command) instead"
    )


def open_binary(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Corpus file not found: {path}")
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def raw_lines(path: str):
    """Yields `(number, bytes)` of each line of a plain or gzipped file, line
    ends and a UTF-8 byte-order mark removed; raises `CorpusFileError` for a
    UTF-16/32 file or an incomplete gzip file."""
    try:
        with open_binary(path) as stream:
            for number, raw in enumerate(stream, start=1):
                if number == 1:
                    for bom, encoding in OTHER_BOMS.items():
                        if raw.startswith(bom):
                            raise _not_utf8(path, f"it starts with a {encoding} mark")
                    raw = raw.removeprefix(UTF8_BOM)
                if number <= SNIFF_LINES and b"\x00" in raw:
                    raise _not_utf8(path, f"line {number} has NUL bytes: UTF-16?")
                yield number, raw.rstrip(b"\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise CorpusFileError(
            f"{path} is not a complete gzip file ({error}); download or compress "
            "it again, or drop the .gz suffix if it is plain text"
        ) from None


def text_lines(path: str):
    """Yields `(line_number, text)`, `text` None for a line that is not
    valid UTF-8 (the caller skips or refuses it); raises `CorpusFileError`
    for a file that is not UTF-8 text or not a complete gzip file."""
    invalid = 0
    for number, raw in raw_lines(path):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            invalid += 1
            if number <= SNIFF_LINES and invalid > MAX_INVALID_SHARE * SNIFF_LINES:
                raise _not_utf8(
                    path, f"{invalid} of its first {number} lines are invalid"
                ) from None
            yield number, None
