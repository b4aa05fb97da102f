"""CoNLL and CoNLL-U readers: columns, sentence breaks, bad lines by file:line."""

import gzip
import os
import types

import datasets
import pytest

from nlp_lstm.data import conll
from nlp_lstm.data.parallel import SkipReport
from tests.helpers import REPO_ROOT

CONLL = """-DOCSTART- -X- O

Ana NP B-PER
vive VM O
en SP O
Buenos NP B-LOC
Aires NP I-LOC

Sol NC O


Luna NC B-MISC
"""

CONLLU = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def write(tmp_path, name, text, compress=False):
    path = os.path.join(tmp_path, name)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as stream:
            stream.write(text)
    else:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_conll_sentences_columns_and_docstart(tmp_path, compress):
    path = write(tmp_path, "a.conll.gz" if compress else "a.conll", CONLL, compress)
    sentences = list(conll.read_conll(path, token_column=0, tag_column=-1))
    assert [s.tokens for s in sentences] == [
        ["Ana", "vive", "en", "Buenos", "Aires"], ["Sol"], ["Luna"]
    ]
    assert sentences[0].tags == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    assert sentences[0].lines == [3, 4, 5, 6, 7]
    assert sentences[2].where(0) == f"{path}:12"
    pos = list(conll.read_conll(path, token_column=0, tag_column=1))
    assert pos[0].tags[:2] == ["NP", "VM"]


def test_conll_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.conll", "a O\nb\nc O\n\nd x O\n")
    with pytest.raises(conll.BadLine, match=rf"{path}:2: expected 2 columns"):
        list(conll.read_conll(path))
    report = SkipReport()
    sentences = list(conll.read_conll(path, report=report))
    assert [s.tokens for s in sentences] == [["a", "c"]]
    assert report.counts == {"wrong_column_count": 2}
    assert report.first_lines["wrong_column_count"] == [f"{path}:2", f"{path}:5"]


def test_conll_column_that_does_not_exist(tmp_path):
    path = write(tmp_path, "two.conll", "a O\n")
    with pytest.raises(conll.BadLine, match="tag_column=2 cannot both be read"):
        list(conll.read_conll(path, tag_column=2))


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    path = write(tmp_path, "a.conllu", CONLLU)
    sentences = list(conll.read_conllu(path, "upos"))
    assert sentences[0].tokens == ["Do", "n't", "go", "."]
    assert sentences[0].tags == ["AUX", "PART", "VERB", "PUNCT"]
    assert sentences[0].lines == [4, 5, 6, 8]
    assert sentences[1].tokens == ["Hi"]
    xpos = list(conll.read_conllu(path, "xpos"))
    assert xpos[0].tags == ["VBP", "RB", "VB", "."]


def test_conllu_bad_lines(tmp_path):
    path = write(tmp_path, "bad.conllu", "1\tA\ta\tX\n2\tB\tb\t_\t_\t_\t_\t_\t_\t_\n")
    with pytest.raises(conll.BadLine, match=rf"{path}:1: CoNLL-U lines have 10"):
        list(conll.read_conllu(path))
    report = SkipReport()
    assert list(conll.read_conllu(path, report=report)) == []
    assert report.first_lines == {
        "wrong_column_count": [f"{path}:1"], "missing_tag": [f"{path}:2"]
    }


def data_config(path, scheme="iob2", repair=False, **kwargs):
    values = dict(format="conll", token_column=0, tag_column=-1, tag_field="upos",
                  scheme=scheme, repair=repair, bad_lines="skip", max_examples=0,
                  train=path, dev=path, test=path, documents=False)
    values.update(kwargs)
    return types.SimpleNamespace(**values)


def test_lone_inside_tag_is_an_error_or_repaired(tmp_path):
    path = write(tmp_path, "lone.conll", "a O\nb I-PER\nc I-PER\n\nd B-LOC\n")
    with pytest.raises(conll.BadLine, match=rf"{path}:2: tag 'I-PER' continues no"):
        conll.read_tagged_file(data_config(path), path, None, conll.SchemeReport())
    repairs = conll.SchemeReport()
    sentences = conll.read_tagged_file(
        data_config(path, repair=True), path, None, repairs
    )
    assert sentences[0].tags == ["O", "B-PER", "I-PER"]
    assert repairs.repaired == 1
    assert repairs.repaired_lines == [f"{path}:2"]


def test_tag_outside_the_scheme_is_reported(tmp_path):
    path = write(tmp_path, "odd.conll", "a O\nb S-PER\nc B-PER\n")
    with pytest.raises(conll.BadLine, match=rf"{path}:2: tag 'S-PER' is not in the"):
        conll.read_tagged_file(data_config(path), path, None, conll.SchemeReport())
    report = SkipReport()
    sentences = conll.read_tagged_file(
        data_config(path), path, report, conll.SchemeReport()
    )
    assert sentences[0].tokens == ["a", "c"]
    assert report.first_lines == {"bad_tag": [f"{path}:2"]}
    with pytest.raises(conll.BadLine, match=rf"{path}:3: entity 'PER' is not closed"):
        conll.read_tagged_file(
            data_config(path, scheme="bioes"), path, None, conll.SchemeReport()
        )


def test_load_tagging_corpus_gives_datasets(tmp_path):
    path = write(tmp_path, "a.conll", CONLL)
    corpus, report = conll.load_tagging_corpus(data_config(path, max_examples=2))
    assert isinstance(corpus["train"], datasets.Dataset)
    assert corpus["test"]["tokens"] == [
        ["Ana", "vive", "en", "Buenos", "Aires"], ["Sol"]
    ]
    assert report["skipped"]["total"] == 0 and report["repaired"] == 0


def test_empty_file_says_what_to_check(tmp_path):
    path = write(tmp_path, "empty.conll", "\n\n")
    with pytest.raises(ValueError, match="has no sentences; check data.format"):
        conll.read_tagged_file(data_config(path), path, None, conll.SchemeReport())


def test_bundled_wnut_dev_reports_its_bad_lines():
    path = os.path.join(REPO_ROOT, "data", "wnut17", "emerging.dev.conll")
    report = SkipReport()
    sentences = conll.read_tagged_file(
        data_config(path), path, report, conll.SchemeReport()
    )
    assert len(sentences) == 1009
    # A lone U+FEFF without a tag, and "Turn" tagged I-creative-work after
    # I-person (a lone I- in IOB2).
    assert report.first_lines == {
        "wrong_column_count": [f"{path}:16742"], "bad_tag": [f"{path}:1674"]
    }
    report, repairs = SkipReport(), conll.SchemeReport()
    conll.read_tagged_file(data_config(path, repair=True), path, report, repairs)
    assert report.counts == {"wrong_column_count": 1}
    assert repairs.repaired_lines[0] == f"{path}:1674"
