"""Fused runners of the bidirectional LSTM layers of the models.

They plug into the models' own seams: `FusedEncoderLayers` is a `layer_fn`
of `StackedBidirectionalEncoder.call` (the encoder keeps its residual stack)
and `FusedBidirectional.encode_words` a `char_fn` of `WordEmbedder.call`.
LSTM and peephole LSTM layers become `UNIDIRECTIONAL_SEQUENCE_LSTM` ops; GRU
layers, which TFLite has no fused op for, run through the Keras layers (their
`tf.while_loop` converts to a builtin `WHILE`).
"""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.export.tflite.fused_lstm import FusedLSTM, last_outputs
from nlp_lstm.layers import cells
from nlp_lstm.layers.encoder import sequence_lengths

# Cells that become `UNIDIRECTIONAL_SEQUENCE_LSTM` ops.
FUSED_CELLS = ("lstm", "peephole_lstm")


class FusedBidirectional:
    """A Keras `Bidirectional(LSTM)` as two fused directions.

    Args:
        layer: a built `keras.layers.Bidirectional` over an `LSTM`.
        batch: int. Fixed batch size of the calls.
    """

    def __init__(self, layer, batch: int = 1):
        kind = cells.cell_kind(layer.forward_layer.cell)
        if kind not in FUSED_CELLS:
            raise ValueError(
                f"only {' and '.join(FUSED_CELLS)} layers convert to fused TFLite "
                f"ops, got {kind}"
            )
        self.forward = FusedLSTM(layer.forward_layer, batch)
        self.backward = FusedLSTM(layer.backward_layer, batch)

    @property
    def peepholes(self) -> list:
        """`(recurrent_kernel, peepholes)` of each direction with peepholes,
        for `peepholes.add_peepholes`."""
        return [
            (lstm.recurrent, lstm.peepholes)
            for lstm in (self.forward, self.backward)
            if lstm.peepholes is not None
        ]

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
    encoder's layers as fused ops (`UNIDIRECTIONAL_SEQUENCE_LSTM`), or for a
    GRU encoder through the Keras layers.

    Outputs at padded positions are not defined (they are masked downstream).

    Args:
        encoder: a built `StackedBidirectionalEncoder`.
        batch: int. Fixed batch size.

    Example: `encoder(x, mask=mask, layer_fn=FusedEncoderLayers(encoder))`;
    after conversion, write `peepholes` into the file
    (`peepholes.add_peepholes`).
    """

    def __init__(self, encoder, batch: int = 1):
        self.encoder = encoder
        self.layers = {}
        if encoder.cell in FUSED_CELLS:
            # By identity: the encoder calls `layer_fn` with its own layers.
            self.layers = {
                id(layer): FusedBidirectional(layer, batch)
                for layer in encoder.rnn_layers
            }

    @property
    def peepholes(self) -> list:
        """What `peepholes.add_peepholes` needs for the converted file."""
        return [entry for fused in self.layers.values() for entry in fused.peepholes]

    def __call__(self, layer, inputs, mask=None, training=False):
        if not self.layers:
            # Keras' GRU loop: a WHILE of builtin ops once converted.
            return self.encoder.run_keras(layer, inputs, mask)
        fused = self.layers[id(layer)]
        lengths = sequence_lengths(inputs, mask)
        forward, backward = fused(inputs, lengths)
        states = fused.final_states(inputs, lengths, forward, backward)
        return tf.concat([forward, backward], axis=-1), states
