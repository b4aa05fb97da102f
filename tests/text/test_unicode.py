"""Word splitting on every Unicode White_Space and Default_Ignorable code
point: the in-graph tokenizer (SavedModel, training) and the TensorFlow-free
TFLite runner must give the same valid UTF-8 tokens."""

import re
import unicodedata

import pytest
import tensorflow as tf

from nlp_lstm.export.tflite.runtime import split_words
from nlp_lstm.text.unicode import WHITE_SPACE
from nlp_lstm.text.words import TOKENIZERS, tokenize

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt).
DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
]
IGNORABLE = [chr(c) for low, high in DEFAULT_IGNORABLE for c in range(low, high + 1)]
SPACES = [chr(c) for c in range(0x110000) if re.fullmatch(WHITE_SPACE, chr(c))]


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
