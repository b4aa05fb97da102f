"""Corpus files that are not UTF-8 text or not whole gzip files stop the read
with one message naming the file, rather than train on a wrong corpus."""

import gzip

import pytest

from nlp_lstm.data.conll import read_conll
from nlp_lstm.data.files import CorpusFileError, text_lines
from nlp_lstm.data.parallel import SkipReport, read_tsv_pairs

PAIRS = "".join(f"Go {i}.\tVe {i}.\n" for i in range(300))


@pytest.mark.parametrize(
    "encoding, why",
    [("utf-16", "UTF-16 mark"), ("utf-16-le", "NUL bytes"), ("utf-32", "UTF-32 mark")],
)
def test_another_encoding_stops_the_read(tmp_path, encoding, why):
    path = tmp_path / f"pairs.{encoding}.tsv"
    path.write_bytes(PAIRS.encode(encoding))
    with pytest.raises(CorpusFileError, match=f"{path} is not UTF-8 text .*{why}"):
        read_tsv_pairs(str(path), 1, 0, SkipReport())
    conll = tmp_path / f"tags.{encoding}.conll"
    conll.write_bytes("Obama B-PER\n\n".encode(encoding))
    with pytest.raises(CorpusFileError, match="iconv -f UTF-16 -t UTF-8"):
        list(read_conll(str(conll)))


def test_mostly_invalid_lines_stop_the_read_a_few_are_skipped(tmp_path):
    latin1 = tmp_path / "latin1.tsv"
    lines = "".join(f"Año {i}.\tYear.\n" for i in range(300))
    latin1.write_bytes(lines.encode("latin-1"))
    with pytest.raises(CorpusFileError, match="101 of its first 101 lines are invalid"):
        read_tsv_pairs(str(latin1), 1, 0, SkipReport())
    damaged = tmp_path / "damaged.tsv"
    damaged.write_bytes(PAIRS.encode() + b"Bad \xff\tMalo\n")
    report = SkipReport()
    assert len(read_tsv_pairs(str(damaged), 1, 0, report)["source"]) == 300
    assert report.counts == {"invalid_utf8": 1}


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + PAIRS.encode())
    assert next(text_lines(str(path))) == (1, "Go 0.\tVe 0.")


def test_truncated_or_fake_gzip_stops_the_read(tmp_path):
    whole = gzip.compress(PAIRS.encode())
    truncated, fake = tmp_path / "cut.tsv.gz", tmp_path / "plain.tsv.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    fake.write_bytes(PAIRS.encode())
    for path in (truncated, fake):
        with pytest.raises(CorpusFileError, match=f"{path} is not a complete gzip"):
            read_tsv_pairs(str(path), 1, 0, SkipReport())
