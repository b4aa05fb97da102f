"""Bidirectional LSTM layers on TensorFlow's fused `BlockLSTMV2` kernel.

`BlockLSTMV2` runs a whole sequence of LSTM (or peephole LSTM) steps in one
op, and `BlockLSTMGradV2` its backward pass in another: no per-step graph ops,
which is most of the time of a small recurrent layer (the tagger's, batches
of 16-32 rows) in the `rnn_loops` while loops. TensorFlow registers the
V1 op's gradient (gate layout i, c, f, o) for the V2 op (layout i, f, c, o,
the Keras layout used here), which gives wrong weight gradients; the
gradient here calls `BlockLSTMGradV2` itself.

The op has no mask: a direction reads its sequence from the first step. The
forward direction reads the right-padded batch as it is, the backward one the
batch reversed within each length (`tf.reverse_sequence`), so padding comes
after every real token in both; outputs on padding are zeroed and the final
states read at each sequence's last token, so the padded steps receive no
gradient and add none. Same contract as `rnn_loops.bidirectional_rnn`
(the tests compare the two, outputs, final states and gradients).
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow.python.ops import gen_rnn_ops

# The cells of `cells.CELLS` this module runs.
BLOCK_CELLS = ("lstm", "peephole_lstm")


def _direction(inputs, steps, initial, kernel, bias, peepholes):
    """One direction over time-major `inputs` `(time, batch, features)`:
    `(hidden, carry)`, each `(time, batch, units)`.

    `steps` (int64) is the number of steps to run (the longest sequence);
    later steps give zeros. `initial` is `(h, c)`; `kernel` the
    `[kernel; recurrent_kernel]` matrix over `[x; h]`; `peepholes` None or
    `(3 * units,)` (input, forget, output gates)."""
    units = kernel.shape[-1] // 4
    use_peephole = peepholes is not None
    if use_peephole:
        wci, wcf, wco = tf.split(tf.convert_to_tensor(peepholes), 3)
    else:
        wci = wcf = wco = tf.zeros([units], inputs.dtype)

    @tf.custom_gradient
    def run(inputs, h_prev, cs_prev, weights, bias, wci, wcf, wco):
        arguments = dict(
            seq_len_max=steps, x=inputs, cs_prev=cs_prev, h_prev=h_prev,
            w=weights, wci=wci, wcf=wcf, wco=wco, b=bias,
        )
        i, cs, f, o, ci, co, h = gen_rnn_ops.block_lstmv2(
            **arguments, cell_clip=0.0, use_peephole=use_peephole
        )

        def grad(d_h, d_cs):
            d_x, d_cs_prev, d_h_prev, d_w, d_wci, d_wcf, d_wco, d_b = (
                gen_rnn_ops.block_lstm_grad_v2(
                    **arguments, i=i, cs=cs, f=f, o=o, ci=ci, co=co, h=h,
                    cs_grad=d_cs, h_grad=d_h, use_peephole=use_peephole,
                )
            )
            return d_x, d_h_prev, d_cs_prev, d_w, d_b, d_wci, d_wcf, d_wco

        return (h, cs), grad

    h, c = initial
    return run(inputs, h, c, kernel, tf.convert_to_tensor(bias), wci, wcf, wco)


def bidirectional_block_lstm(inputs, lengths, forward, backward, cell="lstm",
                             initial_state=None):
    """`rnn_loops.bidirectional_rnn` for LSTM and peephole LSTM cells, on the
    fused kernels (float32). Same arguments and results."""
    if cell not in BLOCK_CELLS:
        raise ValueError(f"the fused kernel runs {BLOCK_CELLS}, not {cell!r}")
    lengths = tf.cast(lengths, tf.int32)
    batch = tf.shape(inputs)[0]
    time = tf.shape(inputs)[1]
    units = forward["recurrent_kernel"].shape[0]
    if initial_state is None:
        zeros = tf.zeros([batch, units], inputs.dtype)
        initial = [(zeros, zeros), (zeros, zeros)]
    else:
        # (batch, 2 * units) each: the forward direction's half, then the
        # backward's.
        (h_forward, h_backward), (c_forward, c_backward) = (
            tf.split(state, 2, axis=-1) for state in initial_state
        )
        initial = [(h_forward, c_forward), (h_backward, c_backward)]
    steps = tf.cast(tf.reduce_max(tf.concat([lengths, [0]], 0)), tf.int64)
    time_major = tf.transpose(inputs, (1, 0, 2))
    sequences = (
        time_major,
        tf.reverse_sequence(time_major, lengths, seq_axis=0, batch_axis=1),
    )
    # Each direction's state after its last token, which both directions
    # read at step `length - 1`: step `length` of the states with the initial
    # state put first (the initial state itself for an empty sequence).
    last = tf.stack([lengths, tf.range(batch)], axis=1)
    hidden, final = [], [[], []]
    for weights, sequence, state in zip((forward, backward), sequences, initial):
        kernel = tf.concat(
            [
                tf.convert_to_tensor(weights["kernel"]),
                tf.convert_to_tensor(weights["recurrent_kernel"]),
            ],
            axis=0,
        )
        peepholes = weights["params"][0] if cell == "peephole_lstm" else None
        h, c = _direction(sequence, steps, state, kernel, weights["bias"], peepholes)
        hidden.append(h)
        for index, values in enumerate((h, c)):
            values = tf.concat([state[index][None], values], axis=0)
            final[index].append(tf.gather_nd(values, last))
    h_forward, h_backward = hidden
    h_backward = tf.reverse_sequence(h_backward, lengths, seq_axis=0, batch_axis=1)
    mask = tf.transpose(tf.sequence_mask(lengths, time, dtype=inputs.dtype))
    outputs = tf.concat([h_forward, h_backward], axis=-1) * mask[..., None]
    outputs = tf.transpose(outputs, (1, 0, 2))  # (batch, time, 2 * units)
    return outputs, [tf.concat(states, axis=-1) for states in final]
