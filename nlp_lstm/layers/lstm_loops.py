"""LSTM loops with hand-written backward passes, for training on CPU.

Autodiff through a `tf.while_loop` computes every weight gradient step by step
(`x_t^T dz_t`, a matmul whose inner size is the batch) and accumulates them
one at a time. Here the backward loop only carries the gradients that flow
through time; the weight gradients are then one matmul over all steps
(`X^T dZ` with an inner size of `time * batch`), as cuDNN does. The forward
computation is exactly the one of `keras.layers.LSTMCell` (gate order
i, f, c, o; sigmoid gates; tanh activation).

`bidirectional_lstm` runs one layer of the encoder; the decoder's loop is in
`decoder_loop`.
"""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.layers.cells import lstm_step, lstm_step_backward
from nlp_lstm.layers.linear import dense


def flatten_steps(tensor):
    """`(time, batch, features)` -> `(time * batch, features)`."""
    return tf.reshape(tensor, [-1, tf.shape(tensor)[-1]])


def bidirectional_lstm(inputs, lengths, forward, backward):
    """One bidirectional LSTM layer over right-padded sequences.

    Both directions run in one loop: the backward direction reads each
    sequence reversed within its length (`tf.reverse_sequence`), so at step
    `t` both directions see their `t`-th real token and the padding comes
    last for both. Past a sequence's length the states are carried unchanged
    and the outputs are zero, as Keras does with a mask.

    Args:
        inputs: `(batch, time, features)`.
        lengths: int `(batch,)`: real tokens of each sequence.
        forward, backward: `(kernel, recurrent_kernel, bias)` of each
            direction, Keras `LSTMCell` layout.

    Returns:
        `(outputs, final_states)`: outputs `(batch, time, 2 * units)`
        (forward then backward features) and `[h, c]`, each `(batch, 2 *
        units)`.
    """
    forward = [tf.convert_to_tensor(w) for w in forward]
    backward = [tf.convert_to_tensor(w) for w in backward]
    kernel = tf.concat([forward[0], backward[0]], axis=-1)
    bias = tf.concat([forward[2], backward[2]], axis=-1)
    recurrent = tf.stack([forward[1], backward[1]])  # (2, units, 4 * units)
    lengths = tf.cast(lengths, tf.int32)
    # (batch, time, 8 * units): the input projection of every step at once.
    projected = dense(inputs, kernel) + bias
    projected_forward, projected_backward = tf.split(projected, 2, axis=-1)
    projected_backward = tf.reverse_sequence(
        projected_backward, lengths, seq_axis=1, batch_axis=0
    )
    # (time, 2, batch, 4 * units)
    projected = tf.transpose(
        tf.stack([projected_forward, projected_backward]), (2, 0, 1, 3)
    )
    steps = tf.shape(projected)[0]
    # (time, 1, batch, 1): 1 on real steps.
    step_mask = tf.sequence_mask(lengths, steps, dtype=inputs.dtype)
    step_mask = tf.transpose(step_mask)[:, None, :, None]
    outputs, hidden, carry = _bidirectional_recurrence(projected, step_mask, recurrent)
    outputs = tf.transpose(outputs, (1, 2, 0, 3))  # (2, batch, time, units)
    output_backward = tf.reverse_sequence(
        outputs[1], lengths, seq_axis=1, batch_axis=0
    )
    outputs = tf.concat([outputs[0], output_backward], axis=-1)
    final = [tf.concat([state[0], state[1]], axis=-1) for state in (hidden, carry)]
    return outputs, final


@tf.custom_gradient
def _bidirectional_recurrence(projected, step_mask, recurrent):
    """`h_t, c_t` of both directions from the input projections `projected`
    `(time, 2, batch, 4 * units)`, with a hand-written backward pass.

    Longer than most functions: `tf.custom_gradient` needs the forward loop
    and its `grad` closure (which reads the forward's saved arrays) in one
    scope."""
    steps = tf.shape(projected)[0]
    units = recurrent.shape[1]
    batch = tf.shape(projected)[2]
    dtype = projected.dtype
    zeros = tf.zeros([2, batch, units], dtype)

    def array():
        return tf.TensorArray(dtype, size=steps)

    def body(t, hidden, carry, saved):
        # (2, batch, 4 * units); one plain matmul per direction, which runs
        # faster than one batched matmul over both.
        z = projected[t] + tf.stack(
            [tf.matmul(hidden[0], recurrent[0]), tf.matmul(hidden[1], recurrent[1])]
        )
        output, new_carry, gates, tanh_carry = lstm_step(z, carry)
        mask = step_mask[t]
        saved = [
            saved[0].write(t, hidden),
            saved[1].write(t, carry),
            saved[2].write(t, gates),
            saved[3].write(t, tanh_carry),
            saved[4].write(t, output * mask),
        ]
        hidden = mask * output + (1.0 - mask) * hidden
        carry = mask * new_carry + (1.0 - mask) * carry
        return t + 1, hidden, carry, saved

    _, hidden, carry, saved = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), zeros, zeros, [array() for _ in range(5)]),
    )
    previous_hidden, previous_carry, gates, tanh_carry, outputs = [
        a.stack() for a in saved
    ]

    def grad(d_outputs, d_hidden_final, d_carry_final):
        d_hidden_final = zeros if d_hidden_final is None else d_hidden_final
        d_carry_final = zeros if d_carry_final is None else d_carry_final
        d_z_array = array()

        def back(t, d_hidden, d_carry, d_z_array):
            mask = step_mask[t]
            # Gradients reaching this step's cell outputs (masked steps pass
            # the carried gradients straight to the previous step).
            d_cell_hidden = mask * (d_hidden + d_outputs[t])
            d_z, d_previous_carry = lstm_step_backward(
                d_cell_hidden,
                mask * d_carry,
                gates[t],
                previous_carry[t],
                tanh_carry[t],
            )
            d_previous_hidden = tf.stack(
                [
                    tf.matmul(d_z[0], recurrent[0], transpose_b=True),
                    tf.matmul(d_z[1], recurrent[1], transpose_b=True),
                ]
            )
            d_hidden = d_previous_hidden + (1.0 - mask) * d_hidden
            d_carry = d_previous_carry + (1.0 - mask) * d_carry
            return t - 1, d_hidden, d_carry, d_z_array.write(t, d_z)

        _, _, _, d_z_array = tf.while_loop(
            lambda t, *_: t >= 0,
            back,
            (steps - 1, d_hidden_final, d_carry_final, d_z_array),
        )
        d_z = d_z_array.stack()  # (time, 2, batch, 4 * units)
        # (2, units, 4 * units): one matmul over all steps per direction.
        d_recurrent = tf.stack(
            [
                tf.matmul(
                    flatten_steps(previous_hidden[:, d]),
                    flatten_steps(d_z[:, d]),
                    transpose_a=True,
                )
                for d in range(2)
            ]
        )
        return d_z, None, d_recurrent

    return (outputs, hidden, carry), grad
