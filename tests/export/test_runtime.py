"""export.runtime: which tensorflow-text libraries a graph's ops come from."""

import os

import pytest

from nlp_lstm.export import runtime


@pytest.mark.parametrize(
    "library, ops, expected",
    [
        ("_sentencepiece_tokenizer.so", {"SentencepieceTokenizeOp"}, True),
        ("_fast_sentencepiece_tokenizer.so", {"SentencepieceTokenizeOp"}, False),
        (
            "_fast_sentencepiece_tokenizer.so",
            {"TFText>FastSentencepieceTokenize"},
            True,
        ),
        ("_regex_split_ops.so", {"RegexSplitWithOffsets"}, True),
        ("_regex_split_ops.so", {"SentencepieceOp"}, False),
    ],
)
def test_libraries_are_matched_by_their_telling_words(library, ops, expected):
    assert runtime._named_after(os.path.join("ops", library), ops) is expected


def test_the_installed_tensorflow_text_has_op_libraries():
    libraries = runtime.text_op_libraries()
    names = {os.path.basename(library) for library in libraries}
    assert "_sentencepiece_tokenizer.so" in names
    assert all(os.path.isfile(library) for library in libraries)
