"""CoNLL column and CoNLL-U readers for sequence labeling corpora.

Both readers yield `TaggedSentence`s with the file line of every token, so that
each problem is reported as `file:line`. A malformed line (wrong column count,
a tag outside the scheme, a lone I- tag in IOB2) either stops the reader with
a `ValueError` naming the line and what to change (`bad_lines="error"`), or
drops that token and is counted in a `SkipReport` (`bad_lines="skip"`). The
sentences are held in Hugging Face `datasets.Dataset` objects (columns
`tokens` and `tags`) built from local files only.
"""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import datasets  # noqa: E402

from nlp_lstm.data.files import text_lines  # noqa: E402
from nlp_lstm.data.parallel import SkipReport  # noqa: E402
from nlp_lstm.text import tags as tag_schemes  # noqa: E402

DOCSTART = "-DOCSTART-"
CONLLU_COLUMNS = 10
CONLLU_FIELDS = {"upos": 3, "xpos": 4}


@dataclasses.dataclass
class TaggedSentence:
    """One sentence: its tokens, their tags and the file line of each token."""

    tokens: list
    tags: list
    lines: list
    path: str
    # The number of `-DOCSTART-` lines before it in its file.
    document: int = 0

    def where(self, index: int) -> str:
        return f"{self.path}:{self.lines[index]}"


class BadLine(ValueError):
    """A line of a corpus file that cannot be read; the message says where."""


def _lines(path: str):
    """Yields `(line_number, text)`; invalid UTF-8 is a `BadLine`."""
    for number, line in text_lines(path):
        if line is None:
            raise BadLine(f"{path}:{number}: invalid UTF-8; convert the file to UTF-8")
        yield number, line


def _fail(report: SkipReport | None, reason: str, where: str, message: str) -> None:
    if report is None:
        raise BadLine(f"{where}: {message}")
    report.add(reason, where)


def _split_columns(line: str) -> list[str]:
    return line.split("\t") if "\t" in line else line.split()


def read_conll(
    path: str,
    token_column: int = 0,
    tag_column: int = -1,
    report: SkipReport | None = None,
):
    """Reads a CoNLL column file: `token ... tag` lines, blank-line breaks.

    Columns are split on tabs when the line has one, else on whitespace. The
    column count of a file is that of its first token line; lines with another
    count are malformed. `-DOCSTART-` lines (and the blank line after them)
    are skipped.

    Args:
        path: str. Plain or `.gz` file.
        token_column: int. Column of the token (negative counts from the end).
        tag_column: int. Column of the tag.
        report: SkipReport or None. Where malformed lines are counted; None
            raises `BadLine` on the first one instead.

    Yields:
        `TaggedSentence`s (never empty).
    """
    expected = None
    document = 0
    tokens, tags, lines = [], [], []
    for number, line in _lines(path):
        if not line.strip():
            if tokens:
                yield TaggedSentence(tokens, tags, lines, path, document)
            tokens, tags, lines = [], [], []
            continue
        columns = _split_columns(line)
        if columns[0] == DOCSTART:
            if tokens:
                yield TaggedSentence(tokens, tags, lines, path, document)
                tokens, tags, lines = [], [], []
            document += 1
            continue
        if expected is None:
            expected = len(columns)
            needed = max(token_column, tag_column, -token_column - 1, -tag_column - 1)
            if needed >= expected:
                raise BadLine(
                    f"{path}:{number}: the file has {expected} column(s), so "
                    f"token_column={token_column} and tag_column={tag_column} "
                    "cannot both be read; choose columns that exist"
                )
        if len(columns) != expected:
            _fail(
                report,
                "wrong_column_count",
                f"{path}:{number}",
                f"expected {expected} columns like the file's first token line, got "
                f"{len(columns)} in {line!r}; fix the line or set data.bad_lines: skip",
            )
            continue
        tokens.append(columns[token_column])
        tags.append(columns[tag_column])
        lines.append(number)
    if tokens:
        yield TaggedSentence(tokens, tags, lines, path, document)


def join_documents(sentences) -> list:
    """The sentences of each document (`TaggedSentence.document`) as one
    `TaggedSentence`, in file order; raises if the file marks none."""
    sentences = list(sentences)
    if sentences and all(s.document == 0 for s in sentences):
        raise ValueError(
            f"{sentences[0].path} has no -DOCSTART- lines, so its documents are "
            "not marked; set data.documents: false"
        )
    documents = []
    for sentence in sentences:
        if documents and documents[-1].document == sentence.document:
            last = documents[-1]
            last.tokens += sentence.tokens
            last.tags += sentence.tags
            last.lines += sentence.lines
        else:
            documents.append(
                TaggedSentence(
                    list(sentence.tokens), list(sentence.tags), list(sentence.lines),
                    sentence.path, sentence.document,
                )
            )
    return documents


def read_conllu(path: str, field: str = "upos", report: SkipReport | None = None):
    """Reads a CoNLL-U file, taking the UPOS or XPOS tag of each word.

    Comment lines (`#`) are skipped, and so are the lines that CoNLL-U keeps
    beside the syntactic words: multiword tokens (ID `1-2`, whose parts follow
    as words) and empty nodes (ID `1.1`).

    Args:
        path: str. Plain or `.gz` file.
        field: str. `"upos"` or `"xpos"`.
        report: SkipReport or None, as in `read_conll`.

    Yields:
        `TaggedSentence`s.
    """
    if field not in CONLLU_FIELDS:
        raise ValueError(f"field must be one of {sorted(CONLLU_FIELDS)}, got {field!r}")
    column = CONLLU_FIELDS[field]
    tokens, tags, lines = [], [], []
    for number, line in _lines(path):
        if not line.strip():
            if tokens:
                yield TaggedSentence(tokens, tags, lines, path)
            tokens, tags, lines = [], [], []
            continue
        if line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != CONLLU_COLUMNS:
            _fail(
                report,
                "wrong_column_count",
                f"{path}:{number}",
                f"CoNLL-U lines have {CONLLU_COLUMNS} tab-separated columns, got "
                f"{len(columns)}; fix the line or set data.bad_lines: skip",
            )
            continue
        word_id = columns[0]
        if "-" in word_id or "." in word_id:
            continue
        if not word_id.isdigit():
            _fail(
                report,
                "bad_word_id",
                f"{path}:{number}",
                f"word ID must be an integer, a range 1-2 or a decimal 1.1, "
                f"got {word_id!r}",
            )
            continue
        tag = columns[column]
        if tag == "_":
            _fail(
                report,
                "missing_tag",
                f"{path}:{number}",
                f"the {field.upper()} column is empty ('_'); use the other tag "
                "field or fill it in",
            )
            continue
        tokens.append(columns[1])
        tags.append(tag)
        lines.append(number)
    if tokens:
        yield TaggedSentence(tokens, tags, lines, path)


@dataclasses.dataclass
class SchemeReport:
    """What `check_scheme` changed: repaired tags and skipped tokens."""

    repaired: int = 0
    repaired_lines: list = dataclasses.field(default_factory=list)


def check_scheme(
    sentence: TaggedSentence,
    scheme: str,
    repair: bool,
    report: SkipReport | None,
    scheme_report: SchemeReport,
) -> TaggedSentence:
    """Checks a sentence's tags against `scheme`, repairing lone I- tags.

    Args:
        sentence: the sentence.
        scheme: str. One of `tags.SCHEMES`.
        repair: bool. Turn I- without B- into B- (E- into S- in BIOES).
        report: SkipReport or None (raise on the first bad tag).
        scheme_report: counts the repairs.

    Returns:
        The sentence, repaired and without the tokens whose tags are bad.
    """
    tags = sentence.tags
    if repair:
        repaired, count = tag_schemes.repair(tags, scheme)
        if count:
            scheme_report.repaired += count
            for index, (old, new) in enumerate(zip(tags, repaired, strict=True)):
                if old != new and len(scheme_report.repaired_lines) < 5:
                    scheme_report.repaired_lines.append(sentence.where(index))
        tags = repaired
    bad = set()
    for index, reason in tag_schemes.tag_errors(tags, scheme):
        hint = "set data.repair: true" if "lone" in reason else "fix the tag"
        _fail(
            report,
            "bad_tag",
            sentence.where(index),
            f"{reason}; {hint}, check data.scheme ({scheme}) or set data.bad_lines: "
            "skip",
        )
        bad.add(index)
    keep = [index for index in range(len(tags)) if index not in bad]
    return TaggedSentence(
        [sentence.tokens[i] for i in keep],
        [tags[i] for i in keep],
        [sentence.lines[i] for i in keep],
        sentence.path,
        sentence.document,
    )


def read_tagged_file(data_config, path: str, report: SkipReport | None, scheme_report):
    """Reads one file as a `TaggingDataConfig` says, checking the scheme.

    Returns:
        A list of `TaggedSentence`s.
    """
    if data_config.format == "conllu":
        sentences = read_conllu(path, data_config.tag_field, report)
    else:
        sentences = read_conll(
            path, data_config.token_column, data_config.tag_column, report
        )
    checked = []
    for sentence in sentences:
        sentence = check_scheme(
            sentence, data_config.scheme, data_config.repair, report, scheme_report
        )
        if sentence.tokens:
            checked.append(sentence)
    if data_config.documents:
        checked = join_documents(checked)
    if not checked:
        raise ValueError(
            f"{path} has no sentences; check data.format ({data_config.format}) "
            "and the column settings"
        )
    return checked


def to_dataset(sentences) -> datasets.Dataset:
    """A `datasets.Dataset` with columns `tokens` and `tags` (lists of str)."""
    return datasets.Dataset.from_dict(
        {
            "tokens": [sentence.tokens for sentence in sentences],
            "tags": [sentence.tags for sentence in sentences],
        }
    )


def load_tagging_corpus(data_config) -> tuple[datasets.DatasetDict, dict]:
    """Loads the train/dev/test files of a `TaggingDataConfig`.

    Returns:
        `(corpus, report)`: a `DatasetDict` with splits `train`, `dev`, `test`,
        and a dict with the skipped lines (`skipped`) and repaired tags
        (`repaired`, `repaired_lines`).
    """
    skips = None if data_config.bad_lines == "error" else SkipReport()
    scheme_report = SchemeReport()
    splits = {}
    for split in ("train", "dev", "test"):
        path = getattr(data_config, split)
        sentences = read_tagged_file(data_config, path, skips, scheme_report)
        if data_config.max_examples:
            sentences = sentences[: data_config.max_examples]
        splits[split] = to_dataset(sentences)
    report = {
        "skipped": (skips or SkipReport()).as_dict(),
        "repaired": scheme_report.repaired,
        "repaired_lines": scheme_report.repaired_lines,
    }
    return datasets.DatasetDict(splits), report
