"""The `StackedBidirectionalEncoder` (and a char BiLSTM) on fused LSTM functions."""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.export.tflite.fused_lstm import FusedLSTM, last_outputs


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
        """Outputs `(batch, time, 2 * units)` of right-padded `x`."""
        forward = self.forward(x, lengths)
        backward = self.backward(x, lengths, reverse=True)
        return forward, backward

    def final_states(self, x, lengths, forward, backward, with_cell: bool = True):
        """`[h]` or `[h, c]`, each `(batch, 2 * units)` (forward then backward)."""
        h = tf.concat([last_outputs(forward, lengths), backward[:, 0]], axis=-1)
        if not with_cell:
            return [h]
        c = tf.concat(
            [
                self.forward.final_cell_state(x, forward, lengths),
                self.backward.final_cell_state(x, backward, lengths, reverse=True),
            ],
            axis=-1,
        )
        return [h, c]


class FusedEncoder:
    """`StackedBidirectionalEncoder` (LSTM cells) on fused ops, batch 1.

    Args:
        encoder: a built `StackedBidirectionalEncoder`.
        batch: int. Fixed batch size.
    """

    def __init__(self, encoder, batch: int = 1):
        if encoder.cell != "lstm":
            raise ValueError(f"only LSTM encoders convert, got cell {encoder.cell!r}")
        self.residual = encoder.residual
        self.layers = [FusedBidirectional(layer, batch) for layer in encoder.rnn_layers]

    def __call__(self, inputs, lengths, final_states: bool = False):
        """Returns `(outputs, states)` like the Keras encoder (states: per layer
        `[h, c]`, only computed with `final_states`). Outputs at padded
        positions are not defined."""
        outputs = inputs
        states = []
        for index, layer in enumerate(self.layers):
            forward, backward = layer(outputs, lengths)
            if final_states:
                states.append(layer.final_states(outputs, lengths, forward, backward))
            layer_outputs = tf.concat([forward, backward], axis=-1)
            if self.residual and index > 0:
                layer_outputs = layer_outputs + outputs
            outputs = layer_outputs
        return outputs, states
