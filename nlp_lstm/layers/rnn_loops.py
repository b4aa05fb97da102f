"""Bidirectional recurrent loops with hand-written backward passes, for
training on CPU, for every cell of `nlp_lstm.layers.cells`.

Autodiff through a `tf.while_loop` computes every weight gradient step by step
(`x_t^T dz_t`, a matmul whose inner size is the batch) and accumulates them
one at a time. Here the backward loop only carries the gradients that flow
through time; the weight gradients are then one matmul over all steps
(`X^T dZ` with an inner size of `time * batch`), as cuDNN does. The step math
is the cell's (`cells.Cell.forward` / `backward`), so each cell is written
once; the tests check the loop against the Keras layers, outputs and
gradients.

`bidirectional_rnn` runs one layer of the encoder; the decoder's loop is in
`decoder_loop`. Inference (`differentiable=False`) runs the same forward loop
keeping its outputs only, with no backward pass of its own.
"""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.layers import cells, linear


def flatten_steps(tensor):
    """`(time, batch, features)` -> `(time * batch, features)`."""
    return tf.reshape(tensor, [-1, tf.shape(tensor)[-1]])


def _both(forward, backward, axis=0):
    """The two directions' tensors stacked on a new `axis`."""
    return tf.stack(
        [tf.convert_to_tensor(forward), tf.convert_to_tensor(backward)], axis=axis
    )


def bidirectional_rnn(
    inputs,
    lengths,
    forward,
    backward,
    cell: str = "lstm",
    initial_state=None,
    input_table=None,
    differentiable: bool = True,
):
    """One bidirectional recurrent layer over right-padded sequences.

    Both directions run in one loop: at step `t` the forward direction reads
    position `t` and the backward direction position `time - 1 - t` (a plain
    reversal of the time axis, cheaper than `tf.reverse_sequence`). Where a
    direction reads padding its states are carried unchanged and its outputs
    are zero, as Keras does with a mask: the backward direction starts on a
    sequence's padding, carries its initial state through it and meets the
    real tokens from the last one on, as if it read the sequence reversed
    within its length.

    Args:
        inputs: `(batch, time, features)`.
        lengths: int `(batch,)`: real tokens of each sequence.
        forward, backward: `cells.cell_weights` of each direction's Keras cell.
        cell: str. A `cells.CELLS` name.
        initial_state: None (zeros) or, per state of the cell, `(batch, 2 *
            units)`: the forward direction's state before the first token,
            then the backward direction's state before (in its reading order)
            the last token; the layout of the final states.
        input_table: None, or `input_table(embeddings, forward, backward)`
            (inference): `inputs` are then int token ids `(batch, time)`,
            and each direction's input projection of a token is looked up
            instead of computed from its embedding.
        differentiable: bool. True: the loop keeps, step by step, what its
            hand-written backward pass reads (training). False: it keeps the
            outputs only and has no gradient of its own (inference; should a
            gradient be asked for, TensorFlow's autodiff through the loop
            gives it, step by step).

    Returns:
        `(outputs, final_states)`: outputs `(batch, time, 2 * units)`
        (forward then backward features) and, per state of the cell (h, and
        c for LSTMs), `(batch, 2 * units)`: each direction's state after its
        last token.
    """
    math = cells.get(cell)
    recurrent = _both(forward["recurrent_kernel"], backward["recurrent_kernel"])
    units = recurrent.shape[1]
    recurrent_bias = None
    if forward["recurrent_bias"] is not None:
        # (2, 1, gates * units)
        recurrent_bias = _both(forward["recurrent_bias"], backward["recurrent_bias"])
        recurrent_bias = recurrent_bias[:, None]
    params = [
        _both(f, b)[:, None] for f, b in zip(forward["params"], backward["params"])
    ]
    lengths = tf.cast(lengths, tf.int32)
    # (time, 2, batch, gates * units): each direction's input projection of
    # every step in its reading order.
    if input_table is None:
        # The inputs are put in time order and reversed (narrower than the
        # projections), so that the projections are written once, by the
        # stack.
        time_major = tf.transpose(inputs, (1, 0, 2))
        projected = tf.stack(
            [
                linear.dense(steps_inputs, direction["kernel"]) + direction["bias"]
                for steps_inputs, direction in (
                    (time_major, forward),
                    (tf.reverse(time_major, [0]), backward),
                )
            ],
            axis=1,
        )
    else:  # one lookup writes them in that layout
        ids = tf.transpose(tf.cast(inputs, tf.int32))
        vocab = tf.shape(input_table)[0] // 2
        projected = tf.gather(
            input_table, tf.stack([ids, tf.reverse(ids, [0]) + vocab], axis=1)
        )
    dtype = projected.dtype
    steps = tf.shape(projected)[0]
    batch = tf.shape(inputs)[0]
    if initial_state is None:
        initial = [tf.zeros([2, batch, units], dtype)] * math.num_states
    else:
        if len(initial_state) != math.num_states:
            raise ValueError(
                f"a {cell} layer takes {math.num_states} initial states, got "
                f"{len(initial_state)}"
            )
        # (2, batch, units) each
        initial = [tf.stack(tf.split(state, 2, axis=-1)) for state in initial_state]
    # (time, 2, batch, 1): 1 where each direction reads a real token.
    step_mask = tf.transpose(tf.sequence_mask(lengths, steps, dtype=dtype))
    step_mask = tf.stack([step_mask, tf.reverse(step_mask, [0])], axis=1)[..., None]
    if differentiable:
        outputs, final = _bidirectional_recurrence(
            math, projected, step_mask, recurrent, recurrent_bias, params, initial
        )
    else:
        outputs, final, _ = _forward_loop(
            math, projected, step_mask, recurrent, recurrent_bias, params, initial
        )
    # (time, batch, units) each; the backward direction's back in time order.
    output_forward, output_backward = tf.unstack(outputs, axis=1)
    outputs = tf.concat([output_forward, tf.reverse(output_backward, [0])], axis=-1)
    outputs = tf.transpose(outputs, (1, 0, 2))  # (batch, time, 2 * units)
    final = [tf.concat(tf.unstack(state), axis=-1) for state in final]
    return outputs, final


def input_table(embeddings, forward, backward):
    """`(2 * vocab, gates * units)`: each direction's input projection (bias
    included) of every row of `embeddings` `(vocab, features)`, the forward
    direction's rows then the backward's, for `bidirectional_rnn`'s
    `input_table`: a first layer whose inputs are embeddings looks them up by
    token id instead of multiplying. Made once (an export's variable): it is
    `2 * vocab * gates * units` floats."""
    return tf.concat(
        [
            linear.matmul(embeddings, direction["kernel"]) + direction["bias"]
            for direction in (forward, backward)
        ],
        axis=0,
    )


def _recurrent_projection(hidden, recurrent, recurrent_bias):
    """`h @ U (+ b)` of both directions, `(2, batch, gates * units)`, from
    the two directions' kernels `recurrent`; one plain matmul per direction,
    which runs faster than one batched matmul."""
    q = tf.stack(
        [linear.matmul(hidden[0], recurrent[0]), linear.matmul(hidden[1], recurrent[1])]
    )
    return q if recurrent_bias is None else q + recurrent_bias


def _forward_loop(
    math, projected, step_mask, recurrent, recurrent_bias, params, initial,
    saves: bool = False,
):
    """The loop over both directions: `(outputs, final_states, saved)`,
    outputs `(time, 2, batch, units)`, zero on padding; `saved` is empty, or
    with `saves` the stacked per-step tensors that
    `_bidirectional_recurrence`'s backward pass reads: the previous hidden
    states, then the cell's saved tensors."""
    steps = tf.shape(projected)[0]
    dtype = projected.dtype
    step_real = tf.cast(step_mask, tf.bool)
    # The recurrent kernels in the matmul precision, cast once, and each
    # direction's taken out of the stack once, not at every step.
    recurrent = tf.unstack(linear.compute_copy(recurrent))
    num_arrays = math.num_saved + 2 if saves else 1

    def body(t, state, arrays):
        p, q = projected[t], _recurrent_projection(state[0], recurrent, recurrent_bias)
        p, q = (p + q, None) if math.merged else (p, q)
        if saves:
            output, new_state, step_saved = math.forward(p, q, state, params)
            values = [state[0], *step_saved]
        else:
            output, new_state = math.call(p, q, state, params)
            values = []
        values.append(output * step_mask[t])
        arrays = [array.write(t, value) for array, value in zip(arrays, values)]
        real = step_real[t]
        state = [tf.where(real, new, old) for new, old in zip(new_state, state)]
        return t + 1, state, arrays

    _, final, arrays = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (
            tf.constant(0),
            initial,
            [tf.TensorArray(dtype, size=steps) for _ in range(num_arrays)],
        ),
    )
    stacked = [array.stack() for array in arrays]
    return stacked[-1], final, stacked[:-1]


def _bidirectional_recurrence(
    math, projected, step_mask, recurrent, recurrent_bias, params, initial
):
    """`(outputs, final_states)` of both directions from the input projections
    `projected` `(time, 2, batch, gates * units)`, with a hand-written
    backward pass. Outputs are `(time, 2, batch, units)`, zero on padding.

    Longer than most functions: `tf.custom_gradient` needs the forward loop
    and its `grad` closure (which reads the forward's saved arrays) in one
    scope."""
    has_recurrent_bias = recurrent_bias is not None
    flat = [projected, recurrent] + ([recurrent_bias] if has_recurrent_bias else [])
    flat += list(params) + list(initial)
    num_params = len(params)

    @tf.custom_gradient
    def run(*tensors):
        projected, recurrent, *rest = tensors
        recurrent_bias = rest.pop(0) if has_recurrent_bias else None
        params, initial = rest[:num_params], rest[num_params:]
        steps = tf.shape(projected)[0]
        dtype = projected.dtype
        step_real = tf.cast(step_mask, tf.bool)
        recurrent_copy = linear.compute_copy(recurrent)

        def array():
            return tf.TensorArray(dtype, size=steps)

        outputs, final, (previous_hidden, *cell_saved) = _forward_loop(
            math, projected, step_mask, recurrent_copy, recurrent_bias, params,
            initial, saves=True,
        )

        def grad(d_outputs, *d_final):
            d_final = [
                tf.zeros_like(s) if d is None else d for s, d in zip(final, d_final)
            ]
            d_params = [tf.zeros_like(p) for p in params]
            # (2, gates * units, units): the step multiplies by the transposes.
            recurrent_t = [linear.transposed(recurrent_copy[d]) for d in range(2)]

            def back(t, d_state, d_params, d_p_array, d_q_array):
                mask = step_mask[t]
                # Gradients reaching this step's cell outputs (masked steps pass
                # the carried gradients straight to the previous step).
                d_cell = [mask * (d_state[0] + d_outputs[t])]
                d_cell += [mask * d for d in d_state[1:]]
                d_p, d_q, d_previous, d_step_params = math.backward(
                    d_cell, [s[t] for s in cell_saved], previous_hidden[t], params
                )
                d_hidden = tf.stack(
                    [
                        linear.matmul(d_q[0], recurrent_t[0]),
                        linear.matmul(d_q[1], recurrent_t[1]),
                    ]
                )
                if d_previous[0] is not None:
                    d_hidden += d_previous[0]
                d_previous = [d_hidden] + list(d_previous[1:])
                # (On padding the cell's own gradients are zero.)
                d_state = [
                    tf.where(step_real[t], p, d) for p, d in zip(d_previous, d_state)
                ]
                d_params = [
                    acc + tf.reduce_sum(d, axis=-2, keepdims=True)
                    for acc, d in zip(d_params, d_step_params)
                ]
                d_p_array = d_p_array.write(t, d_p)
                if not math.merged:
                    d_q_array = d_q_array.write(t, d_q)
                return t - 1, d_state, d_params, d_p_array, d_q_array

            _, d_initial, d_params, d_p_array, d_q_array = tf.while_loop(
                lambda t, *_: t >= 0,
                back,
                (steps - 1, d_final, d_params, array(), array()),
            )
            d_p = d_p_array.stack()  # (time, 2, batch, gates * units)
            d_q = d_p if math.merged else d_q_array.stack()
            # (2, units, gates * units): one matmul over all steps per direction.
            d_recurrent = tf.stack(
                [
                    linear.matmul(
                        flatten_steps(previous_hidden[:, d]),
                        flatten_steps(d_q[:, d]),
                        transpose_a=True,
                    )
                    for d in range(2)
                ]
            )
            grads = [d_p, d_recurrent]
            if has_recurrent_bias:
                grads.append(tf.reduce_sum(d_q, axis=(0, 2))[:, None])
            return grads + d_params + list(d_initial)

        return (outputs, *final), grad

    # Variables are read here, so that their gradients flow through the reads.
    results = run(*[tf.convert_to_tensor(x) for x in flat])
    return results[0], list(results[1:])
