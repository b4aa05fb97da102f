"""The attentional LSTM decoder's teacher-forcing loop, with a hand-written
backward pass: the `"fused"` implementation of `AttentionDecoder`.

It runs what stepping `AttentionDecoder.step` computes (stacked LSTM cells,
input feeding, a dot-product Luong score over precomputed keys, the tanh
attentional projection), for training on CPU. As in `rnn_loops`, the
backward loop only carries the gradients that flow through time; the weight
gradients are then one matmul over all steps. The tests check it against the
step loop, outputs and gradients.
"""

from __future__ import annotations

import typing

import tensorflow as tf

from nlp_lstm.layers.cells import lstm_step, lstm_step_backward
from nlp_lstm.layers.rnn_loops import flatten_steps

# Attention kinds whose score is `query . key` over precomputed keys: the ones
# this loop computes.
SCORES = ("luong_dot", "luong_general")


def supports(cell: str, attention: str) -> bool:
    """Whether the loop computes an `AttentionDecoder` with this cell and
    attention kind."""
    return cell == "lstm" and attention in SCORES


class _Weights(typing.NamedTuple):
    """The loop's differentiable inputs, other than the initial states."""

    projected: tf.Tensor
    memory: tf.Tensor
    keys: tf.Tensor
    attention_kernel: tf.Tensor
    kernels: list
    biases: list


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
            `attention.MASK_SCORE` on padding (no gradient).
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
        weights = _Weights(
            *tensors[:4],
            kernels=list(tensors[4 : 4 + num_layers]),
            biases=list(tensors[4 + num_layers : 3 + 2 * num_layers]),
        )
        initial = list(tensors[3 + 2 * num_layers :])
        mask_parts = tf.split(masks, num_layers + 1, axis=-1)
        outputs, final, saved = _forward(
            weights, initial, score_bias, mask_parts, input_feeding
        )

        def grad(d_outputs, *d_final):
            d_final = [
                tf.zeros_like(s) if d is None else d for s, d in zip(final, d_final)
            ]
            return _backward(
                weights, saved, mask_parts, d_outputs, d_final, input_feeding
            )

        return (outputs, *final), grad

    results = run(*flat_inputs)
    return results[0], list(results[1:])


def _step_masks(mask_parts, t):
    """The dropout masks of step `t` (one step's masks serve all steps)."""
    return [part[tf.minimum(t, tf.shape(part)[0] - 1)] for part in mask_parts]


def _forward(weights, initial, score_bias, mask_parts, input_feeding):
    """`(outputs, final_states, saved)`: the loop, and per step what the
    backward pass needs (one `tf.while_loop` body over all layers and the
    attention: longer than most functions, since splitting the body would
    pass a dozen loop variables between pieces)."""
    num_layers = len(weights.kernels)
    kernels, biases = weights.kernels, weights.biases
    steps = tf.shape(weights.projected)[0]

    def array():
        return tf.TensorArray(weights.projected.dtype, size=steps)

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

    def body(t, state, saved, outputs):
        attentional = state[-1]
        step_masks = _step_masks(mask_parts, t)
        new_state = []
        output = None
        for j in range(num_layers):
            hidden, carry = state[2 * j], state[2 * j + 1]
            if j == 0:
                parts = [attentional * step_masks[0]] if input_feeding else []
                layer_inputs = tf.concat(parts + [hidden], axis=-1)
                z = weights.projected[t] + tf.matmul(layer_inputs, kernels[0])
            else:
                layer_inputs = tf.concat([output * step_masks[j], hidden], axis=-1)
                z = tf.matmul(layer_inputs, kernels[j]) + biases[j - 1]
            output, new_carry, gates, tanh_carry = lstm_step(z, carry)
            saved["inputs"][j] = saved["inputs"][j].write(t, layer_inputs)
            saved["gates"][j] = saved["gates"][j].write(t, gates)
            saved["carry"][j] = saved["carry"][j].write(t, carry)
            saved["tanh_carry"][j] = saved["tanh_carry"][j].write(t, tanh_carry)
            new_state.extend([output, new_carry])
        # Products and sums rather than batched matmuls: with one query per
        # sentence these are matrix-vector products, which the batched matmul
        # kernels run far below their speed.
        scores = tf.reduce_sum(output[:, None, :] * weights.keys, axis=-1)
        attention = tf.nn.softmax(scores + score_bias, axis=-1)
        context = tf.reduce_sum(attention[:, :, None] * weights.memory, axis=1)
        context_inputs = tf.concat([context, output], axis=-1)
        attentional = tf.tanh(tf.matmul(context_inputs, weights.attention_kernel))
        saved["weights"] = saved["weights"].write(t, attention)
        saved["top"] = saved["top"].write(t, output)
        saved["context_inputs"] = saved["context_inputs"].write(t, context_inputs)
        saved["attentional"] = saved["attentional"].write(t, attentional)
        outputs = outputs.write(t, attentional * step_masks[-1])
        return t + 1, new_state + [attentional], saved, outputs

    _, final, saved, outputs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), initial, saved, array())
    )
    stacked = {
        key: [a.stack() for a in value] if isinstance(value, list) else value.stack()
        for key, value in saved.items()
    }
    return outputs.stack(), final, stacked


def _backward(weights, saved, mask_parts, d_outputs, d_final, input_feeding):
    """The gradients of `attention_decoder_loop`'s differentiable inputs (in
    their order), from those of its outputs and final states."""
    d_z, d_initial, arrays = _backward_through_time(
        weights, saved, mask_parts, d_outputs, d_final, input_feeding
    )
    d_scores = arrays["scores"].stack()  # (time, batch, source_time)
    d_kernels = [
        tf.matmul(flatten_steps(x), flatten_steps(dz), transpose_a=True)
        for x, dz in zip(saved["inputs"], d_z)
    ]
    d_biases = [tf.reduce_sum(flatten_steps(dz), axis=0) for dz in d_z[1:]]
    d_attention_kernel = tf.matmul(
        flatten_steps(saved["context_inputs"]),
        flatten_steps(arrays["attentional"].stack()),
        transpose_a=True,
    )
    d_keys = tf.einsum("tbs,tbu->bsu", d_scores, saved["top"])
    d_memory = tf.einsum("tbs,tbm->bsm", saved["weights"], arrays["context"].stack())
    return [
        d_z[0],
        d_memory,
        d_keys,
        d_attention_kernel,
        *d_kernels,
        *d_biases,
        *d_initial,
    ]


def _backward_through_time(
    weights, saved, mask_parts, d_outputs, d_final, input_feeding
):
    """The backward loop: `(d_z per layer, d_initial_states, arrays)`, where
    `arrays` holds per step the gradients of the scores, the context and the
    attentional pre-activation."""
    num_layers = len(weights.kernels)
    kernels = weights.kernels
    units = kernels[-1].shape[-1] // 4
    steps = tf.shape(weights.projected)[0]

    def array():
        return tf.TensorArray(weights.projected.dtype, size=steps)

    arrays = {
        "z": [array() for _ in range(num_layers)],
        "scores": array(),
        "context": array(),
        "attentional": array(),
    }

    def back(t, carries, arrays):
        step_masks = _step_masks(mask_parts, t)
        # d of the attentional vector: from the output and, through input
        # feeding, from step t + 1.
        d_attentional = d_outputs[t] * step_masks[-1] + carries[-1]
        d_scores, d_context, d_pre, d_top = _attention_backward(
            weights, saved, t, d_attentional
        )
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
                saved["gates"][j][t],
                saved["carry"][j][t],
                saved["tanh_carry"][j][t],
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
    return d_z, d_initial, arrays


def _attention_backward(weights, saved, t, d_attentional):
    """Step `t`'s attention backward: the gradients of the scores, the
    context, the attentional pre-activation and the top layer's output."""
    memory_dim = weights.memory.shape[-1]
    attentional = saved["attentional"][t]
    d_pre = d_attentional * (1.0 - tf.square(attentional))
    d_context_inputs = tf.matmul(d_pre, weights.attention_kernel, transpose_b=True)
    d_context = d_context_inputs[:, :memory_dim]
    d_top = d_context_inputs[:, memory_dim:]
    attention = saved["weights"][t]
    d_weights = tf.reduce_sum(d_context[:, None, :] * weights.memory, axis=-1)
    d_scores = attention * (
        d_weights - tf.reduce_sum(attention * d_weights, -1, keepdims=True)
    )
    d_top += tf.reduce_sum(d_scores[:, :, None] * weights.keys, axis=1)
    return d_scores, d_context, d_pre, d_top
