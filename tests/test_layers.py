"""Numerics of the shared layers against NumPy references, masking, serialization."""

import keras
import numpy as np
import pytest

from nlp_lstm.layers.attention import ATTENTIONS
from nlp_lstm.layers.attention import get as get_attention
from nlp_lstm.layers.decoder import AttentionDecoder, Bridge
from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from nlp_lstm.layers.output import OutputProjection
from tests.helpers import run_keras_roundtrip_test


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(x, kernel, recurrent, bias):
    """Keras gate order (i, f, c, o); x: (time, features) -> (time, units)."""
    units = recurrent.shape[0]
    h, c = np.zeros(units), np.zeros(units)
    outputs = []
    for x_t in x:
        z = x_t @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs), h, c


def numpy_bidirectional(x, forward_weights, backward_weights):
    forward, fh, fc = numpy_lstm(x, *forward_weights)
    backward, bh, bc = numpy_lstm(x[::-1], *backward_weights)
    outputs = np.concatenate([forward, backward[::-1]], axis=-1)
    return outputs, np.concatenate([fh, bh]), np.concatenate([fc, bc])


def test_encoder_matches_numpy_reference_on_padded_batch():
    keras.utils.set_random_seed(1)
    encoder = StackedBidirectionalEncoder(num_layers=2, units=3, residual=True)
    lengths = [5, 3, 1]
    x = np.random.RandomState(0).randn(3, 5, 4).astype("float32")
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    outputs, states = encoder(x, mask=mask)
    outputs = np.asarray(outputs)
    for row, length in enumerate(lengths):
        layer_input = x[row, :length].astype("float64")
        for index, layer in enumerate(encoder.rnn_layers):
            forward = [w.numpy() for w in layer.forward_layer.weights]
            backward = [w.numpy() for w in layer.backward_layer.weights]
            expected, h, c = numpy_bidirectional(layer_input, forward, backward)
            if index > 0:
                expected = expected + layer_input
            np.testing.assert_allclose(np.asarray(states[index][0])[row], h, atol=1e-5)
            np.testing.assert_allclose(np.asarray(states[index][1])[row], c, atol=1e-5)
            layer_input = expected
        np.testing.assert_allclose(outputs[row, :length], layer_input, atol=1e-5)


def test_encoder_padding_does_not_change_real_positions():
    keras.utils.set_random_seed(2)
    encoder = StackedBidirectionalEncoder(num_layers=2, units=4, cell="gru")
    x = np.random.RandomState(1).randn(1, 3, 5).astype("float32")
    padded = np.concatenate([x, np.random.randn(1, 4, 5).astype("float32")], axis=1)
    mask = np.array([[True] * 3 + [False] * 4])
    alone, alone_states = encoder(x)
    inside, inside_states = encoder(padded, mask=mask)
    np.testing.assert_allclose(np.asarray(inside)[:, :3], np.asarray(alone), atol=1e-5)
    for a, b in zip(alone_states, inside_states):
        np.testing.assert_allclose(np.asarray(a[0]), np.asarray(b[0]), atol=1e-5)


def test_encoder_forward_state_is_output_at_last_real_step_without_residual():
    keras.utils.set_random_seed(3)
    encoder = StackedBidirectionalEncoder(num_layers=1, units=4, residual=False)
    x = np.random.RandomState(2).randn(2, 6, 3).astype("float32")
    lengths = np.array([6, 2])
    mask = np.arange(6)[None, :] < lengths[:, None]
    outputs, states = encoder(x, mask=mask)
    outputs, h = np.asarray(outputs), np.asarray(states[0][0])
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(h[row, :4], outputs[row, length - 1, :4], atol=1e-6)
        np.testing.assert_allclose(h[row, 4:], outputs[row, 0, 4:], atol=1e-6)


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_attention_matches_numpy_reference(kind):
    keras.utils.set_random_seed(4)
    rng = np.random.RandomState(3)
    memory = rng.randn(2, 4, 6).astype("float32")
    query = rng.randn(2, 6).astype("float32")
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    layer = get_attention(kind, 6)
    layer.build(memory.shape)
    keys = layer.prepare(memory)
    context, weights = layer(query, keys, memory, mask=mask)
    if kind == "luong_dot":
        scores = np.einsum("bd,bsd->bs", query, memory)
    elif kind == "luong_general":
        scores = np.einsum("bd,bsd->bs", query, memory @ layer.kernel.numpy())
    else:
        hidden = np.tanh(
            (query @ layer.query_kernel.numpy())[:, None]
            + memory @ layer.memory_kernel.numpy()
        )
        scores = hidden @ layer.vector.numpy()
    scores = np.where(mask, scores, -np.inf)
    expected = np.exp(scores - scores.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(weights), expected, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(context), np.einsum("bs,bsd->bd", expected, memory), atol=1e-5
    )
    # All time steps at once give the same as one step.
    all_steps, _ = layer(query[:, None], keys, memory, mask=mask)
    np.testing.assert_allclose(
        np.asarray(all_steps)[:, 0], np.asarray(context), atol=1e-6
    )


def test_luong_dot_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="luong_dot"):
        get_attention("luong_dot", 8).build((2, 3, 6))


def test_decoder_teacher_forcing_equals_stepwise_decoding():
    keras.utils.set_random_seed(5)
    decoder = AttentionDecoder(num_layers=2, units=6, attention="bahdanau")
    inputs = np.random.RandomState(4).randn(2, 5, 3).astype("float32")
    memory = np.random.RandomState(5).randn(2, 4, 8).astype("float32")
    mask = np.array([[True] * 4, [True, True, False, False]])
    decoder.build(inputs.shape, memory.shape)
    state = decoder.initial_state([np.ones((2, 6), "float32") * 0.1] * 4)
    outputs, _ = decoder(inputs, state, memory, mask=mask)
    keys = decoder.prepare(memory)
    for t in range(5):
        step_output, state, _ = decoder.step(
            inputs[:, t], state, memory, keys, mask=mask
        )
        np.testing.assert_allclose(
            np.asarray(outputs)[:, t], np.asarray(step_output), atol=1e-5
        )


@pytest.mark.parametrize(
    "attention, input_feeding",
    [
        ("luong_general", True),
        ("luong_general", False),
        ("luong_dot", True),
        ("bahdanau", True),
    ],
)
def test_decoder_fast_lstm_path_equals_step_loop(attention, input_feeding):
    """The hoisted LSTM loop (with the hand-written backward pass for Luong
    scores) gives the step loop's outputs and autodiff gradients."""
    import tensorflow as tf

    keras.utils.set_random_seed(6)
    decoder = AttentionDecoder(
        num_layers=3, units=5, attention=attention, input_feeding=input_feeding
    )
    inputs = tf.constant(np.random.RandomState(9).randn(3, 4, 7), tf.float32)
    memory = tf.constant(np.random.RandomState(10).randn(3, 6, 5), tf.float32)
    mask = tf.constant([[True] * 6, [True] * 3 + [False] * 3, [True] + [False] * 5])
    decoder.build(inputs.shape, memory.shape)
    state = decoder.initial_state(
        [tf.constant(np.random.RandomState(i).randn(3, 5), "float32") for i in range(6)]
    )
    results = []
    for run in (decoder._teacher_forcing_lstm, decoder._teacher_forcing_steps):
        with tf.GradientTape() as tape:
            keys = decoder.prepare(memory)
            outputs, final = run(inputs, state, memory, keys, mask, True)
            loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(final[-2])
        gradients = tape.gradient(loss, decoder.trainable_variables)
        results.append((outputs, final, gradients))
    (fast, fast_final, fast_grads), (slow, slow_final, slow_grads) = results
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    for a, b in zip(fast_final, slow_final):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert len(fast_grads) == len(slow_grads) > 0
    for a, b in zip(fast_grads, slow_grads):
        np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_encoder_serialization(cell):
    encoder = StackedBidirectionalEncoder(num_layers=2, units=3, cell=cell, dropout=0.1)
    x = np.random.RandomState(6).randn(2, 4, 5).astype("float32")
    run_keras_roundtrip_test(encoder, lambda layer: layer(x)[0])


@pytest.mark.parametrize("attention", sorted(ATTENTIONS))
def test_decoder_serialization(attention):
    decoder = AttentionDecoder(
        num_layers=1, units=4, attention=attention, input_feeding=False
    )
    inputs = np.random.RandomState(7).randn(2, 3, 5).astype("float32")
    memory = np.random.RandomState(8).randn(2, 6, 4).astype("float32")

    def call(layer):
        state = layer.initial_state([np.zeros((2, 4), "float32")] * 2)
        return layer(inputs, state, memory)[0]

    run_keras_roundtrip_test(decoder, call)


@pytest.mark.parametrize("kind", Bridge.KINDS)
def test_bridge_serialization_and_shapes(kind):
    bridge = Bridge(kind=kind, num_layers=3, units=4, cell="lstm")
    states = [
        [np.ones((2, 4), "float32") * i, np.ones((2, 4), "float32")] for i in range(2)
    ]
    rebuilt = run_keras_roundtrip_test(bridge, lambda layer: layer(states))
    outputs = rebuilt(states)
    assert len(outputs) == 6 and all(tuple(o.shape) == (2, 4) for o in outputs)


@pytest.mark.parametrize("tied", [False, True])
def test_output_projection(tied):
    layer = OutputProjection(7, tied=tied)
    embeddings = np.random.RandomState(9).randn(7, 3).astype("float32")
    inputs = np.random.RandomState(10).randn(2, 5).astype("float32")
    call = (
        (lambda lay: lay(inputs, embeddings=embeddings))
        if tied
        else (lambda lay: lay(inputs))
    )
    rebuilt = run_keras_roundtrip_test(layer, call)
    assert tuple(call(rebuilt).shape) == (2, 7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_layers": 0}, "num_layers must be a positive integer, got 0"),
        ({"units": -1}, "units must be a positive integer, got -1"),
        ({"cell": "rnn"}, "cell must be one of"),
        ({"dropout": 1.5}, "dropout must be in"),
    ],
)
def test_encoder_argument_errors_quote_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StackedBidirectionalEncoder(**kwargs)
