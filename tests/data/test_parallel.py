"""Parallel corpus readers: bad lines are skipped and reported, splits are fixed."""

import gzip

import pytest

from nlp_lstm.config import TranslationDataConfig
from nlp_lstm.data.parallel import (
    SkipReport,
    load_parallel_corpus,
    read_aligned_files,
    read_tsv_pairs,
)


def test_tsv_reader_skips_and_reports_bad_lines(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(
        b"Go.\tVe.\n"
        b"no tab here\n"
        b"Hi.\t  \n"
        b"Bad \xff\xfe bytes\tMalo\n"
        b"Run!\tCorre!\textra\n"
    )
    report = SkipReport()
    pairs = read_tsv_pairs(str(path), 1, 0, report)
    assert pairs == {"source": ["Ve.", "Corre!"], "target": ["Go.", "Run!"]}
    assert report.counts == {"missing_tab": 1, "empty_side": 1, "invalid_utf8": 1}
    assert report.first_lines["missing_tab"] == [f"{path}:2"]
    assert report.first_lines["invalid_utf8"] == [f"{path}:4"]
    assert report.as_dict()["total"] == 3


def test_aligned_gzip_files(tmp_path):
    source, target = tmp_path / "a.en.gz", tmp_path / "a.de.gz"
    with gzip.open(source, "wt", encoding="utf-8") as stream:
        stream.write("A dog.\n\nA cat.\n")
    with gzip.open(target, "wt", encoding="utf-8") as stream:
        stream.write("Ein Hund.\nLeer\nEine Katze.\n")
    report = SkipReport()
    pairs = read_aligned_files(str(source), str(target), report)
    assert pairs["target"] == ["Ein Hund.", "Eine Katze."]
    assert report.first_lines["empty_side"] == [f"{source}:2"]


def test_misaligned_files_raise_with_both_names(tmp_path):
    source, target = tmp_path / "s.txt", tmp_path / "t.txt"
    source.write_text("a\nb\nc\n")
    target.write_text("x\ny\n")
    with pytest.raises(ValueError, match="not aligned"):
        read_aligned_files(str(source), str(target), SkipReport())


def test_split_is_deterministic_and_disjoint(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"en {i}\tes {i}\n" for i in range(100)))
    config = TranslationDataConfig(path=str(path), dev_size=10, test_size=15, seed=7)
    first, _ = load_parallel_corpus(config)
    second, _ = load_parallel_corpus(config)
    assert first["test"]["source"] == second["test"]["source"]
    assert (len(first["train"]), len(first["dev"]), len(first["test"])) == (75, 10, 15)
    seen = set(first["train"]["source"]) | set(first["dev"]["source"])
    assert not seen & set(first["test"]["source"])
    other, _ = load_parallel_corpus(
        TranslationDataConfig(path=str(path), dev_size=10, test_size=15, seed=8)
    )
    assert other["test"]["source"] != first["test"]["source"]


def test_too_small_corpus_says_what_to_lower(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\n" * 5)
    with pytest.raises(ValueError, match="lower data.dev_size"):
        load_parallel_corpus(
            TranslationDataConfig(path=str(path), dev_size=3, test_size=3)
        )
