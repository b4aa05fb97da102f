"""Fused runners of the bidirectional LSTM layers of the models.

They plug into the models' own seams: `FusedEncoderLayers` is a `layer_fn`
of `StackedBidirectionalEncoder.call` (the encoder keeps its residual stack)
and `FusedBidirectional.encode_words` a `char_fn` of `WordEmbedder.call`.
"""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.export.tflite.fused_lstm import FusedLSTM, last_outputs
from nlp_lstm.layers.encoder import sequence_lengths


class FusedBidirectional:
    """A Keras `Bidirectional(LSTM)` as two fused directions.

    Args:
        layer: a built `keras.layers.Bidirectional` over an `LSTM`.
        batch: int. Fixed batch size of the calls.
    """

    def __init__(self, layer, batch: int = 1):
        if layer.forward_layer.__class__.__name__ != "LSTM":
            raise ValueError(
                "only LSTM layers convert to fused TFLite ops, got "
                f"{layer.forward_layer.__class__.__name__}"
            )
        self.forward = FusedLSTM(layer.forward_layer, batch)
        self.backward = FusedLSTM(layer.backward_layer, batch)

    def __call__(self, x, lengths):
        """`(forward, backward)` outputs, each `(batch, time, units)`, of
        right-padded `x`; not defined on padding."""
        forward = self.forward(x, lengths)
        backward = self.backward(x, lengths, reverse=True)
        return forward, backward

    def final_states(self, x, lengths, forward, backward):
        """`[h, c]`, each `(batch, 2 * units)` (forward then backward)."""
        h = tf.concat([last_outputs(forward, lengths), backward[:, 0]], axis=-1)
        c = tf.concat(
            [
                self.forward.final_cell_state(x, forward, lengths),
                self.backward.final_cell_state(x, backward, lengths, reverse=True),
            ],
            axis=-1,
        )
        return [h, c]

    def encode_words(self, embedded, char_mask):
        """The final states of both directions over each word, `(words, 2 *
        units)`: a `char_fn` of `WordEmbedder` (batch 1).

        All the words run as one batch-1 sequence with a state reset before
        each (`FusedLSTM.run_segments`), since a fused LSTM needs a fixed
        batch size; the characters past the longest word are cut first.
        """
        lengths = sequence_lengths(embedded, char_mask)
        longest = tf.maximum(tf.reduce_max(lengths), 1)
        embedded = embedded[:, :longest]
        forward = self.forward.run_segments(embedded)
        backward = self.backward.run_segments(
            tf.reverse_sequence(embedded, lengths, seq_axis=1, batch_axis=0)
        )
        # The state after the last real character, in each reading order.
        return tf.concat(
            [last_outputs(forward, lengths), last_outputs(backward, lengths)], -1
        )


class FusedEncoderLayers:
    """A `layer_fn` of `StackedBidirectionalEncoder.call`: each of the
    encoder's layers as fused ops (`UNIDIRECTIONAL_SEQUENCE_LSTM`).

    Outputs at padded positions are not defined (they are masked downstream).

    Args:
        encoder: a built `StackedBidirectionalEncoder` with LSTM cells.
        batch: int. Fixed batch size.

    Example: `encoder(x, mask=mask, layer_fn=FusedEncoderLayers(encoder))`.
    """

    def __init__(self, encoder, batch: int = 1):
        if encoder.cell != "lstm":
            raise ValueError(f"only LSTM encoders convert, got cell {encoder.cell!r}")
        # By identity: the encoder calls `layer_fn` with its own layers.
        self.layers = {
            id(layer): FusedBidirectional(layer, batch) for layer in encoder.rnn_layers
        }

    def __call__(self, layer, inputs, mask=None, training=False):
        fused = self.layers[id(layer)]
        lengths = sequence_lengths(inputs, mask)
        forward, backward = fused(inputs, lengths)
        states = fused.final_states(inputs, lengths, forward, backward)
        return tf.concat([forward, backward], axis=-1), states
