"""LSTM loops with hand-written backward passes, for training on CPU.

Autodiff through a `tf.while_loop` computes every weight gradient step by step
(`x_t^T dz_t`, a matmul whose inner size is the batch) and accumulates them
one at a time. Here the backward loop only carries the gradients that flow
through time; the weight gradients are then one matmul over all steps
(`X^T dZ` with an inner size of `time * batch`), as cuDNN does. The forward
computation is exactly the one of `keras.layers.LSTMCell` (gate order
i, f, c, o; sigmoid gates; tanh activation).

`attention_decoder_loop` runs the stacked LSTM decoder of
`AttentionDecoder` with input feeding and a dot-product (Luong) score over
precomputed keys.
"""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.layers.cells import lstm_step, lstm_step_backward
from nlp_lstm.layers.linear import dense

# Added to the scores of padded memory positions (as in `layers.attention`).
MASK_SCORE = -1e9
# Attention kinds whose score is `query . key` over precomputed keys.
SCORES = ("luong_dot", "luong_general")


def _flat(tensor):
    """`(time, batch, features)` -> `(time * batch, features)`."""
    return tf.reshape(tensor, [-1, tf.shape(tensor)[-1]])


def attention_decoder_loop(
    projected,
    states,
    memory,
    keys,
    score_bias,
    masks,
    kernels,
    biases,
    attention_kernel,
    input_feeding: bool,
):
    """Teacher-forced stacked LSTM decoder with Luong attention.

    Args:
        projected: `(time, batch, 4 * units)`: the first layer's input
            projection of every step (target embeddings @ kernel + bias).
        states: list of `2 * num_layers + 1` tensors `(batch, units)`: h and c
            of every layer, then the previous attentional vector.
        memory: `(batch, source_time, memory_dim)` encoder outputs.
        keys: `(batch, source_time, units)` attention keys.
        score_bias: `(batch, source_time)`, 0 on real positions and
            `MASK_SCORE` on padding (no gradient).
        masks: `(time, batch or 1, (num_layers + 1) * units)` dropout masks
            (already scaled; no gradient): the fed attentional vector, the
            inputs of layers 2.., and the attentional output.
        kernels: per layer `[input; h]` weights: the first layer's is
            `(units + units, 4 * units)` with input feeding (`(units, 4 *
            units)` without), the others `(2 * units, 4 * units)`.
        biases: biases of layers 2.. `(4 * units,)` (the first layer's is in
            `projected`).
        attention_kernel: `(memory_dim + units, units)`: the attentional
            vector is `tanh([context; h] @ attention_kernel)`.
        input_feeding: bool.

    Returns:
        `(outputs, final_states)`: `(time, batch, units)` attentional vectors
        after dropout, and the states after the last step.
    """
    num_layers = len(kernels)
    if len(states) != 2 * num_layers + 1 or len(biases) != num_layers - 1:
        raise ValueError(
            f"{num_layers} layers need {2 * num_layers + 1} states and "
            f"{num_layers - 1} biases, got {len(states)} and {len(biases)}"
        )
    flat_inputs = [projected, memory, keys, attention_kernel, *kernels, *biases]
    flat_inputs += list(states)
    # Variables are read here, so that their gradients flow through the reads.
    flat_inputs = [tf.convert_to_tensor(x) for x in flat_inputs]

    @tf.custom_gradient
    def run(*tensors):
        projected, memory, keys, attention_kernel = tensors[:4]
        kernels = tensors[4 : 4 + num_layers]
        biases = tensors[4 + num_layers : 3 + 2 * num_layers]
        initial = list(tensors[3 + 2 * num_layers :])
        dtype = projected.dtype
        steps = tf.shape(projected)[0]
        # Static widths keep the loop variables' shapes fixed.
        units = kernels[-1].shape[-1] // 4
        memory_dim = memory.shape[-1]
        mask_parts = tf.split(masks, num_layers + 1, axis=-1)

        def array():
            return tf.TensorArray(dtype, size=steps)

        # Saved per step for the backward pass.
        saved = {
            "inputs": [array() for _ in range(num_layers)],
            "gates": [array() for _ in range(num_layers)],
            "carry": [array() for _ in range(num_layers)],
            "tanh_carry": [array() for _ in range(num_layers)],
            "weights": array(),
            "top": array(),
            "context_inputs": array(),
            "attentional": array(),
        }
        outputs = array()

        def body(t, state, saved, outputs):
            attentional = state[-1]
            step_masks = [
                part[tf.minimum(t, tf.shape(part)[0] - 1)] for part in mask_parts
            ]
            new_state = []
            output = None
            for j in range(num_layers):
                hidden, carry = state[2 * j], state[2 * j + 1]
                if j == 0:
                    parts = [attentional * step_masks[0]] if input_feeding else []
                    layer_inputs = tf.concat(parts + [hidden], axis=-1)
                    z = projected[t] + tf.matmul(layer_inputs, kernels[0])
                else:
                    layer_inputs = tf.concat(
                        [output * step_masks[j], hidden], axis=-1
                    )
                    z = tf.matmul(layer_inputs, kernels[j]) + biases[j - 1]
                output, new_carry, gates, tanh_carry = lstm_step(z, carry)
                saved["inputs"][j] = saved["inputs"][j].write(t, layer_inputs)
                saved["gates"][j] = saved["gates"][j].write(t, gates)
                saved["carry"][j] = saved["carry"][j].write(t, carry)
                saved["tanh_carry"][j] = saved["tanh_carry"][j].write(t, tanh_carry)
                new_state.extend([output, new_carry])
            # Products and sums rather than batched matmuls: with one query
            # per sentence these are matrix-vector products, which the
            # batched matmul kernels run far below their speed.
            scores = tf.reduce_sum(output[:, None, :] * keys, axis=-1) + score_bias
            weights = tf.nn.softmax(scores, axis=-1)
            context = tf.reduce_sum(weights[:, :, None] * memory, axis=1)
            context_inputs = tf.concat([context, output], axis=-1)
            attentional = tf.tanh(tf.matmul(context_inputs, attention_kernel))
            saved["weights"] = saved["weights"].write(t, weights)
            saved["top"] = saved["top"].write(t, output)
            saved["context_inputs"] = saved["context_inputs"].write(t, context_inputs)
            saved["attentional"] = saved["attentional"].write(t, attentional)
            outputs = outputs.write(t, attentional * step_masks[-1])
            return t + 1, new_state + [attentional], saved, outputs

        _, final, saved, outputs = tf.while_loop(
            lambda t, *_: t < steps, body, (tf.constant(0), initial, saved, outputs)
        )
        outputs = outputs.stack()
        stacked = {
            key: [a.stack() for a in value]
            if isinstance(value, list)
            else value.stack()
            for key, value in saved.items()
        }

        def grad(d_outputs, *d_final):
            d_final = [
                tf.zeros_like(s) if d is None else d for s, d in zip(final, d_final)
            ]
            arrays = {
                "z": [array() for _ in range(num_layers)],
                "scores": array(),
                "context": array(),
                "attentional": array(),
            }

            def back(t, carries, arrays):
                step_masks = [
                    part[tf.minimum(t, tf.shape(part)[0] - 1)] for part in mask_parts
                ]
                # d of the attentional vector: from the output and, through
                # input feeding, from step t + 1.
                d_attentional = d_outputs[t] * step_masks[-1] + carries[-1]
                attentional = stacked["attentional"][t]
                d_pre = d_attentional * (1.0 - tf.square(attentional))
                d_context_inputs = tf.matmul(d_pre, attention_kernel, transpose_b=True)
                d_context = d_context_inputs[:, :memory_dim]
                d_top = d_context_inputs[:, memory_dim:]
                weights = stacked["weights"][t]
                d_weights = tf.reduce_sum(d_context[:, None, :] * memory, axis=-1)
                d_scores = weights * (
                    d_weights - tf.reduce_sum(weights * d_weights, -1, keepdims=True)
                )
                d_top += tf.reduce_sum(d_scores[:, :, None] * keys, axis=1)
                arrays["scores"] = arrays["scores"].write(t, d_scores)
                arrays["context"] = arrays["context"].write(t, d_context)
                arrays["attentional"] = arrays["attentional"].write(t, d_pre)
                new_carries = [None] * (2 * num_layers + 1)
                d_hidden_above = d_top
                for j in reversed(range(num_layers)):
                    d_hidden = carries[2 * j] + d_hidden_above
                    d_z, d_carry = lstm_step_backward(
                        d_hidden,
                        carries[2 * j + 1],
                        stacked["gates"][j][t],
                        stacked["carry"][j][t],
                        stacked["tanh_carry"][j][t],
                    )
                    arrays["z"][j] = arrays["z"][j].write(t, d_z)
                    d_inputs = tf.matmul(d_z, kernels[j], transpose_b=True)
                    new_carries[2 * j] = d_inputs[:, -units:]
                    new_carries[2 * j + 1] = d_carry
                    if j > 0:
                        d_hidden_above = d_inputs[:, :units] * step_masks[j]
                if input_feeding:
                    new_carries[-1] = d_inputs[:, :units] * step_masks[0]
                else:
                    new_carries[-1] = tf.zeros_like(carries[-1])
                return t - 1, new_carries, arrays

            _, d_initial, arrays = tf.while_loop(
                lambda t, *_: t >= 0, back, (steps - 1, d_final, arrays)
            )
            d_z = [a.stack() for a in arrays["z"]]  # (time, batch, 4 * units)
            d_scores = arrays["scores"].stack()  # (time, batch, source_time)
            d_kernels = [
                tf.matmul(_flat(x), _flat(dz), transpose_a=True)
                for x, dz in zip(stacked["inputs"], d_z)
            ]
            d_biases = [tf.reduce_sum(_flat(dz), axis=0) for dz in d_z[1:]]
            d_attention_kernel = tf.matmul(
                _flat(stacked["context_inputs"]),
                _flat(arrays["attentional"].stack()),
                transpose_a=True,
            )
            d_keys = tf.einsum("tbs,tbu->bsu", d_scores, stacked["top"])
            d_memory = tf.einsum(
                "tbs,tbm->bsm", stacked["weights"], arrays["context"].stack()
            )
            return [
                d_z[0],
                d_memory,
                d_keys,
                d_attention_kernel,
                *d_kernels,
                *d_biases,
                *d_initial,
            ]

        return (outputs, *final), grad

    results = run(*flat_inputs)
    return results[0], list(results[1:])


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
    `(time, 2, batch, 4 * units)`, with a hand-written backward pass."""
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
                    _flat(previous_hidden[:, d]), _flat(d_z[:, d]), transpose_a=True
                )
                for d in range(2)
            ]
        )
        return d_z, None, d_recurrent

    return (outputs, hidden, carry), grad
