"""Unicode character classes shared by the in-graph text ops and the
TensorFlow-free TFLite runners, so that the two split text alike.

`WHITE_SPACE` is a regex character class of the Unicode `White_Space`
property (25 code points), written so that both Python's `re` and RE2 (the
engine of `tf.strings.regex_replace`) read it the same way. Python's `\\s`
and `str.split()` differ from it: they also split at U+001C..U+001F.
"""

import re

WHITE_SPACE = (
    "[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)

_WHITE_SPACE = re.compile(WHITE_SPACE)


def normalize_spaces(text: str) -> str:
    """`text` with each `White_Space` character made a space and the ends
    stripped: what the translators tokenize, the Python twin of the graph's
    `nlp_lstm.text.words.normalize_spaces` followed by `tf.strings.strip`."""
    return _WHITE_SPACE.sub(" ", text).strip(" ")


def split_white_space(text: str) -> list[str]:
    """The words of `text` between `White_Space` characters (Python's
    `str.split()` also splits at U+001C..U+001F, the graph does not)."""
    return [word for word in _WHITE_SPACE.split(text) if word]
