"""Stacked bidirectional RNN encoder shared by the translator and the tagger."""

from __future__ import annotations

import keras
import tensorflow as tf

from nlp_lstm.layers import lstm_loops

RNN_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
# How each bidirectional layer runs: "keras" through the Keras `Bidirectional`
# layer (the definition, any cell), "loops" through `lstm_loops` (LSTM only:
# both directions in one loop, hand-written backward pass), "auto" through
# "loops" for LSTM and "keras" otherwise.
IMPLEMENTATIONS = ("auto", "keras", "loops")


def state_size(cell: str) -> int:
    """Number of state tensors of one direction of `cell` (LSTM: h and c)."""
    return 2 if cell == "lstm" else 1


def sequence_lengths(inputs, mask=None):
    """Real steps of each row, int32 `(batch,)`, from a right-padding `mask`
    `(batch, time)` (None: every step of `inputs (batch, time, ...)`)."""
    if mask is None:
        return tf.fill(tf.shape(inputs)[:1], tf.shape(inputs)[1])
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class StackedBidirectionalEncoder(keras.layers.Layer):
    """N stacked bidirectional LSTM (or GRU) layers over a padded batch.

    Padding is masked: the forward direction's final state is the state at the
    last real token, and the backward direction starts at it. From the second
    layer on, a residual connection adds each layer's input to its output.

    Args:
        num_layers: int. Number of bidirectional layers.
        units: int. Hidden size of each direction; outputs have `2 * units`.
        cell: str. `"lstm"` or `"gru"`.
        dropout: float. Dropout on the inputs of every layer.
        residual: bool. Residual connections from the second layer on.
        implementation: str. How each bidirectional layer runs: `"keras"`
            (the Keras `Bidirectional` layer, any cell), `"loops"` (LSTM
            only: `lstm_loops.bidirectional_lstm`, the same math with a
            hand-written backward pass, faster to train on CPU) or `"auto"`
            (`"loops"` for LSTM, `"keras"` for GRU).

    Call arguments:
        inputs: float tensor `(batch, time, features)`.
        mask: bool tensor `(batch, time)`, True on real tokens (right
            padding).
        training: bool.
        layer_fn: callable or None. Runs one bidirectional layer in place of
            `run_layer`, with the same arguments and results (an export
            passes its fused runner); the residual stack stays this one.

    Returns:
        `(outputs, states)`: outputs `(batch, time, 2 * units)`, and for each
        layer a list of its final states (h, and c for LSTM), each the
        concatenation of both directions, `(batch, 2 * units)`.

    Example:
    >>> encoder = StackedBidirectionalEncoder(num_layers=2, units=8)
    >>> outputs, states = encoder(keras.ops.ones((3, 5, 4)))
    >>> tuple(outputs.shape), len(states), tuple(states[0][0].shape)
    ((3, 5, 16), 2, (3, 16))
    """

    def __init__(
        self,
        num_layers: int = 2,
        units: int = 128,
        cell: str = "lstm",
        dropout: float = 0.0,
        residual: bool = True,
        implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers}")
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units}")
        if cell not in RNN_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RNN_LAYERS)}, got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"implementation must be one of {IMPLEMENTATIONS}, got "
                f"{implementation!r}"
            )
        if implementation == "loops" and cell != "lstm":
            raise ValueError(
                f"implementation 'loops' needs cell 'lstm', got cell {cell!r}"
            )
        self.num_layers = num_layers
        self.units = units
        self.cell = cell
        self.dropout = dropout
        self.residual = residual
        self.implementation = implementation
        self.supports_masking = True
        rnn = RNN_LAYERS[cell]
        self.rnn_layers = [
            keras.layers.Bidirectional(
                rnn(units, return_sequences=True, return_state=True),
                name=f"bidirectional_{index}",
            )
            for index in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout)

    @property
    def output_dim(self) -> int:
        return 2 * self.units

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.rnn_layers:
            layer.build(shape)
            shape = shape[:-1] + (2 * self.units,)
        self.built = True

    @property
    def uses_loops(self) -> bool:
        """Whether `run_layer` takes the `lstm_loops` fast path."""
        if self.implementation == "auto":
            return self.cell == "lstm"
        return self.implementation == "loops"

    def call(self, inputs, mask=None, training=False, layer_fn=None):
        run = self.run_layer if layer_fn is None else layer_fn
        outputs = inputs
        final_states = []
        for index, layer in enumerate(self.rnn_layers):
            layer_inputs = self.dropout_layer(outputs, training=training)
            layer_outputs, states = run(layer, layer_inputs, mask, training)
            final_states.append(states)
            if self.residual and index > 0:
                # (batch, time, 2 * units): same width as the previous layer's.
                layer_outputs = layer_outputs + outputs
            outputs = layer_outputs
        return outputs, final_states

    def run_layer(self, layer, inputs, mask=None, training=False):
        """One bidirectional layer of `rnn_layers`, by `implementation`.

        Args:
            layer: one of `rnn_layers`.
            inputs: `(batch, time, features)`.
            mask: bool `(batch, time)` right padding, or None.
            training: bool.

        Returns:
            `(outputs, states)`: `(batch, time, 2 * units)` (zeros on
            padding) and the final states (h, and c for LSTM), each the
            concatenation of both directions, `(batch, 2 * units)`.
        """
        if self.uses_loops:
            return self._run_lstm(layer, inputs, mask)
        return self._run_keras(layer, inputs, mask, training)

    def _run_keras(self, layer, inputs, mask, training):
        """One layer through the Keras `Bidirectional` wrapper (any cell)."""
        num_states = state_size(self.cell)
        results = layer(inputs, mask=mask, training=training)
        outputs, states = results[0], results[1:]
        forward, backward = states[:num_states], states[num_states:]
        return outputs, [
            keras.ops.concatenate([f, b], axis=-1) for f, b in zip(forward, backward)
        ]

    def _run_lstm(self, layer, inputs, mask):
        """One LSTM layer: the Keras layer's weights and math, both directions
        in one loop with a hand-written backward pass (`lstm_loops`). The mask
        must be right padding, as every batch of this package is."""
        lengths = sequence_lengths(inputs, mask)
        cells = (layer.forward_layer.cell, layer.backward_layer.cell)
        weights = [(c.kernel, c.recurrent_kernel, c.bias) for c in cells]
        return lstm_loops.bidirectional_lstm(inputs, lengths, *weights)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "units": self.units,
                "cell": self.cell,
                "dropout": self.dropout,
                "residual": self.residual,
                "implementation": self.implementation,
            }
        )
        return config


def build_encoder(config, name: str = "encoder") -> StackedBidirectionalEncoder:
    """The encoder described by an `EncoderConfig` (shared by every model)."""
    return StackedBidirectionalEncoder(
        num_layers=config.num_layers,
        units=config.units,
        cell=config.cell,
        dropout=config.dropout,
        residual=config.residual,
        name=name,
    )
