"""A trained `Tagger` as a TFLite module: fused BiLSTMs and the CRF Viterbi.

Signature `serving_default` (batch 1): `word_ids` int32 `(1, time)` (0 is padding),
`char_ids` int32 `(1, time, max_word_chars)` and `casing_ids` int32
`(1, time)` (only those the embedder reads) -> `tags` int32 `(1, time)` (0 on
padding). The ids are those of `nlp_lstm.text.words.TokenFeaturizer`; the
vocabularies travel beside the file. A char BiLSTM reads all the words of a
sentence as one sequence, its state reset before each word, since a fused
LSTM needs a fixed batch size.
"""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.export.tflite.encoder import FusedBidirectional, FusedEncoder
from nlp_lstm.export.tflite.fused_lstm import (
    frozen_weights,
    last_outputs,
    weight_values,
)


class TaggerTFLite(tf.Module):
    """The exported computation of a `Tagger`.

    Args:
        model: a trained `Tagger` (LSTM encoder).
        max_word_chars: int. Characters per word in `char_ids`.
        max_tokens: int. Longest sentence; the app cuts longer ones.
    """

    def __init__(self, model, max_word_chars: int = 20, max_tokens: int = 512):
        super().__init__(name="tagger_tflite")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.model = model
        self.weights = weight_values(model)
        self.max_word_chars = max_word_chars
        self.max_tokens = max_tokens
        self.encoder = FusedEncoder(model.encoder)
        embedder = model.embedder
        self.char_lstm = None
        if embedder.char_encoder == "lstm":
            self.char_lstm = FusedBidirectional(embedder.char_layer)

    @property
    def input_names(self) -> list[str]:
        embedder = self.model.embedder
        names = ["word_ids"]
        if embedder.char_encoder != "none":
            names.append("char_ids")
        if embedder.casing_embedding is not None:
            names.append("casing_ids")
        return names

    def _char_lstm_features(self, char_ids):
        """Char BiLSTM final states `(1, time, 2 * units)`: all the words of
        the sentence in one batch-1 sequence, with a state reset before each
        word (a fused LSTM needs a fixed batch size)."""
        words = char_ids[0]  # (time, chars)
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(words, 0), tf.int32), axis=1)
        longest = tf.maximum(tf.reduce_max(lengths), 1)
        embedded = self.model.embedder.char_embedding(words[:, :longest])
        forward = self.char_lstm.forward.run_segments(embedded)
        backward = self.char_lstm.backward.run_segments(
            tf.reverse_sequence(embedded, lengths, seq_axis=1, batch_axis=0)
        )
        # The state after the last real character, in each reading order.
        features = tf.concat(
            [last_outputs(forward, lengths), last_outputs(backward, lengths)], -1
        )
        return features[None]

    def tag(self, inputs: dict):
        model = self.model
        embedder = model.embedder
        word_ids = inputs["word_ids"]
        mask = tf.not_equal(word_ids, 0)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        parts = [embedder.word_embedding(word_ids)]
        if embedder.char_encoder == "cnn":
            parts.append(embedder._char_features(inputs["char_ids"]))
        elif embedder.char_encoder == "lstm":
            parts.append(self._char_lstm_features(inputs["char_ids"]))
        if embedder.casing_embedding is not None:
            parts.append(embedder.casing_embedding(inputs["casing_ids"]))
        embedded = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
        encoded, _ = self.encoder(embedded, lengths)
        scores = model.projection(encoded)  # (1, time, num_tags)
        if model.crf is not None:
            tags = model.crf.decode(scores, mask)[0]
        else:
            tags = tf.where(mask, tf.argmax(scores, -1, output_type=tf.int32), 0)
        return {"tags": tags}

    def functions(self) -> list:
        specs = {
            "word_ids": tf.TensorSpec([1, None], tf.int32, name="word_ids"),
            "char_ids": tf.TensorSpec(
                [1, None, self.max_word_chars], tf.int32, name="char_ids"
            ),
            "casing_ids": tf.TensorSpec([1, None], tf.int32, name="casing_ids"),
        }
        names = self.input_names

        def tag(*args):
            with frozen_weights(self.weights):
                return self.tag(dict(zip(names, args, strict=True)))

        function = tf.function(tag, autograph=False)
        return [function.get_concrete_function(*[specs[name] for name in names])]
