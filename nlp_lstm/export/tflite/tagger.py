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

import functools

import tensorflow as tf

from nlp_lstm.export.tflite.encoder import FusedBidirectional, FusedEncoderLayers
from nlp_lstm.export.tflite.fused_lstm import frozen_weights, weight_values


class TaggerTFLite(tf.Module):
    """The exported computation of a `Tagger`: the model's own `decode`, its
    encoder's layers (and a char BiLSTM) run by fused ops.

    Args:
        model: a trained `Tagger` (any encoder cell).
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
        self.encoder_layers = FusedEncoderLayers(model.encoder)
        self.encoder_fn = functools.partial(
            model.encoder, layer_fn=self.encoder_layers
        )
        self.embedder_fn = None
        embedder = model.embedder
        if embedder.char_encoder == "lstm":
            char_lstm = FusedBidirectional(embedder.char_layer)
            self.embedder_fn = functools.partial(
                embedder, char_fn=char_lstm.encode_words
            )

    @property
    def input_names(self) -> list[str]:
        embedder = self.model.embedder
        names = ["word_ids"]
        if embedder.char_encoder != "none":
            names.append("char_ids")
        if embedder.casing_embedding is not None:
            names.append("casing_ids")
        return names

    def tag(self, inputs: dict):
        # The char ids keep their width: static shapes in the file.
        embedder_fn = functools.partial(
            self.embedder_fn or self.model.embedder, trim_chars=False
        )
        tags = self.model.decode(
            inputs, embedder_fn=embedder_fn, encoder_fn=self.encoder_fn
        )
        return {"tags": tags}

    @property
    def fuses_lstms(self) -> bool:
        """Whether the file must have fused LSTM ops (an LSTM encoder or char
        BiLSTM)."""
        return bool(self.encoder_layers.layers) or self.embedder_fn is not None

    @property
    def peepholes(self) -> list:
        """What `peepholes.add_peepholes` writes into the converted file."""
        return self.encoder_layers.peepholes

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
