"""Word splitting on every Unicode White_Space and Default_Ignorable code
point: the in-graph tokenizer (SavedModel, training) and the TensorFlow-free
TFLite runner must give the same valid UTF-8 tokens."""

import unicodedata

import pytest
import tensorflow as tf

from nlp_lstm.export.tflite.runtime import split_words
from nlp_lstm.text.words import TOKENIZERS, tokenize
from tests.fuzzing import IGNORABLE, SPACES


def test_white_space_is_the_unicode_property():
    # Python's str.isspace() is White_Space plus U+001C..U+001F.
    expected = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert set(SPACES) == expected - {"\x1c", "\x1d", "\x1e", "\x1f"}
    assert len(SPACES) == 25
    assert all(unicodedata.category(c) in ("Zs", "Zl", "Zp", "Cc") for c in SPACES)


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_every_space_splits_words_alike_in_graph_and_runner(kind):
    sentences = [f"Barack{c}Obama {c} visited{c}" for c in SPACES + IGNORABLE]
    graph = tokenize(tf.constant(sentences), kind).to_list()
    for sentence, tokens in zip(sentences, graph, strict=True):
        words = [token.decode("utf-8") for token in tokens]  # valid UTF-8
        assert words == split_words(sentence, kind), repr(sentence)
        if sentence[6] in SPACES:
            assert words == ["Barack", "Obama", "visited"], repr(sentence)


def test_invalid_utf8_becomes_replacement_characters():
    tokens = tokenize(tf.constant([b"bad\xff\xa0x ok"]), "whitespace").to_list()
    assert [t.decode("utf-8") for t in tokens[0]] == ["bad\ufffd\ufffdx", "ok"]
