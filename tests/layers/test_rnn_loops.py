"""The hand-written backward passes of the recurrent loops against autodiff."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.layers.attention import MASK_SCORE
from nlp_lstm.layers.decoder_loop import attention_decoder_loop
from nlp_lstm.layers.encoder import StackedBidirectionalEncoder


def reference_loop(projected, states, memory, keys, score_bias, masks, kernels,
                   biases, attention_kernel, input_feeding):
    """The same decoder written step by step with plain ops (autodiff)."""
    num_layers = len(kernels)
    units = keys.shape[-1]
    state = list(states)
    outputs = []
    for t in range(projected.shape[0]):
        step_masks = tf.split(masks[min(t, masks.shape[0] - 1)], num_layers + 1, -1)
        new_state, output = [], None
        for j in range(num_layers):
            hidden, carry = state[2 * j], state[2 * j + 1]
            if j == 0:
                feed = [state[-1] * step_masks[0]] if input_feeding else []
                z = projected[t] + tf.concat(feed + [hidden], -1) @ kernels[0]
            else:
                layer_inputs = tf.concat([output * step_masks[j], hidden], -1)
                z = layer_inputs @ kernels[j] + biases[j - 1]
            i, f, g, o = tf.split(z, 4, axis=-1)
            carry = tf.sigmoid(f) * carry + tf.sigmoid(i) * tf.tanh(g)
            output = tf.sigmoid(o) * tf.tanh(carry)
            new_state += [output, carry]
        scores = tf.einsum("bu,bsu->bs", output, keys) + score_bias
        context = tf.einsum("bs,bsm->bm", tf.nn.softmax(scores), memory)
        attentional = tf.tanh(tf.concat([context, output], -1) @ attention_kernel)
        outputs.append(attentional * step_masks[-1])
        state = new_state + [attentional]
    assert units == state[0].shape[-1]
    return tf.stack(outputs), state


@pytest.mark.parametrize("input_feeding", [True, False])
def test_hand_written_gradients_match_autodiff_with_dropout(input_feeding):
    rng = np.random.default_rng(3)
    steps, batch, units, source, memory_dim, layers = 4, 3, 5, 6, 7, 2

    def tensor(*shape, scale=0.5):
        return tf.constant(rng.normal(size=shape) * scale, tf.float32)

    projected = tensor(steps, batch, 4 * units)
    states = [tensor(batch, units) for _ in range(2 * layers + 1)]
    memory = tensor(batch, source, memory_dim)
    keys = tensor(batch, source, units)
    lengths = np.array([6, 3, 1])
    score_bias = tf.constant(
        np.where(np.arange(source) < lengths[:, None], 0.0, MASK_SCORE), tf.float32
    )
    keep = rng.random((steps, batch, (layers + 1) * units)) > 0.3
    masks = tf.constant(keep / 0.7, tf.float32)
    first_width = 2 * units if input_feeding else units
    kernels = [tensor(first_width, 4 * units), tensor(2 * units, 4 * units)]
    biases = [tensor(4 * units)]
    attention_kernel = tensor(memory_dim + units, units)
    differentiable = [projected, memory, keys, attention_kernel, *kernels, *biases]
    differentiable += states
    weights = tensor(steps, batch, units)

    results = []
    for loop in (attention_decoder_loop, reference_loop):
        with tf.GradientTape() as tape:
            tape.watch(differentiable)
            outputs, final = loop(projected, states, memory, keys, score_bias, masks,
                                  kernels, biases, attention_kernel, input_feeding)
            loss = tf.reduce_sum(outputs * weights) + tf.reduce_sum(final[1] ** 2)
        results.append((outputs, final, tape.gradient(loss, differentiable)))
    (outputs, final, gradients), (expected, expected_final, expected_gradients) = (
        results
    )
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    for value, reference in zip(final, expected_final):
        np.testing.assert_allclose(value, reference, atol=1e-5)
    for gradient, reference in zip(gradients, expected_gradients):
        if reference is None:  # the fed vector with input feeding off
            assert gradient is None or not np.any(gradient)
            continue
        np.testing.assert_allclose(gradient, reference, atol=1e-4)
    # Padded memory positions get no gradient.
    assert not np.any(gradients[1].numpy()[2, 1:])


def test_encoder_loop_matches_keras_layers_and_gradients():
    """The one-loop bidirectional LSTM equals Keras' `Bidirectional(LSTM)` on a
    right-padded batch: outputs, final states and every gradient."""
    keras.utils.set_random_seed(8)
    encoder = StackedBidirectionalEncoder(num_layers=2, units=4)
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 6, 5)), tf.float32)
    mask = tf.constant(np.arange(6)[None, :] < np.array([6, 4, 1])[:, None])
    encoder.build(x.shape)
    weights = tf.constant(np.random.default_rng(4).normal(size=(3, 6, 8)), tf.float32)
    results = []
    for run in (encoder._run_loops, None):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs, inputs = [], x
            states = []
            for layer in encoder.rnn_layers:
                if run is None:
                    out, state = encoder.run_keras(layer, inputs, mask, False)
                else:
                    out, state = run(layer, inputs, mask)
                outputs.append(out)
                states.append(state)
                inputs = out
            loss = tf.reduce_sum(outputs[-1] * weights) + tf.reduce_sum(
                states[0][1] * states[1][0]
            )
        variables = [x] + encoder.trainable_variables
        results.append((outputs, states, tape.gradient(loss, variables)))
    (outputs, states, gradients), (expected, expected_states, expected_gradients) = (
        results
    )
    for value, reference in zip(outputs, expected):
        np.testing.assert_allclose(value, reference, atol=1e-5)
    for layer_states, layer_expected in zip(states, expected_states):
        for value, reference in zip(layer_states, layer_expected):
            np.testing.assert_allclose(value, reference, atol=1e-5)
    assert len(gradients) == 1 + 12
    for gradient, reference in zip(gradients, expected_gradients):
        np.testing.assert_allclose(gradient, reference, atol=1e-4)
    # Padded positions of the input get no gradient.
    assert not np.any(gradients[0].numpy()[2, 1:])


def loop_matmuls(function):
    """The MatMul nodes inside the loops (while bodies) of `function`'s graph,
    each with the op types that read its output."""
    traced = tf.function(function, autograph=False).get_concrete_function()
    library = traced.graph.as_graph_def().library.function
    found = []
    for body in library:
        readers = {}
        for node in body.node_def:
            for name in node.input:
                readers.setdefault(name.split(":")[0], []).append(node.op)
        found += [
            (node, readers.get(node.name, []))
            for node in body.node_def
            if node.op == "MatMul"
        ]
    return found


def test_loop_steps_multiply_by_kernels_as_stored():
    # A step's `matmul(x, kernel, transpose_b=True)` (the backward loops'
    # products by the kernels' transposes) ran 2.5-4x slower on CPU than the
    # same product with the kernel transposed once before the loop. A
    # `linear.times_transposed` (the kernel on the left, the step's rows
    # transposed, the product transposed back) is the fast form.
    rng = np.random.default_rng(5)
    steps, batch, units, source, layers = 3, 2, 4, 5, 2

    def tensor(*shape):
        return tf.constant(rng.normal(size=shape) * 0.5, tf.float32)

    states = [tensor(batch, units) for _ in range(2 * layers + 1)]
    decoder_inputs = [
        tensor(steps, batch, 4 * units), tensor(batch, source, units),
        tensor(batch, source, units), tf.zeros([batch, source]),
        tf.ones([steps, batch, (layers + 1) * units]),
        [tensor(2 * units, 4 * units), tensor(2 * units, 4 * units)],
        [tensor(4 * units)], tensor(2 * units, units),
    ]

    def decoder_gradients():
        with tf.GradientTape() as tape:
            tape.watch(decoder_inputs[5])
            outputs, _ = attention_decoder_loop(
                decoder_inputs[0], states, *decoder_inputs[1:], input_feeding=True
            )
            loss = tf.reduce_sum(outputs**2)
        return tape.gradient(loss, decoder_inputs[5])

    encoder = StackedBidirectionalEncoder(num_layers=2, units=units)
    x = tensor(batch, steps, 3)
    encoder.build(x.shape)
    mask = tf.constant([[True] * steps, [True] + [False] * (steps - 1)])

    def encoder_gradients():
        with tf.GradientTape() as tape:
            outputs, _ = encoder._run_loops(encoder.rnn_layers[0], x, mask)
            loss = tf.reduce_sum(outputs**2)
        return tape.gradient(loss, encoder.trainable_variables)

    for function in (decoder_gradients, encoder_gradients):
        matmuls = loop_matmuls(function)
        # Forward and backward loops both multiply in their steps.
        assert len(matmuls) >= 4
        by_transposed_kernel = [
            m.name
            for m, readers in matmuls
            if m.attr["transpose_b"].b and readers != ["Transpose"]
        ]
        assert not by_transposed_kernel, f"{function.__name__}: {by_transposed_kernel}"
        assert not any(m.attr["transpose_a"].b for m, _ in matmuls)


def graph_nodes(function):
    """Every node of `function`'s graph, its called functions' included."""
    traced = tf.function(function, autograph=False).get_concrete_function()
    graph_def = traced.graph.as_graph_def()
    nodes = list(graph_def.node)
    for body in graph_def.library.function:
        nodes += list(body.node_def)
    return nodes


@pytest.mark.parametrize("cell", ["lstm", "peephole_lstm", "gru"])
def test_the_inference_loop_keeps_only_its_outputs(cell):
    """Training keeps at every step what the hand-written backward pass
    reads; inference (`training=False`) writes the outputs only, with no
    custom gradient."""
    keras.utils.set_random_seed(3)
    encoder = StackedBidirectionalEncoder(num_layers=1, units=4, cell=cell)
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 5, 3)), tf.float32)
    mask = tf.constant([[True] * 5, [True, True, False, False, False]])
    encoder.build(x.shape)
    writes, custom = {}, {}
    for training in (True, False):
        nodes = graph_nodes(
            lambda training=training: encoder(x, mask=mask, training=training)[0]
        )
        writes[training] = sum(node.op == "TensorListSetItem" for node in nodes)
        custom[training] = any("_gradient_op_type" in node.attr for node in nodes)
    saved_by_cell = {"lstm": 3, "peephole_lstm": 3, "gru": 1}[cell]
    assert writes == {True: saved_by_cell + 2, False: 1}
    assert custom == {True: True, False: False}
