"""Word-level text processing: tokenization, vocabularies and token features.

Everything that turns strings into ids runs in the TensorFlow graph
(`TokenFeaturizer`), and the same code serves training and the exported
SavedModel, so that the two never disagree on how a word is normalized.

- `tokenize` splits raw sentences into words with tensorflow_text's
  `WhitespaceTokenizer` or `UnicodeScriptTokenizer`.
- `WordVocabulary` keeps the words seen at least `min_frequency` times
  (after lowercasing and digit normalization); others map to `[UNK]`.
- `CharVocabulary` maps characters (Unicode code points) to ids, unknown ones
  to `[UNK]`.
- `casing_ids` classifies each token's casing (lower, UPPER, Title, ...).
- `load_pretrained_vectors` reads a local GloVe or word2vec text file.
"""

from __future__ import annotations

import collections
import logging

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from nlp_lstm.text.unicode import WHITE_SPACE

PAD = ""
UNK = "[UNK]"
PAD_ID = 0
UNK_ID = 1
TOKENIZERS = ("whitespace", "unicode_script")

# Casing classes; 0 is padding.
CASING = ("pad", "lower", "upper", "title", "mixed", "numeric", "has_digit", "other")


def valid_utf8(strings: tf.Tensor) -> tf.Tensor:
    """`strings` with each invalid UTF-8 sequence replaced by U+FFFD, so that
    every token and output string is text."""
    return tf.strings.unicode_transcode(
        strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )


def normalize_spaces(strings: tf.Tensor) -> tf.Tensor:
    """Valid UTF-8 (`valid_utf8`) with every Unicode `White_Space` character
    made a space: what the tokenizers (words and SentencePiece) read."""
    return tf.strings.regex_replace(valid_utf8(strings), WHITE_SPACE, " ")


def tokenize(sentences: tf.Tensor, kind: str = "whitespace") -> tf.RaggedTensor:
    """Splits raw sentences `tf.string [batch]` into words, ragged `[batch, (words)]`.

    `unicode_script` also splits where the Unicode script changes, so that
    punctuation is cut from words ("Hello," -> "Hello", ",").

    Words are separated by the Unicode `White_Space` characters
    (`nlp_lstm.text.unicode.WHITE_SPACE`): they are made spaces first, as
    `WhitespaceTokenizer` cuts a multi-byte one in half (U+00A0 left
    `b"Barack\\xc2"`, invalid UTF-8).
    """
    sentences = normalize_spaces(sentences)
    if kind == "whitespace":
        return tf_text.WhitespaceTokenizer().tokenize(sentences)
    if kind == "unicode_script":
        tokens = tf_text.UnicodeScriptTokenizer().tokenize(sentences)
        return tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
    raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {kind!r}")


def normalize_words(
    tokens: tf.Tensor, lowercase: bool = True, normalize_digits: bool = True
) -> tf.Tensor:
    """The form of a word that is looked up in the word vocabulary."""
    if lowercase:
        tokens = tf.strings.lower(tokens, encoding="utf-8")
    if normalize_digits:
        tokens = tf.strings.regex_replace(tokens, r"\d", "0")
    return tokens


def casing_ids(tokens: tf.Tensor) -> tf.Tensor:
    """The `CASING` class of each token, int32 of the same shape; "" is pad."""
    checks = [
        (r"\p{N}+", "numeric"),
        (r"\p{Ll}+", "lower"),
        (r"\p{Lu}+", "upper"),
        (r"\p{Lu}\p{Ll}+", "title"),
        (r".*\p{N}.*", "has_digit"),
        (r"\p{L}+", "mixed"),
    ]
    result = tf.fill(tf.shape(tokens), CASING.index("other"))
    # The first matching check wins: apply them in reverse order.
    for pattern, name in reversed(checks):
        matched = tf.strings.regex_full_match(tokens, pattern)
        result = tf.where(matched, CASING.index(name), result)
    return tf.where(tf.equal(tokens, PAD), CASING.index("pad"), result)


def _count(values) -> collections.Counter:
    counts = collections.Counter()
    for value in values:
        counts[value.decode("utf-8")] += 1
    return counts


class WordVocabulary:
    """Words with ids; id 0 is padding (""), id 1 the unknown word.

    Args:
        words: list[str]. The known words, without the two special ones.
        lowercase: bool. Look words up lowercased.
        normalize_digits: bool. Look words up with every digit replaced by 0.
        counts: list[int] or None. How often each word was seen in training
            (`build` sets them; not saved: a loaded vocabulary has none).

    Example:
    >>> vocabulary = WordVocabulary.build([["The", "cat"], ["the", "dog"]], 2)
    >>> vocabulary.words, vocabulary.size
    (['the'], 3)
    """

    def __init__(self, words: list[str], lowercase: bool = True,
                 normalize_digits: bool = True, counts: list[int] | None = None):
        specials = {PAD, UNK}
        if any(word in specials for word in words):
            raise ValueError(f"words must not contain the special words {specials}")
        if counts is not None and len(counts) != len(words):
            raise ValueError(f"{len(counts)} counts for {len(words)} words")
        self.words = list(words)
        self.counts = None if counts is None else list(counts)
        self.lowercase = lowercase
        self.normalize_digits = normalize_digits

    @classmethod
    def build(
        cls,
        sentences,
        min_frequency: int = 2,
        max_words: int = 0,
        lowercase: bool = True,
        normalize_digits: bool = True,
    ) -> WordVocabulary:
        """Keeps words seen at least `min_frequency` times, most frequent first
        (ties alphabetically), at most `max_words` of them (0: no limit)."""
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
        flat = tf.constant([token for tokens in sentences for token in tokens] or [""])
        normalized = normalize_words(flat, lowercase, normalize_digits).numpy()
        counts = _count(normalized)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        words = sorted(
            (word for word, count in counts.items() if count >= min_frequency),
            key=lambda word: (-counts[word], word),
        )
        if max_words:
            words = words[:max_words]
        return cls(words, lowercase, normalize_digits, [counts[w] for w in words])

    @property
    def size(self) -> int:
        return len(self.words) + 2

    def first_id_seen_at_most(self, count: int) -> int:
        """The first id of the words seen at most `count` times in training
        (they are the vocabulary's tail: words are sorted by frequency);
        `size` if there is none."""
        if self.counts is None:
            raise ValueError(
                "this vocabulary has no training counts: build it from the "
                "training sentences (WordVocabulary.build)"
            )
        frequent = sum(seen > count for seen in self.counts)
        return UNK_ID + 1 + frequent

    @property
    def all_words(self) -> list[str]:
        return [PAD, UNK] + self.words

    def in_vocabulary(self, sentences: list[list[str]]) -> list[list[bool]]:
        """Whether each token has its own embedding: its normalized form
        (`normalize_words`, as the model looks it up) is in the vocabulary."""
        flat = [token for row in sentences for token in row]
        if not flat:
            return [[] for _ in sentences]
        known = set(self.words)
        normalized = normalize_words(
            tf.constant(flat, tf.string), self.lowercase, self.normalize_digits
        ).numpy()
        found = iter(word.decode("utf-8") in known for word in normalized)
        return [[next(found) for _ in row] for row in sentences]

    def get_config(self) -> dict:
        return {
            "words": self.words,
            "lowercase": self.lowercase,
            "normalize_digits": self.normalize_digits,
        }

    @classmethod
    def from_config(cls, config: dict) -> WordVocabulary:
        return cls(**config)


class CharVocabulary:
    """Characters (Unicode code points) with ids; 0 is padding, 1 unknown.

    Args:
        chars: list[str]. The known characters.
        max_word_chars: int. Words are cut to their first `max_word_chars`
            characters.

    Example:
    >>> vocabulary = CharVocabulary.build([["aab", "b"]])
    >>> vocabulary.chars, vocabulary.size
    (['a', 'b'], 4)
    """

    def __init__(self, chars: list[str], max_word_chars: int = 20):
        if max_word_chars < 1:
            raise ValueError(f"max_word_chars must be positive, got {max_word_chars}")
        self.chars = list(chars)
        self.max_word_chars = max_word_chars

    @classmethod
    def build(cls, sentences, min_frequency: int = 1, max_word_chars: int = 20):
        counts = collections.Counter(
            char for tokens in sentences for token in tokens for char in token
        )
        chars = sorted(
            (char for char, count in counts.items() if count >= min_frequency),
            key=lambda char: (-counts[char], char),
        )
        return cls(chars, max_word_chars)

    @property
    def size(self) -> int:
        return len(self.chars) + 2

    def get_config(self) -> dict:
        return {"chars": self.chars, "max_word_chars": self.max_word_chars}

    @classmethod
    def from_config(cls, config: dict) -> CharVocabulary:
        return cls(**config)


def _table(keys: list[str], first_id: int, default: int) -> tf.lookup.StaticHashTable:
    initializer = tf.lookup.KeyValueTensorInitializer(
        tf.constant(keys or ["\x00"], tf.string),
        tf.range(first_id, first_id + max(len(keys), 1), dtype=tf.int32),
    )
    return tf.lookup.StaticHashTable(initializer, default_value=default)


class TokenFeaturizer(tf.Module):
    """Turns padded token strings into the dense ids a `WordEmbedder` reads.

    Args:
        words: WordVocabulary.
        chars: CharVocabulary.

    Call arguments:
        tokens: tf.string `(batch, time)`, padded with "".

    Returns:
        A dict of int32 tensors: `word_ids (batch, time)`, `char_ids (batch,
        time, max_word_chars)` and `casing_ids (batch, time)`; 0 on padding.

    Example:
    >>> featurizer = TokenFeaturizer(WordVocabulary(["the"]), CharVocabulary(["t"]))
    >>> features = featurizer(tf.constant([["The", "Cat"]]))
    >>> features["word_ids"].numpy().tolist(), features["casing_ids"].numpy().tolist()
    ([[2, 1]], [[3, 3]])
    """

    def __init__(self, words: WordVocabulary, chars: CharVocabulary, name=None):
        super().__init__(name=name)
        self.words = words
        self.chars = chars
        self.word_table = _table(words.words, 2, UNK_ID)
        self.char_table = _table(chars.chars, 2, UNK_ID)

    def __call__(self, tokens: tf.Tensor) -> dict:
        tokens = tf.convert_to_tensor(tokens, tf.string)
        is_token = tf.not_equal(tokens, PAD)
        normalized = normalize_words(
            tokens, self.words.lowercase, self.words.normalize_digits
        )
        word_ids = tf.where(is_token, self.word_table.lookup(normalized), PAD_ID)
        # (batch * time, (chars)): ragged only here, before the model core.
        # `to_tensor` cuts words to `max_word_chars`: slicing the ragged
        # tensor instead would add a run-time assertion, a stateful op, which
        # a `tf.function` runs in program order with the other towers' ones
        # (`training.trainer.make_gradient_fn`): the next tower would wait.
        chars = tf.strings.unicode_split(
            tf.reshape(tokens, [-1]), "UTF-8", errors="replace"
        )
        char_ids = tf.ragged.map_flat_values(self.char_table.lookup, chars)
        shape = tf.shape(tokens, out_type=tf.int64)
        max_chars = self.chars.max_word_chars
        char_ids = char_ids.to_tensor(
            default_value=PAD_ID, shape=tf.stack([shape[0] * shape[1], max_chars])
        )
        char_ids = tf.reshape(char_ids, tf.stack([shape[0], shape[1], max_chars]))
        return {
            "word_ids": word_ids,
            "char_ids": char_ids,
            "casing_ids": casing_ids(tokens),
        }


def load_pretrained_vectors(
    path: str, vocabulary: WordVocabulary, dim: int, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Reads a GloVe (`word v1 ... vd`) or word2vec text file (same lines after
    a `count dim` header) into an embedding matrix for `vocabulary`.

    Words of the vocabulary missing from the file keep a small random vector;
    the file's words are normalized like the vocabulary's, the first vector of
    a normalized word wins.

    Returns:
        `(matrix, found)`: float32 `(vocabulary.size, dim)` and how many
        vocabulary words the file had.
    """
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.1, (vocabulary.size, dim)).astype(np.float32)
    matrix[PAD_ID] = 0.0
    index = {word: i for i, word in enumerate(vocabulary.all_words) if i > UNK_ID}
    words, vectors, numbers = [], [], []
    with open(path, encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream, start=1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header.
            if len(parts) != dim + 1:
                raise ValueError(
                    f"{path}:{number}: expected a word and {dim} numbers, got "
                    f"{len(parts) - 1} numbers; set model.embedder.word_dim to the "
                    "file's vector size"
                )
            words.append(parts[0])
            vectors.append(parts[1:])
            numbers.append(number)
    if not words:
        raise ValueError(f"{path} has no vectors; give a GloVe or word2vec text file")
    normalized = normalize_words(
        tf.constant(words), vocabulary.lowercase, vocabulary.normalize_digits
    ).numpy()
    found = set()
    for word, vector, number in zip(normalized, vectors, numbers, strict=True):
        row = index.get(word.decode("utf-8"))
        if row is None or row in found:
            continue
        try:
            matrix[row] = np.asarray(vector, dtype=np.float32)
        except ValueError:
            raise ValueError(f"{path}:{number}: the vector is not numbers") from None
        found.add(row)
    logging.info("Pretrained vectors for %d of %d words", len(found), vocabulary.size)
    return matrix, len(found)


def pad_tokens(tokens: tf.RaggedTensor, max_tokens: int):
    """Cuts sentences to `max_tokens` and pads them with "" to a dense tensor.

    Returns:
        `(tokens, lengths, truncated)`: tf.string `(batch, time)` with
        `time >= 1`, int32 `(batch,)` and bool `(batch,)`.
    """
    full = tf.cast(tokens.row_lengths(), tf.int32)
    tokens = tokens[:, :max_tokens]
    lengths = tf.cast(tokens.row_lengths(), tf.int32)
    time = tf.maximum(tf.reduce_max(tf.concat([lengths, [0]], 0)), 1)
    shape = tf.stack([tf.size(lengths), time])
    dense = tokens.to_tensor(default_value=PAD, shape=shape)
    return dense, lengths, full > lengths
