"""Token representations for the tagger: word, character and casing features."""

from __future__ import annotations

import keras
from keras import ops

from nlp_lstm.layers.dropout import Dropout
from nlp_lstm.text.words import UNK_ID
from nlp_lstm.utils import serialization
from nlp_lstm.utils.arguments import check_positive_int, check_rate

CHAR_ENCODERS = ("cnn", "lstm", "none")


@keras.saving.register_keras_serializable(package="nlp_lstm")
class WordEmbedder(keras.layers.Layer):
    """Concatenates a word embedding, a character-level word encoding and a
    casing embedding for every token.

    The character encoding is a CNN with max-pooling over the characters of a
    word, or the final states of a BiLSTM over them (Lample et al. 2016).
    Pretrained word vectors are loaded after building with
    `embedder.word_embedding.embeddings.assign(matrix)`; they are weights, not
    config.

    Reference:
        Lample et al. 2016, "Neural Architectures for Named Entity Recognition";
        Ma and Hovy 2016, "End-to-end Sequence Labeling via Bi-directional
        LSTM-CNNs-CRF".

    Args:
        vocabulary_size: int. Number of word ids (id 0 is padding).
        word_dim: int. Size of the word embedding.
        char_vocabulary_size: int. Number of character ids (0 is padding).
        char_encoder: str. `"cnn"`, `"lstm"` or `"none"`.
        char_dim: int. Size of the character embedding.
        char_units: int. CNN filters, or LSTM units per direction.
        char_kernel_size: int. CNN kernel width.
        num_casing: int. Number of casing classes (0 disables casing features).
        casing_dim: int. Size of the casing embedding.
        dropout: float. Dropout on the concatenated features.
        word_dropout: float. In training, the probability that a word is
            replaced by the unknown word (which trains its embedding).
        word_dropout_from_id: int. Only word ids from this one up are
            replaced. Vocabularies are sorted by frequency, so their tail
            are the rare words: the first id of the words seen once gives
            Lample et al.'s singleton replacement. Default: every known word.

    Call arguments:
        inputs: dict of int tensors `word_ids (batch, time)`, `char_ids
            (batch, time, chars)` and `casing_ids (batch, time)`.
        training: bool.
        char_fn: callable or None. Runs in place of `encode_chars`, with the
            same arguments and results (an export passes its fused char
            BiLSTM).

    Returns:
        float `(batch, time, output_dim)`; its mask is `word_ids != 0`.

    Example:
    >>> embedder = WordEmbedder(10, 4, char_vocabulary_size=6, char_units=3,
    ...                         num_casing=8, casing_dim=2)
    >>> outputs = embedder({"word_ids": keras.ops.ones((2, 5), "int32"),
    ...                     "char_ids": keras.ops.ones((2, 5, 7), "int32"),
    ...                     "casing_ids": keras.ops.ones((2, 5), "int32")})
    >>> tuple(outputs.shape)
    (2, 5, 9)
    """

    def __init__(
        self,
        vocabulary_size: int,
        word_dim: int = 100,
        char_vocabulary_size: int = 0,
        char_encoder: str = "cnn",
        char_dim: int = 30,
        char_units: int = 50,
        char_kernel_size: int = 3,
        num_casing: int = 0,
        casing_dim: int = 0,
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        word_dropout_from_id: int = UNK_ID + 1,
        embedding_init: float = 0.05,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("vocabulary_size", vocabulary_size),
            ("word_dim", word_dim),
            ("char_dim", char_dim),
            ("char_units", char_units),
            ("char_kernel_size", char_kernel_size),
        ):
            check_positive_int(name, value)
        if char_encoder not in CHAR_ENCODERS:
            raise ValueError(
                f"char_encoder must be one of {CHAR_ENCODERS}, got {char_encoder!r}"
            )
        if char_encoder != "none" and char_vocabulary_size < 2:
            raise ValueError(
                "char_vocabulary_size must be at least 2 with a char encoder, got "
                f"{char_vocabulary_size}"
            )
        check_rate("dropout", dropout)
        check_rate("word_dropout", word_dropout)
        if not isinstance(word_dropout_from_id, int) or word_dropout_from_id <= UNK_ID:
            raise ValueError(
                f"word_dropout_from_id must be an integer above {UNK_ID} (the unknown "
                f"word), got {word_dropout_from_id}"
            )
        self.vocabulary_size = vocabulary_size
        self.word_dim = word_dim
        self.char_vocabulary_size = char_vocabulary_size
        self.char_encoder = char_encoder
        self.char_dim = char_dim
        self.char_units = char_units
        self.char_kernel_size = char_kernel_size
        self.num_casing = num_casing
        self.casing_dim = casing_dim
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.word_dropout_from_id = word_dropout_from_id
        self.embedding_init = embedding_init
        self.supports_masking = True
        # Word dropout trains the unknown word's embedding: without it, a
        # vocabulary of every training word leaves `[UNK]` untrained, and unseen
        # words at test time (most new entities) get a random vector.
        self.seed_generator = keras.random.SeedGenerator(0) if word_dropout else None

        def embedding(size, dim, name):
            return keras.layers.Embedding(
                size, dim, name=name,
                embeddings_initializer=keras.initializers.RandomUniform(
                    -embedding_init, embedding_init
                ),
            )

        self.word_embedding = embedding(vocabulary_size, word_dim, "word_embedding")
        self.char_embedding = None
        self.char_layer = None
        if char_encoder != "none":
            self.char_embedding = embedding(
                char_vocabulary_size, char_dim, "char_embedding"
            )
            if char_encoder == "cnn":
                self.char_layer = keras.layers.Conv1D(
                    char_units, char_kernel_size, padding="same", activation="tanh",
                    name="char_cnn",
                )
            else:
                self.char_layer = serialization.bidirectional(
                    keras.layers.LSTM(char_units), name="char_lstm"
                )
        self.casing_embedding = None
        if num_casing and casing_dim:
            self.casing_embedding = embedding(
                num_casing, casing_dim, "casing_embedding"
            )
        self.dropout_layer = Dropout(dropout)

    @property
    def output_dim(self) -> int:
        size = self.word_dim
        if self.char_encoder == "cnn":
            size += self.char_units
        elif self.char_encoder == "lstm":
            size += 2 * self.char_units
        if self.casing_embedding is not None:
            size += self.casing_dim
        return size

    def build(self, input_shape=None):
        shapes = [
            (self.word_embedding, (None, None)),
            (self.char_embedding, (None, None)),
            (self.char_layer, (None, None, self.char_dim)),
            (self.casing_embedding, (None, None)),
        ]
        for layer, shape in shapes:
            if layer is not None and not layer.built:
                layer.build(shape)
        self.built = True

    def encode_chars(self, embedded, char_mask):
        """The char encoder: one vector per word.

        Args:
            embedded: `(words, chars, char_dim)` character embeddings.
            char_mask: bool `(words, chars)`, True on real characters (right
                padding).

        Returns:
            `(words, char_units)` (CNN) or `(words, 2 * char_units)` (BiLSTM
            final states, forward then backward); zeros for empty words.
        """
        if self.char_encoder == "lstm":
            return self.char_layer(embedded, mask=char_mask)
        # Zero the padding, as the convolution's own "same" padding is.
        embedded = embedded * ops.cast(char_mask, embedded.dtype)[:, :, None]
        features = self.char_layer(embedded)
        # Max over real characters only; words without any get zeros.
        features = ops.where(char_mask[:, :, None], features, -1e9)
        features = ops.max(features, axis=1)
        return ops.where(ops.any(char_mask, axis=1)[:, None], features, 0.0)

    def char_features(self, char_ids, char_fn=None, trim=False):
        """Char features `(batch, time, features)` of `char_ids (batch, time,
        chars)`; `char_fn` replaces `encode_chars` (same arguments). `trim`
        first cuts the columns past the batch's longest word (padding in every
        row, which neither encoder reads: the same features, fewer steps, a
        dynamic shape)."""
        encode = self.encode_chars if char_fn is None else char_fn
        shape = ops.shape(char_ids)
        batch, time, chars = shape[0], shape[1], shape[2]
        # (batch * time, chars): one row per word.
        flat_ids = ops.reshape(char_ids, (-1, chars))
        char_mask = ops.not_equal(flat_ids, 0)
        if trim:
            positions = ops.arange(1, chars + 1, dtype="int32")
            longest = ops.max(ops.where(char_mask, positions[None, :], 1))
            flat_ids, char_mask = flat_ids[:, :longest], char_mask[:, :longest]
        embedded = self.char_embedding(flat_ids)  # (batch * time, chars, char_dim)
        features = encode(embedded, char_mask)
        return ops.reshape(features, (batch, time, ops.shape(features)[-1]))

    def call(self, inputs, training=False, char_fn=None, trim_chars=True):
        """Word features `(batch, time, output_dim)`. `trim_chars`: cut the
        char ids past the batch's longest word first (`char_features`: the
        same features, fewer steps); False keeps their width (TFLite's
        static shapes)."""
        word_ids = inputs["word_ids"]
        if training and self.word_dropout:
            dropped = keras.random.uniform(
                ops.shape(word_ids), seed=self.seed_generator
            ) < self.word_dropout
            dropped = ops.logical_and(
                dropped, ops.greater_equal(word_ids, self.word_dropout_from_id)
            )
            word_ids = ops.where(dropped, UNK_ID, word_ids)
        parts = [self.word_embedding(word_ids)]
        if self.char_embedding is not None:
            parts.append(
                self.char_features(inputs["char_ids"], char_fn, trim=trim_chars)
            )
        if self.casing_embedding is not None:
            parts.append(self.casing_embedding(inputs["casing_ids"]))
        outputs = ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        return self.dropout_layer(outputs, training=training)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs["word_ids"], 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "word_dim": self.word_dim,
                "char_vocabulary_size": self.char_vocabulary_size,
                "char_encoder": self.char_encoder,
                "char_dim": self.char_dim,
                "char_units": self.char_units,
                "char_kernel_size": self.char_kernel_size,
                "num_casing": self.num_casing,
                "casing_dim": self.casing_dim,
                "dropout": self.dropout,
                "word_dropout": self.word_dropout,
                "word_dropout_from_id": self.word_dropout_from_id,
                "embedding_init": self.embedding_init,
            }
        )
        return config
