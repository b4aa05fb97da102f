"""The tagger: an embedder, the shared BiLSTM encoder and a softmax or CRF head."""

from __future__ import annotations

import keras
import tensorflow as tf

from nlp_lstm.layers.crf import CRF
from nlp_lstm.layers.dropout import Dropout
from nlp_lstm.layers.encoder import build_encoder
from nlp_lstm.layers.output import sparse_cross_entropy
from nlp_lstm.layers.word_embedding import WordEmbedder
from nlp_lstm.text import tags as tag_schemes
from nlp_lstm.text.words import CASING, UNK_ID
from nlp_lstm.utils.arguments import check_positive_int
from nlp_lstm.utils.serialization import deserialize_parts, serialize_parts


@keras.saving.register_keras_serializable(package="nlp_lstm")
class Tagger(keras.Model):
    """Labels every token of a padded batch of sentences.

    Token features go through the embedder, the encoder and a dense
    projection onto the tags; the head is a softmax over each token's tag
    scores, or a `CRF` over the whole sentence (pass `crf`). Padding (word id
    0) is masked everywhere. `call` returns the tag scores
    `(batch, time, num_tags)` (see `scores`); `tag_loss` and `decode` use the
    head.

    Args:
        embedder: `WordEmbedder` (or any layer mapping the feature dict to
            `(batch, time, features)`).
        encoder: `StackedBidirectionalEncoder`.
        num_tags: int. Number of tags.
        crf: `CRF` or None for a softmax head.
        dropout: float. Dropout on the encoder outputs.

    Example:
    >>> tagger = Tagger(WordEmbedder(10, 4, char_encoder="none"),
    ...                 StackedBidirectionalEncoder(1, 3), num_tags=5)
    >>> inputs = {"word_ids": keras.ops.ones((2, 6), "int32")}
    >>> tuple(tagger(inputs).shape), tuple(tagger.decode(inputs).shape)
    ((2, 6, 5), (2, 6))
    """

    def __init__(self, embedder, encoder, num_tags: int, crf=None,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_tags", num_tags)
        if crf is not None and crf.num_tags != num_tags:
            raise ValueError(
                f"crf.num_tags must equal num_tags {num_tags}, got {crf.num_tags}"
            )
        self.embedder = embedder
        self.encoder = encoder
        self.num_tags = num_tags
        self.crf = crf
        self.dropout = dropout
        self.dropout_layer = Dropout(dropout)
        self.projection = keras.layers.Dense(num_tags, name="projection")

    @staticmethod
    def mask(inputs):
        return tf.not_equal(inputs["word_ids"], 0)

    def call(self, inputs, training=False, embedder_fn=None, encoder_fn=None):
        return self.scores(inputs, training, embedder_fn, encoder_fn)

    def scores(self, inputs, training=False, embedder_fn=None, encoder_fn=None):
        """Tag scores `(batch, time, num_tags)`.

        Args:
            inputs: the feature dict of the embedder.
            training: bool.
            embedder_fn: callable or None. Runs in place of `self.embedder`:
                `embedder_fn(inputs, training=) -> (batch, time, features)`.
            encoder_fn: callable or None. Runs in place of `self.encoder`:
                `encoder_fn(embedded, mask=, training=) -> (outputs, states)`.
                An export passes the model's own parts with its fast runners
                (e.g. `functools.partial(encoder, layer_fn=...)`).
        """
        embedder = self.embedder if embedder_fn is None else embedder_fn
        encoder = self.encoder if encoder_fn is None else encoder_fn
        mask = self.mask(inputs)
        embedded = embedder(inputs, training=training)
        encoded, _ = encoder(embedded, mask=mask, training=training)
        encoded = self.dropout_layer(encoded, training=training)
        return self.projection(encoded)  # (batch, time, num_tags)

    def tag_loss(self, inputs, tags, training=False, encoder_fn=None):
        """Mean negative log-likelihood per token of gold `tags (batch, time)`
        (`encoder_fn`: as in `scores`).

        Returns:
            `(loss, tokens)`: the loss and the number of real tokens.
        """
        mask = self.mask(inputs)
        scores = tf.cast(
            self(inputs, training=training, encoder_fn=encoder_fn), tf.float32
        )
        tokens = tf.reduce_sum(tf.cast(mask, tf.float32))
        if self.crf is not None:
            likelihood = self.crf.log_likelihood(scores, tags, mask)
            # A row with no token (a chunk past a sequence's end) adds nothing.
            likelihood = tf.where(tf.reduce_any(mask, axis=1), likelihood, 0.0)
            nll = -tf.reduce_sum(likelihood)
        else:
            losses = sparse_cross_entropy(tags, scores)
            nll = tf.reduce_sum(losses * tf.cast(mask, tf.float32))
        return nll / tf.maximum(tokens, 1.0), tokens

    def decode(self, inputs, embedder_fn=None, encoder_fn=None):
        """The best tag ids, int32 `(batch, time)`, 0 on padding
        (`embedder_fn`, `encoder_fn`: as in `scores`)."""
        # Through `__call__`, which builds the model on first use.
        scores = self(
            inputs, training=False, embedder_fn=embedder_fn, encoder_fn=encoder_fn
        )
        return self.best_tags(scores, self.mask(inputs))

    def best_tags(self, scores, mask):
        """The head's best tag ids for `scores (batch, time, num_tags)`: the
        CRF's Viterbi path or each token's argmax; 0 where `mask` is False."""
        if self.crf is not None:
            return self.crf.decode(scores, mask)[0]
        ids = tf.argmax(scores, axis=-1, output_type=tf.int32)
        return tf.where(mask, ids, 0)

    def build(self, input_shape=None):
        # Parts deserialized from a config arrive built.
        shapes = [
            (self.embedder, input_shape),
            (self.encoder, (None, None, self.embedder.output_dim)),
            (self.projection, (None, None, self.encoder.output_dim)),
            (self.crf, (None, None, self.num_tags)),
        ]
        for layer, shape in shapes:
            if layer is not None and not layer.built:
                layer.build(shape)
        self.built = True

    def build_from_config(self, config):
        self.build()

    PARTS = ("embedder", "encoder", "crf")

    def get_config(self):
        config = super().get_config()
        config.update(serialize_parts(self, self.PARTS))
        config.update({"num_tags": self.num_tags, "dropout": self.dropout})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_parts(config, cls.PARTS))


def build_tagger(model_config, tag_vocabulary, word_vocabulary_size: int,
                 char_vocabulary_size: int,
                 word_dropout_from_id: int = UNK_ID + 1) -> Tagger:
    """Builds a `Tagger` from a `TaggerModelConfig` and the vocabulary sizes;
    `word_dropout_from_id` is the first word id that word dropout replaces
    (`WordVocabulary.first_id_seen_at_most` for
    `embedder.word_dropout_max_count`; only training uses it)."""
    embedder_config = model_config.embedder
    embedder = WordEmbedder(
        vocabulary_size=word_vocabulary_size,
        word_dim=embedder_config.word_dim,
        char_vocabulary_size=char_vocabulary_size,
        char_encoder=embedder_config.char_encoder,
        char_dim=embedder_config.char_dim,
        char_units=embedder_config.char_units,
        char_kernel_size=embedder_config.char_kernel_size,
        num_casing=len(CASING) if embedder_config.casing_dim else 0,
        casing_dim=embedder_config.casing_dim,
        dropout=embedder_config.dropout,
        word_dropout=embedder_config.word_dropout,
        embedding_init=embedder_config.embedding_init,
        word_dropout_from_id=word_dropout_from_id,
        name="embedder",
    )
    encoder_config = model_config.encoder
    encoder = build_encoder(encoder_config)
    crf = None
    if model_config.head == "crf":
        allowed = {}
        if model_config.constrain_transitions:
            transitions, start, end = tag_schemes.allowed_transitions(
                tag_vocabulary.tags, tag_vocabulary.scheme
            )
            allowed = {
                "allowed_transitions": transitions.tolist(),
                "allowed_start": start.tolist(),
                "allowed_end": end.tolist(),
            }
        crf = CRF(
            len(tag_vocabulary),
            use_start_end=model_config.start_end_transitions,
            name="crf",
            **allowed,
        )
    tagger = Tagger(
        embedder, encoder, len(tag_vocabulary), crf=crf,
        dropout=model_config.dropout, name="tagger",
    )
    tagger.build()
    return tagger
