"""Parallel corpus readers: TSV pairs and aligned files, plain or gzipped.

Lines that cannot be used (no tab, an empty side, invalid UTF-8) are skipped and
counted in a `SkipReport`, never raised in the middle of a run. The pairs are
held in Hugging Face `datasets.Dataset` objects built from local files only.
"""

from __future__ import annotations

import dataclasses
import itertools
import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import datasets  # noqa: E402

from nlp_lstm.data.files import text_lines  # noqa: E402

MAX_REPORTED_LINES = 5


@dataclasses.dataclass
class SkipReport:
    """Counts skipped lines per reason, with the first few line numbers."""

    counts: dict = dataclasses.field(default_factory=dict)
    first_lines: dict = dataclasses.field(default_factory=dict)

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        lines = self.first_lines.setdefault(reason, [])
        if len(lines) < MAX_REPORTED_LINES:
            lines.append(where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "counts": self.counts,
            "first_lines": self.first_lines,
        }


def _decode_lines(path: str, report: SkipReport):
    """Yields (line_number, text or None) for each line; None for bad UTF-8."""
    for number, text in text_lines(path):
        if text is None:
            report.add("invalid_utf8", f"{path}:{number}")
        yield number, text


def read_tsv_pairs(
    path: str, source_column: int, target_column: int, report: SkipReport
) -> dict:
    """Reads `a<TAB>b[<TAB>...]` lines, keeping the two chosen columns."""
    sources, targets = [], []
    needed = max(source_column, target_column) + 1
    for number, line in _decode_lines(path, report):
        if line is None:
            continue
        columns = line.split("\t")
        if len(columns) < needed:
            report.add("missing_tab", f"{path}:{number}")
            continue
        source = columns[source_column].strip()
        target = columns[target_column].strip()
        if not source or not target:
            report.add("empty_side", f"{path}:{number}")
            continue
        sources.append(source)
        targets.append(target)
    return {"source": sources, "target": targets}


def read_aligned_files(source_path: str, target_path: str, report: SkipReport) -> dict:
    """Reads two aligned files (one sentence a line, plain or `.gz`)."""
    sources, targets = [], []
    missing = object()
    pairs = itertools.zip_longest(
        _decode_lines(source_path, report),
        _decode_lines(target_path, report),
        fillvalue=missing,
    )
    for source_line, target_line in pairs:
        if source_line is missing or target_line is missing:
            longer, shorter = (
                (target_path, source_path)
                if source_line is missing
                else (source_path, target_path)
            )
            number = (target_line if source_line is missing else source_line)[0]
            raise ValueError(
                f"{longer}:{number}: no matching line in {shorter}, which has "
                f"{number - 1} lines: the files are not aligned. Give files with "
                "one sentence per line on both sides."
            )
        (number, source), (_, target) = source_line, target_line
        if source is None or target is None:
            continue
        source, target = source.strip(), target.strip()
        if not source or not target:
            report.add("empty_side", f"{source_path}:{number}")
            continue
        sources.append(source)
        targets.append(target)
    return {"source": sources, "target": targets}


def split_dataset(
    dataset: datasets.Dataset, dev_size: int, test_size: int, seed: int
) -> datasets.DatasetDict:
    """Deterministic train/dev/test split of a corpus that has none."""
    if len(dataset) <= dev_size + test_size:
        raise ValueError(
            f"The corpus has {len(dataset)} usable pairs, not enough for a dev set of "
            f"{dev_size} and a test set of {test_size}: lower data.dev_size and "
            "data.test_size."
        )
    held_out = dataset.train_test_split(test_size=dev_size + test_size, seed=seed)
    dev_test = held_out["test"].train_test_split(test_size=test_size, seed=seed)
    return datasets.DatasetDict(
        train=held_out["train"], dev=dev_test["train"], test=dev_test["test"]
    )


def load_parallel_corpus(data_config) -> tuple[datasets.DatasetDict, SkipReport]:
    """Loads train/dev/test splits as described by a `TranslationDataConfig`."""
    report = SkipReport()
    if data_config.format == "tsv":
        pairs = read_tsv_pairs(
            data_config.path,
            data_config.source_column,
            data_config.target_column,
            report,
        )
        corpus = split_dataset(
            datasets.Dataset.from_dict(pairs),
            data_config.dev_size,
            data_config.test_size,
            data_config.seed,
        )
    else:
        splits = {}
        for split in ("train", "dev", "test"):
            pairs = read_aligned_files(
                getattr(data_config, f"{split}_source"),
                getattr(data_config, f"{split}_target"),
                report,
            )
            splits[split] = datasets.Dataset.from_dict(pairs)
        corpus = datasets.DatasetDict(splits)
    if data_config.max_examples:
        # A quick run: cap every split, so that evaluation is quick too.
        for split, dataset in corpus.items():
            corpus[split] = dataset.select(
                range(min(len(dataset), data_config.max_examples))
            )
    return corpus, report
