"""Stacked bidirectional RNN encoder shared by the translator and the tagger."""

from __future__ import annotations

import keras
import tensorflow as tf

from nlp_lstm.layers import cells, rnn_loops
from nlp_lstm.layers.cells import state_size
from nlp_lstm.layers.dropout import Dropout
from nlp_lstm.utils import serialization

# How each bidirectional layer runs: "keras" through the Keras `Bidirectional`
# layer (the definition), "loops" through `rnn_loops` (both directions in one
# loop, hand-written backward pass), "auto" through "loops".
IMPLEMENTATIONS = ("auto", "keras", "loops")


def sequence_lengths(inputs, mask=None):
    """Real steps of each row, int32 `(batch,)`, from a right-padding `mask`
    `(batch, time)` (None: every step of `inputs (batch, time, ...)`)."""
    if mask is None:
        return tf.fill(tf.shape(inputs)[:1], tf.shape(inputs)[1])
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class StackedBidirectionalEncoder(keras.layers.Layer):
    """N stacked bidirectional recurrent layers (LSTM, peephole LSTM or GRU)
    over a padded batch.

    Padding is masked: the forward direction's final state is the state at the
    last real token, and the backward direction starts at it. From the second
    layer on, a residual connection adds each layer's input to its output.

    Args:
        num_layers: int. Number of bidirectional layers.
        units: int. Hidden size of each direction; outputs have `2 * units`.
        cell: str. A `cells.CELLS` name: `"lstm"`, `"peephole_lstm"` or
            `"gru"`.
        dropout: float. Dropout on the inputs of every layer.
        residual: bool. Residual connections from the second layer on.
        implementation: str. How each bidirectional layer runs: `"keras"`
            (the Keras `Bidirectional` layer over the cell, the definition),
            `"loops"` (`rnn_loops.bidirectional_rnn`, the same math with a
            hand-written backward pass, faster to train on CPU) or `"auto"`
            (`"loops"`).

    Call arguments:
        inputs: float tensor `(batch, time, features)`.
        mask: bool tensor `(batch, time)`, True on real tokens (right
            padding).
        training: bool.
        layer_fn: callable or None. Runs one bidirectional layer in place of
            `run_layer`, with the same arguments and results (an export
            passes its fused runner); the residual stack stays this one.
        initial_states: None (zeros) or, per layer, the list of its states
            in the layout of the final states (below): the forward
            direction's state before the first token and the backward
            direction's before the last (a chunk of a longer sequence starts
            from the states its neighbours ended with).
        input_table: None, or `input_table(embeddings)` (inference, `"loops"`
            only): `inputs` are then int token ids `(batch, time)` and the
            first layer looks up its input projections of them.

    Returns:
        `(outputs, states)`: outputs `(batch, time, 2 * units)`, and for each
        layer a list of its final states (h, and c for LSTMs), each the
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
        cells.check_stack(
            num_layers, units, cell, dropout, implementation, IMPLEMENTATIONS
        )
        self.num_layers = num_layers
        self.units = units
        self.cell = cell
        self.dropout = dropout
        self.residual = residual
        self.implementation = implementation
        self.supports_masking = True
        self.rnn_layers = [
            serialization.bidirectional(
                cells.keras_rnn(cell, units, return_sequences=True, return_state=True),
                name=f"bidirectional_{index}",
            )
            for index in range(num_layers)
        ]
        self.dropout_layer = Dropout(dropout)

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
        """Whether `run_layer` takes the `rnn_loops` fast path."""
        return self.implementation in ("auto", "loops")

    def input_table(self, embeddings):
        """The first layer's input projections of every row of `embeddings`
        `(vocab, features)`, both directions (`rnn_loops.input_table`), for
        `call`'s `input_table`."""
        if not self.uses_loops:
            raise ValueError(
                "an input table needs implementation 'auto' or 'loops', not "
                f"{self.implementation!r}"
            )
        layer = self.rnn_layers[0]
        return rnn_loops.input_table(
            embeddings,
            cells.cell_weights(layer.forward_layer.cell),
            cells.cell_weights(layer.backward_layer.cell),
        )

    def call(self, inputs, mask=None, training=False, layer_fn=None,
             initial_states=None, input_table=None):
        run = self.run_layer if layer_fn is None else layer_fn
        if initial_states is not None and len(initial_states) != self.num_layers:
            raise ValueError(
                f"initial_states needs one list per layer ({self.num_layers}), "
                f"got {len(initial_states)}"
            )
        if input_table is not None and (
            training or layer_fn is not None or not self.uses_loops
        ):
            raise ValueError(
                "input_table is for inference through the loops: training=False, "
                "no layer_fn, implementation 'auto' or 'loops'"
            )
        outputs = inputs
        final_states = []
        for index, layer in enumerate(self.rnn_layers):
            if index == 0 and input_table is not None:  # token ids
                layer_outputs, states = self._run_loops(
                    layer, inputs, mask,
                    None if initial_states is None else initial_states[0],
                    input_table=input_table, differentiable=False,
                )
                final_states.append(states)
                outputs = layer_outputs
                continue
            layer_inputs = self.dropout_layer(outputs, training=training)
            if initial_states is None:
                layer_outputs, states = run(layer, layer_inputs, mask, training)
            else:
                layer_outputs, states = run(
                    layer, layer_inputs, mask, training,
                    initial_state=initial_states[index],
                )
            final_states.append(states)
            if self.residual and index > 0:
                # (batch, time, 2 * units): same width as the previous layer's.
                layer_outputs = layer_outputs + outputs
            outputs = layer_outputs
        return outputs, final_states

    def run_layer(self, layer, inputs, mask=None, training=False,
                  initial_state=None):
        """One bidirectional layer of `rnn_layers`, by `implementation`.

        Args:
            layer: one of `rnn_layers`.
            inputs: `(batch, time, features)`.
            mask: bool `(batch, time)` right padding, or None.
            training: bool.
            initial_state: None (zeros) or the layer's states, in the layout
                of its final states.

        Returns:
            `(outputs, states)`: `(batch, time, 2 * units)` (zeros on
            padding) and the final states (h, and c for LSTMs), each the
            concatenation of both directions, `(batch, 2 * units)`.
        """
        if self.uses_loops:
            return self._run_loops(
                layer, inputs, mask, initial_state, differentiable=training
            )
        return self.run_keras(layer, inputs, mask, training, initial_state)

    def run_keras(self, layer, inputs, mask=None, training=False,
                  initial_state=None):
        """One layer through the Keras `Bidirectional` wrapper (the
        definition; `run_layer`'s arguments and results)."""
        if initial_state is not None:
            halves = [keras.ops.split(state, 2, axis=-1) for state in initial_state]
            # Keras takes the forward direction's states, then the backward's.
            initial_state = [h[0] for h in halves] + [h[1] for h in halves]
        results = layer(inputs, mask=mask, training=training,
                        initial_state=initial_state)
        num_states = state_size(self.cell)
        outputs, states = results[0], results[1:]
        forward, backward = states[:num_states], states[num_states:]
        return outputs, [
            keras.ops.concatenate([f, b], axis=-1) for f, b in zip(forward, backward)
        ]

    def _run_loops(self, layer, inputs, mask, initial_state=None, input_table=None,
                   differentiable=True):
        """One layer: the Keras layer's weights and its cell's math, both
        directions in one loop (`rnn_loops`), with its hand-written backward
        pass when `differentiable` (training; inference keeps no per-step
        tensors for it). The mask must be right padding, as every batch of
        this package is. With `input_table`, `inputs` are token ids."""
        lengths = sequence_lengths(inputs, mask)
        forward, backward = (
            cells.cell_weights(direction.cell)
            for direction in (layer.forward_layer, layer.backward_layer)
        )
        return rnn_loops.bidirectional_rnn(
            inputs, lengths, forward, backward, self.cell, initial_state,
            input_table=input_table, differentiable=bool(differentiable),
        )

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
