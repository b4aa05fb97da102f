"""The attentional decoder's teacher-forcing loop, with a hand-written
backward pass: the `"fused"` implementation of `AttentionDecoder`.

It runs what stepping `AttentionDecoder.step` computes (stacked cells of any
kind of `nlp_lstm.layers.cells`, input feeding, a dot-product Luong score over
precomputed keys, the tanh attentional projection), for training on CPU. As
in `rnn_loops`, the backward loop only carries the gradients that flow
through time; the weight gradients are then one matmul over all steps. The
tests check it against the step loop, outputs and gradients.
"""

from __future__ import annotations

import typing

import tensorflow as tf

from nlp_lstm.layers import cells, linear
from nlp_lstm.layers.rnn_loops import flatten_steps

# Attention kinds whose score is `query . key` over precomputed keys: the ones
# this loop computes.
SCORES = ("luong_dot", "luong_general")


def supports(cell: str, attention: str) -> bool:
    """Whether the loop computes an `AttentionDecoder` with this cell and
    attention kind."""
    return cell in cells.CELLS and attention in SCORES


class _Weights(typing.NamedTuple):
    """The loop's differentiable inputs, other than the initial states."""

    projected: tf.Tensor
    memory: tf.Tensor
    keys: tf.Tensor
    attention_kernel: tf.Tensor
    kernels: list
    # LSTM-family kernels transposed, for the forward steps'
    # `linear.times_transposed` (empty for other cells).
    kernels_t: list
    biases: list
    recurrent_biases: list
    params: list  # per layer, the cell's extra weights


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
    cell: str = "lstm",
    recurrent_biases=(),
    params=(),
):
    """Teacher-forced stacked recurrent decoder with Luong attention.

    Args:
        projected: `(time, batch, gates * units)`: the first layer's input
            projection of every step (target embeddings @ kernel + bias).
        states: list of `num_states * num_layers + 1` tensors `(batch,
            units)`: the cell states of every layer (h, and c for LSTMs),
            then the previous attentional vector.
        memory: `(batch, source_time, memory_dim)` encoder outputs.
        keys: `(batch, source_time, units)` attention keys.
        score_bias: `(batch, source_time)`, 0 on real positions and
            `attention.MASK_SCORE` on padding (no gradient).
        masks: `(time, batch or 1, (num_layers + 1) * units)` dropout masks
            (already scaled; no gradient): the fed attentional vector, the
            inputs of layers 2.., and the attentional output.
        kernels: per layer `[input; h]` weights (the input kernel stacked on
            the recurrent one): the first layer's is `(units + units, gates *
            units)` with input feeding (`(units, gates * units)` without),
            the others `(2 * units, gates * units)`.
        biases: input biases of layers 2.. `(gates * units,)` (the first
            layer's is in `projected`).
        attention_kernel: `(memory_dim + units, units)`: the attentional
            vector is `tanh([context; h] @ attention_kernel)`.
        input_feeding: bool.
        cell: str. A `cells.CELLS` name.
        recurrent_biases: per layer `(gates * units,)` for cells with a
            recurrent bias (GRU), else empty.
        params: per layer, the list of the cell's extra weights (the
            peepholes), else empty.

    Returns:
        `(outputs, final_states)`: `(time, batch, units)` attentional vectors
        after dropout, and the states after the last step.
    """
    math = cells.get(cell)
    num_layers = len(kernels)
    num_states = math.num_states * num_layers + 1
    if len(states) != num_states or len(biases) != num_layers - 1:
        raise ValueError(
            f"{num_layers} {cell} layers need {num_states} states and "
            f"{num_layers - 1} biases, got {len(states)} and {len(biases)}"
        )
    params = [list(p) for p in params] or [[] for _ in range(num_layers)]
    num_params = len(params[0])
    flat_inputs = [projected, memory, keys, attention_kernel, *kernels, *biases]
    flat_inputs += list(recurrent_biases) + [p for layer in params for p in layer]
    flat_inputs += list(states)
    # Variables are read here, so that their gradients flow through the reads.
    flat_inputs = [tf.convert_to_tensor(x) for x in flat_inputs]
    num_weights = len(flat_inputs) - num_states

    @tf.custom_gradient
    def run(*tensors):
        rest = list(tensors[4:num_weights])
        layer_kernels = rest[:num_layers]
        layer_biases = rest[num_layers : 2 * num_layers - 1]
        rest = rest[2 * num_layers - 1 :]
        layer_recurrent_biases = rest[: len(recurrent_biases)]
        rest = rest[len(recurrent_biases) :]
        layer_params = [
            rest[j * num_params : (j + 1) * num_params] for j in range(num_layers)
        ]
        # The matmul weights in the matmul precision, cast once for both loops.
        kernels = [linear.compute_copy(kernel) for kernel in layer_kernels]
        weights = _Weights(
            *tensors[:3],
            attention_kernel=linear.compute_copy(tensors[3]),
            kernels=kernels,
            kernels_t=[linear.transposed(k) for k in kernels] if math.merged else [],
            biases=layer_biases,
            recurrent_biases=layer_recurrent_biases,
            params=layer_params,
        )
        initial = list(tensors[num_weights:])
        mask_parts = tf.split(masks, num_layers + 1, axis=-1)
        outputs, final, saved = _forward(
            math, weights, initial, score_bias, mask_parts, input_feeding
        )

        def grad(d_outputs, *d_final):
            d_final = [
                tf.zeros_like(s) if d is None else d for s, d in zip(final, d_final)
            ]
            return _backward(
                math, weights, saved, mask_parts, d_outputs, d_final, input_feeding
            )

        return (outputs, *final), grad

    results = run(*flat_inputs)
    return results[0], list(results[1:])


def _step_masks(mask_parts, t):
    """The dropout masks of step `t` (one step's masks serve all steps)."""
    return [part[tf.minimum(t, tf.shape(part)[0] - 1)] for part in mask_parts]


def _layer_pre_activations(math, weights, j, t, layer_inputs, units):
    """`(p, q)` of layer `j` at step `t` from `layer_inputs` = `[input; h]`
    (for the LSTM family `p` is the whole pre-activation and `q` None)."""
    kernel = weights.kernels[j]
    if j == 0:
        bias = weights.projected[t]
    else:
        bias = weights.biases[j - 1]
    if math.merged:
        return bias + linear.times_transposed(layer_inputs, weights.kernels_t[j]), None
    q = linear.matmul(layer_inputs[:, -units:], kernel[-units:])
    if weights.recurrent_biases:
        q += weights.recurrent_biases[j]
    if layer_inputs.shape[-1] > units:
        bias = bias + linear.matmul(layer_inputs[:, :-units], kernel[:-units])
    return bias, q


def _forward(math, weights, initial, score_bias, mask_parts, input_feeding):
    """`(outputs, final_states, saved)`: the loop, and per step what the
    backward pass needs (one `tf.while_loop` body over all layers and the
    attention: longer than most functions, since splitting the body would
    pass a dozen loop variables between pieces)."""
    num_layers = len(weights.kernels)
    per_layer = math.num_states
    units = initial[0].shape[-1]
    steps = tf.shape(weights.projected)[0]

    def array():
        return tf.TensorArray(weights.projected.dtype, size=steps)

    saved = {
        "inputs": [array() for _ in range(num_layers)],
        "cell": [[array() for _ in range(math.num_saved)] for _ in range(num_layers)],
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
            layer_state = state[per_layer * j : per_layer * (j + 1)]
            if j == 0:
                parts = [attentional * step_masks[0]] if input_feeding else []
            else:
                parts = [output * step_masks[j]]
            layer_inputs = tf.concat(parts + [layer_state[0]], axis=-1)
            p, q = _layer_pre_activations(math, weights, j, t, layer_inputs, units)
            output, layer_state, cell_saved = math.forward(
                p, q, layer_state, weights.params[j]
            )
            saved["inputs"][j] = saved["inputs"][j].write(t, layer_inputs)
            saved["cell"][j] = [
                a.write(t, value) for a, value in zip(saved["cell"][j], cell_saved)
            ]
            new_state.extend(layer_state)
        # Products and sums rather than batched matmuls: with one query per
        # sentence these are matrix-vector products, which the batched matmul
        # kernels run far below their speed.
        scores = tf.reduce_sum(output[:, None, :] * weights.keys, axis=-1)
        attention = tf.nn.softmax(scores + score_bias, axis=-1)
        context = tf.reduce_sum(attention[:, :, None] * weights.memory, axis=1)
        context_inputs = tf.concat([context, output], axis=-1)
        attentional = tf.tanh(linear.matmul(context_inputs, weights.attention_kernel))
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
        "inputs": [a.stack() for a in saved["inputs"]],
        "cell": [[a.stack() for a in layer] for layer in saved["cell"]],
    }
    for key in ("weights", "top", "context_inputs", "attentional"):
        stacked[key] = saved[key].stack()
    return outputs.stack(), final, stacked


def _backward(math, weights, saved, mask_parts, d_outputs, d_final, input_feeding):
    """The gradients of `attention_decoder_loop`'s differentiable inputs (in
    their order), from those of its outputs and final states."""
    d_p, d_q, d_params, d_initial, arrays = _backward_through_time(
        math, weights, saved, mask_parts, d_outputs, d_final, input_feeding
    )
    units = d_initial[0].shape[-1]
    d_scores = arrays["scores"].stack()  # (time, batch, source_time)
    if math.merged:
        d_kernels = [
            linear.matmul(flatten_steps(x), flatten_steps(dz), transpose_a=True)
            for x, dz in zip(saved["inputs"], d_p)
        ]
    else:
        d_kernels = []
        for x, dp, dq in zip(saved["inputs"], d_p, d_q):
            d_recurrent = linear.matmul(
                flatten_steps(x[..., -units:]), flatten_steps(dq), transpose_a=True
            )
            d_input = linear.matmul(
                flatten_steps(x[..., :-units]), flatten_steps(dp), transpose_a=True
            )
            d_kernels.append(tf.concat([d_input, d_recurrent], axis=0))
    d_biases = [tf.reduce_sum(flatten_steps(dp), axis=0) for dp in d_p[1:]]
    d_recurrent_biases = []
    if weights.recurrent_biases:
        d_recurrent_biases = [tf.reduce_sum(flatten_steps(dq), axis=0) for dq in d_q]
    d_attention_kernel = linear.matmul(
        flatten_steps(saved["context_inputs"]),
        flatten_steps(arrays["attentional"].stack()),
        transpose_a=True,
    )
    d_keys = tf.einsum("tbs,tbu->bsu", d_scores, saved["top"])
    d_memory = tf.einsum("tbs,tbm->bsm", saved["weights"], arrays["context"].stack())
    return [
        d_p[0],
        d_memory,
        d_keys,
        d_attention_kernel,
        *d_kernels,
        *d_biases,
        *d_recurrent_biases,
        *[d for layer in d_params for d in layer],
        *d_initial,
    ]


def _backward_through_time(
    math, weights, saved, mask_parts, d_outputs, d_final, input_feeding
):
    """The backward loop: `(d_p, d_q per layer, d_params per layer,
    d_initial_states, arrays)`, where `arrays` holds per step the gradients
    of the scores, the context and the attentional pre-activation."""
    num_layers = len(weights.kernels)
    per_layer = math.num_states
    units = d_final[0].shape[-1]
    steps = tf.shape(weights.projected)[0]
    # The step's matmuls multiply by the kernels' transposes: an LSTM's by
    # `linear.times_transposed` (the kernel as the left operand), the others'
    # by kernels transposed once here, since a small `matmul(..., transpose_b=
    # True)` by a kernel runs several times slower than the plain one on CPU
    # (`linear.transposed`).
    kernels_t = [
        (linear.transposed(kernel[:-units]), linear.transposed(kernel[-units:]))
        for kernel in ([] if math.merged else weights.kernels)
    ]
    attention_kernel_t = linear.transposed(weights.attention_kernel)

    def array():
        return tf.TensorArray(weights.projected.dtype, size=steps)

    arrays = {
        "p": [array() for _ in range(num_layers)],
        "q": [array() for _ in range(num_layers)],
        "scores": array(),
        "context": array(),
        "attentional": array(),
    }
    d_params = [[tf.zeros_like(p) for p in layer] for layer in weights.params]

    def back(t, carries, d_params, arrays):
        step_masks = _step_masks(mask_parts, t)
        # d of the attentional vector: from the output and, through input
        # feeding, from step t + 1.
        d_attentional = d_outputs[t] * step_masks[-1] + carries[-1]
        d_scores, d_context, d_pre, d_top = _attention_backward(
            weights, attention_kernel_t, saved, t, d_attentional
        )
        arrays["scores"] = arrays["scores"].write(t, d_scores)
        arrays["context"] = arrays["context"].write(t, d_context)
        arrays["attentional"] = arrays["attentional"].write(t, d_pre)
        new_carries = [None] * (per_layer * num_layers + 1)
        new_params = [list(layer) for layer in d_params]
        d_hidden_above = d_top
        for j in reversed(range(num_layers)):
            first = per_layer * j
            d_state = [carries[first] + d_hidden_above]
            d_state += list(carries[first + 1 : first + per_layer])
            layer_inputs = saved["inputs"][j][t]
            d_p, d_q, d_previous, d_step_params = math.backward(
                d_state,
                [a[t] for a in saved["cell"][j]],
                layer_inputs[:, -units:],
                weights.params[j],
            )
            arrays["p"][j] = arrays["p"][j].write(t, d_p)
            if math.merged:
                d_inputs = linear.times_transposed(d_p, weights.kernels[j])
            else:
                arrays["q"][j] = arrays["q"][j].write(t, d_q)
                input_t, recurrent_t = kernels_t[j]
                d_inputs = tf.concat(
                    [linear.matmul(d_p, input_t), linear.matmul(d_q, recurrent_t)],
                    axis=-1,
                )
            d_hidden = d_inputs[:, -units:]
            if d_previous[0] is not None:
                d_hidden += d_previous[0]
            new_carries[first : first + per_layer] = [d_hidden, *d_previous[1:]]
            new_params[j] = [
                acc + tf.reduce_sum(d, axis=0)
                for acc, d in zip(d_params[j], d_step_params)
            ]
            if j > 0:
                d_hidden_above = d_inputs[:, :units] * step_masks[j]
        if input_feeding:
            new_carries[-1] = d_inputs[:, :units] * step_masks[0]
        else:
            new_carries[-1] = tf.zeros_like(carries[-1])
        return t - 1, new_carries, new_params, arrays

    _, d_initial, d_params, arrays = tf.while_loop(
        lambda t, *_: t >= 0, back, (steps - 1, d_final, d_params, arrays)
    )
    d_p = [a.stack() for a in arrays["p"]]  # (time, batch, gates * units)
    d_q = d_p if math.merged else [a.stack() for a in arrays["q"]]
    return d_p, d_q, d_params, d_initial, arrays


def _attention_backward(weights, attention_kernel_t, saved, t, d_attentional):
    """Step `t`'s attention backward: the gradients of the scores, the
    context, the attentional pre-activation and the top layer's output
    (`attention_kernel_t`: the attention kernel transposed)."""
    memory_dim = weights.memory.shape[-1]
    attentional = saved["attentional"][t]
    d_pre = d_attentional * (1.0 - tf.square(attentional))
    d_context_inputs = linear.matmul(d_pre, attention_kernel_t)
    d_context = d_context_inputs[:, :memory_dim]
    d_top = d_context_inputs[:, memory_dim:]
    attention = saved["weights"][t]
    d_weights = tf.reduce_sum(d_context[:, None, :] * weights.memory, axis=-1)
    d_scores = attention * (
        d_weights - tf.reduce_sum(attention * d_weights, -1, keepdims=True)
    )
    d_top += tf.reduce_sum(d_scores[:, :, None] * weights.keys, axis=1)
    return d_scores, d_context, d_pre, d_top
