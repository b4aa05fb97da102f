"""Keras LSTM weights as functions the TFLite converter fuses into
`UNIDIRECTIONAL_SEQUENCE_LSTM`.

The converter (TF `prepare_composite_functions_tf.cc`, `lstm_utils.cc`)
replaces the body of any function carrying the attributes
`api_implements="lstm_<anything>"` and `time_major`, with exactly six
arguments `(x, h0, c0, kernel, recurrent_kernel, bias)` and five results of
which only the first two are used, by one fused op. The initial states must
have a static shape, so the batch size of each call is fixed; the time length
may stay dynamic.

Here the body is a plain `tf.while_loop` over the package's LSTM step
(`nlp_lstm.layers.cells`, the Keras cell's math), so that the same graph runs
in TensorFlow before conversion. Padding is handled outside the fused op:
inputs are right-padded, the forward direction's outputs at real tokens do not
depend on the padding, and the backward direction runs on
`tf.reverse_sequence` of its input. The final cell state, which the fused op
cannot return, is recomputed from the output sequence in closed form
(`final_cell_state`).

A peephole LSTM converts the same way, its peepholes written into the fused
op afterwards (`peepholes.add_peepholes`, with the `FusedLSTM.peepholes` of
its layers): the graph TensorFlow runs before conversion is the plain LSTM.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm.layers import cells
from nlp_lstm.layers.cells import lstm_gates, lstm_step

_COUNTER = itertools.count()


def lstm_weights(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(kernel, recurrent_kernel, bias)` of a Keras `LSTM` or `LSTMCell`
    (or their peephole variants: `peephole_weights` reads the peepholes)."""
    cell = getattr(layer, "cell", layer)
    activations = (
        getattr(cell.activation, "__name__", None),
        getattr(cell.recurrent_activation, "__name__", None),
    )
    if activations != ("tanh", "sigmoid"):
        raise ValueError(
            "only LSTMs with a tanh activation and sigmoid gates fuse, got "
            f"activation and recurrent_activation {activations}"
        )
    kernel = np.asarray(cell.kernel.numpy(), np.float32)
    recurrent = np.asarray(cell.recurrent_kernel.numpy(), np.float32)
    if cell.use_bias:
        bias = np.asarray(cell.bias.numpy(), np.float32)
    else:
        bias = np.zeros((kernel.shape[1],), np.float32)
    return kernel, recurrent, bias


def peephole_weights(layer) -> np.ndarray | None:
    """The peepholes `(3, units)` (input, forget, output) of a peephole LSTM
    layer or cell, None for a plain LSTM."""
    cell = getattr(layer, "cell", layer)
    params = cells.cell_weights(cell)["params"]
    if not params:
        return None
    return np.asarray(params[0].numpy(), np.float32).reshape(3, -1)


def _reference_lstm(x, h0, c0, kernel, recurrent_kernel, bias):
    """Batch-major LSTM over `x (batch, time, features)` with the package's
    step (`cells.lstm_step`): outputs and final h, c. The converter replaces
    it by the fused op; TensorFlow runs it before conversion."""
    steps = tf.shape(x)[1]
    inputs = tf.einsum("btf,fg->btg", x, kernel) + bias  # (batch, time, 4 * units)
    outputs = tf.TensorArray(x.dtype, size=steps)

    def body(t, h, c, outputs):
        h, c, _, _ = lstm_step(inputs[:, t] + tf.matmul(h, recurrent_kernel), c)
        return t + 1, h, c, outputs.write(t, h)

    _, h, c, outputs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), h0, c0, outputs)
    )
    return tf.transpose(outputs.stack(), (1, 0, 2)), h, c


def fused_lstm_function(batch: int, units: int):
    """A fresh `tf.function` that the converter fuses, for one LSTM direction.

    Args:
        batch: int. The fixed batch size of every call.
        units: int. Hidden size.

    Returns:
        A function `(x, h0, c0, kernel, recurrent_kernel, bias) -> (last,
        outputs, h, c, runtime)`; use only `outputs` (`(batch, time, units)`).
    """
    name = f"lstm_nlp_lstm_{next(_COUNTER)}"

    @tf.function(
        experimental_attributes={
            "api_implements": name,
            "time_major": False,
            "go_backwards": False,
        },
        autograph=False,
    )
    def lstm(x, h0, c0, kernel, recurrent_kernel, bias):
        outputs, h, c = _reference_lstm(x, h0, c0, kernel, recurrent_kernel, bias)
        h = tf.ensure_shape(h, (batch, units))
        c = tf.ensure_shape(c, (batch, units))
        return outputs[:, -1], outputs, h, c, tf.constant(0.0)

    return lstm


# The value of the extra "reset" input feature on the step prepended to every
# call. Its kernel row is -1 for the input and forget gates, so both are
# sigmoid(-1e4 + ...) = 0 there: the cell and hidden states become exactly 0.
RESET_VALUE = 1e4


class FusedLSTM:
    """One direction of a trained Keras LSTM as a fusable function.

    LiteRT keeps the fused op's states in variable tensors that persist from
    one call to the next (across invocations of the same shape, and across
    iterations of a loop). So that each call starts from zero states, as
    Keras does, every call runs one extra first step whose extra input
    feature `RESET_VALUE` (0 on real steps, so without effect there) closes
    the input and forget gates; its output is dropped.

    Args:
        layer: a built Keras `LSTM` or `LSTMCell`, or their peephole variant
            (`cells.PeepholeLSTMCell`, in a `keras.layers.RNN`).
        batch: int. Fixed batch size of the calls.

    Attributes:
        peepholes: `(3, units)` or None: what `peepholes.add_peepholes` must
            write into this layer's fused op after conversion.
        recurrent: the recurrent kernel, by which that op is found.
    """

    def __init__(self, layer, batch: int = 1):
        kernel, recurrent, bias = lstm_weights(layer)
        self.units = recurrent.shape[0]
        self.batch = batch
        self.peepholes = peephole_weights(layer)
        self.recurrent = recurrent
        self.kernel = tf.constant(kernel)
        self.recurrent_kernel = tf.constant(recurrent)
        self.bias = tf.constant(bias)
        reset_row = np.zeros((1, kernel.shape[1]), np.float32)
        reset_row[0, : 2 * self.units] = -1.0  # input and forget gates
        self.reset_kernel = tf.constant(np.concatenate([kernel, reset_row], 0))
        self.function = fused_lstm_function(batch, self.units)

    def _reset_step(self, rows, features):
        """`(rows, 1, features + 1)`: zeros and the reset feature."""
        reset = tf.one_hot(features, features + 1, on_value=RESET_VALUE)
        return tf.tile(reset[None, None], (rows, 1, 1))

    def __call__(self, x, lengths=None, reverse: bool = False):
        """Runs over `x (batch, time, features)`, right-padded to `lengths`.

        Returns:
            outputs `(batch, time, units)` in the original time order; with
            `reverse`, the backward direction (each row read from its last
            real token to its first).
        """
        zeros = tf.zeros((self.batch, self.units), tf.float32)
        if reverse:
            x = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)
        # (batch, 1 + time, features + 1): the reset step, then the inputs.
        x = tf.concat(
            [
                self._reset_step(self.batch, tf.shape(x)[2]),
                tf.pad(x, [[0, 0], [0, 0], [0, 1]]),
            ],
            axis=1,
        )
        outputs = self.function(
            x, zeros, zeros, self.reset_kernel, self.recurrent_kernel, self.bias
        )[1][:, 1:]
        if reverse:
            outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
        return outputs

    def run_segments(self, x):
        """Runs each row of `x (rows, time, features)` from zero states, as one
        batch-1 sequence with a reset step before each row (any number of
        rows, with a fused op of batch 1).

        Returns:
            outputs `(rows, time, units)`.
        """
        if self.batch != 1:
            raise ValueError(f"run_segments needs batch 1, got {self.batch}")
        zeros = tf.zeros((1, self.units), tf.float32)
        shape = tf.shape(x)
        rows, time, features = shape[0], shape[1], shape[2]
        x = tf.concat(
            [self._reset_step(rows, features), tf.pad(x, [[0, 0], [0, 0], [0, 1]])],
            axis=1,
        )  # (rows, 1 + time, features + 1)
        x = tf.reshape(x, (1, rows * (time + 1), features + 1))
        outputs = self.function(
            x, zeros, zeros, self.reset_kernel, self.recurrent_kernel, self.bias
        )[1]
        return tf.reshape(outputs, (rows, time + 1, self.units))[:, 1:]

    def final_cell_state(self, x, outputs, lengths, reverse: bool = False):
        """The cell state after the last real token, `(batch, units)`.

        The gates at step `t` depend only on `x_t` and `h_{t-1}`, both known
        once the outputs are, so `c_T = sum_s prod_{r>s} f_r * i_s * g_s` is
        computed in parallel over time; the products are taken in log space
        (`exp` of a difference of cumulative sums, always <= 1). A peephole
        LSTM's gates also read `c_{t-1}`: its cell state is then one
        elementwise loop over time (no matmul inside).
        """
        if reverse:
            x = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)
            outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
        previous = tf.concat(
            [tf.zeros_like(outputs[:, :1]), outputs[:, :-1]], axis=1
        )  # (batch, time, units): h_{t-1}
        z = (
            tf.einsum("btf,fg->btg", x, self.kernel)
            + tf.einsum("btu,ug->btg", previous, self.recurrent_kernel)
            + self.bias
        )  # (batch, time, 4 * units)
        if self.peepholes is not None:
            return self._peephole_cell_state(z, lengths)
        i, f, g, _ = lstm_gates(z)
        valid = tf.range(tf.shape(x)[1])[None, :, None] < lengths[:, None, None]
        log_f = tf.where(valid, tf.math.log(tf.maximum(f, 1e-30)), 0.0)
        added = tf.where(valid, i * g, 0.0)
        cumulative = tf.cumsum(log_f, axis=1)
        decay = tf.exp(cumulative[:, -1:] - cumulative)
        return tf.reduce_sum(decay * added, axis=1)


    def _peephole_cell_state(self, z, lengths):
        """The peephole LSTM's cell state after `lengths` steps of the
        pre-activations `z (batch, time, 4 * units)`."""
        peepholes = tf.constant(self.peepholes.reshape(-1))
        steps = tf.shape(z)[1]

        def body(t, carry):
            _, new_carry, _, _ = cells.peephole_lstm_step(z[:, t], carry, peepholes)
            return t + 1, tf.where((t < lengths)[:, None], new_carry, carry)

        # The state after the first step (`i * g`, as c_0 = 0), computed
        # before the loop rather than starting from a zeros constant: the
        # converter would merge that constant with the fused ops' initial
        # states, variable tensors that LiteRT leaves holding their final
        # states.
        i, _, g, _ = lstm_gates(z[:, 0])
        first = i * g * tf.cast(lengths > 0, z.dtype)[:, None]
        _, carry = tf.while_loop(
            lambda t, _: t < steps, body, (tf.constant(1), first)
        )
        return carry


def last_outputs(outputs, lengths):
    """The output at `length - 1` of each row, zeros for empty rows."""
    index = tf.maximum(lengths - 1, 0)
    last = tf.gather(outputs, index, batch_dims=1)
    return tf.where((lengths > 0)[:, None], last, 0.0)


def weight_values(model) -> list:
    """`(variable, numpy value)` of every weight of `model`, read eagerly."""
    return [(variable, np.asarray(variable.numpy())) for variable in model.weights]


def frozen_weights(values) -> keras.StatelessScope:
    """A scope in which the variables of `weight_values(model)` read as graph
    constants (enter it while tracing).

    Variables read inside a `tf.while_loop` body stay `READ_VARIABLE` ops after
    conversion (and fail at run time); constants are embedded in the file.
    """
    return keras.StatelessScope(
        state_mapping=[(variable, tf.constant(value)) for variable, value in values]
    )
