"""The gate math of the package's recurrent cells, written once.

Every LSTM computation of the package (the hand-written training loops of
`lstm_loops`, the decoder, the graphs that TFLite fuses) calls these
functions; they compute exactly what `keras.layers.LSTMCell` computes with its
defaults (gate order i, f, c, o; sigmoid gates, tanh activation), which the
tests check against the Keras cell.
"""

from __future__ import annotations

import tensorflow as tf

# The Keras LSTM's gate order in its kernels' last axis.
LSTM_GATES = ("input", "forget", "cell", "output")


def lstm_gates(z):
    """`(i, f, g, o)` from pre-activations `z` `(..., 4 * units)`."""
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    return tf.sigmoid(z_i), tf.sigmoid(z_f), tf.tanh(z_c), tf.sigmoid(z_o)


def lstm_step(z, carry):
    """One LSTM step from pre-activations `z = x @ W + h @ U + b`.

    Args:
        z: `(batch, 4 * units)`.
        carry: `(batch, units)`, the previous cell state.

    Returns:
        `(hidden, new_carry, gates, tanh_carry)`: the new h and c, and what a
        backward pass needs (`gates` = `[i, f, g, o]` concatenated, and
        `tanh(new_carry)`).
    """
    i, f, g, o = lstm_gates(z)
    new_carry = f * carry + i * g
    tanh_carry = tf.tanh(new_carry)
    return o * tanh_carry, new_carry, tf.concat([i, f, g, o], axis=-1), tanh_carry


def lstm_cell(z, carry):
    """`lstm_step` for inference: `(hidden, new_carry)`, without the tensors
    that only a backward pass needs."""
    i, f, g, o = lstm_gates(z)
    new_carry = f * carry + i * g
    return o * tf.tanh(new_carry), new_carry


def lstm_step_backward(d_hidden, d_carry, gates, carry, tanh_carry):
    """Gradients of `lstm_step`: `(d_z, d_previous_carry)`.

    Args:
        d_hidden, d_carry: gradients of the step's hidden and cell outputs.
        gates, tanh_carry: what `lstm_step` returned.
        carry: the step's input cell state.
    """
    i, f, g, o = tf.split(gates, 4, axis=-1)
    d_carry = d_carry + d_hidden * o * (1.0 - tf.square(tanh_carry))
    d_z = tf.concat(
        [
            d_carry * g * i * (1.0 - i),
            d_carry * carry * f * (1.0 - f),
            d_carry * i * (1.0 - tf.square(g)),
            d_hidden * tanh_carry * o * (1.0 - o),
        ],
        axis=-1,
    )
    return d_z, d_carry * f
