"""Each cell of `nlp_lstm.layers.cells` against a NumPy reference written from
the papers' equations, its Keras cell, and autodiff of its own forward."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.layers import cells
from tests.test_case import TestCase

BATCH, FEATURES, UNITS = 3, 5, 4


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_step(kind, x, state, weights):
    """One step of `kind` from the equations, in NumPy: `(h, new_state)`."""
    kernel, recurrent, bias = (
        weights["kernel"],
        weights["recurrent_kernel"],
        weights["bias"],
    )
    h = state[0]
    if kind == "gru":
        # Cho et al. 2014 with the reset gate after the recurrent matmul
        # (Keras' reset_after=True, cuDNN's form); gates z, r, candidate.
        x_z, x_r, x_h = np.split(x @ kernel + bias, 3, axis=-1)
        h_z, h_r, h_h = np.split(h @ recurrent + weights["recurrent_bias"], 3, axis=-1)
        z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
        candidate = np.tanh(x_h + r * h_h)
        h = z * h + (1 - z) * candidate
        return h, [h]
    c = state[1]
    z_i, z_f, z_c, z_o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
    p_i = p_f = p_o = 0.0
    if kind == "peephole_lstm":
        # Gers and Schmidhuber 2000: i and f see c_{t-1}, o sees c_t.
        p_i, p_f, p_o = np.split(weights["params"][0], 3)
    i, f = sigmoid(z_i + p_i * c), sigmoid(z_f + p_f * c)
    c = f * c + i * np.tanh(z_c)
    h = sigmoid(z_o + p_o * c) * np.tanh(c)
    return h, [h, c]


def built_cell(kind, seed=3):
    keras.utils.set_random_seed(seed)
    cell = cells.keras_cell(kind, UNITS)
    cell.build((None, FEATURES))
    rng = np.random.default_rng(seed)
    # Nonzero biases (and peepholes large enough to matter).
    for variable in cell.weights:
        if variable.name in ("bias", "peepholes"):
            variable.assign(rng.normal(size=variable.shape) * 0.5)
    return cell


def numpy_weights(cell):
    return {
        key: (
            [np.asarray(p) for p in value]
            if key == "params"
            else None
            if value is None
            else np.asarray(value)
        )
        for key, value in cells.cell_weights(cell).items()
    }


def random_state(kind, rng):
    return [
        rng.normal(size=(BATCH, UNITS)).astype(np.float32)
        for _ in range(cells.state_size(kind))
    ]


def pre_activations(kind, x, state, weights):
    """`(p, q)` as the loops compute them from the cell's weights."""
    math = cells.get(kind)
    p = x @ weights["kernel"] + weights["bias"]
    q = state[0] @ weights["recurrent_kernel"]
    if weights["recurrent_bias"] is not None:
        q = q + weights["recurrent_bias"]
    return (p + q, None) if math.merged else (p, q)


@pytest.mark.parametrize("kind", cells.CELL_KINDS)
def test_cell_math_and_keras_cell_follow_the_equations(kind):
    rng = np.random.default_rng(1)
    cell = built_cell(kind)
    weights = numpy_weights(cell)
    x = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
    state = random_state(kind, rng)
    expected, expected_state = numpy_step(kind, x, state, weights)
    output, keras_state = cell(x, state)
    keras_state = (
        keras_state if isinstance(keras_state, list | tuple) else [keras_state]
    )
    math = cells.get(kind)
    p, q = pre_activations(kind, x, state, weights)
    math_output, math_state = math.call(p, q, state, weights["params"])
    forward_output, forward_state, saved = math.forward(p, q, state, weights["params"])
    assert len(saved) == math.num_saved
    for value, new_state in (
        (output, keras_state),
        (math_output, math_state),
        (forward_output, forward_state),
    ):
        np.testing.assert_allclose(value, expected, atol=1e-5)
        assert len(new_state) == len(expected_state) == math.num_states
        for a, b in zip(new_state, expected_state):
            np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("kind", cells.CELL_KINDS)
def test_cell_backward_equals_autodiff_of_its_forward(kind):
    rng = np.random.default_rng(2)
    math = cells.get(kind)
    weights = numpy_weights(built_cell(kind))
    x = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
    state = [tf.constant(s) for s in random_state(kind, rng)]
    p, q = pre_activations(kind, x, [s.numpy() for s in state], weights)
    p = tf.constant(p)
    q = None if q is None else tf.constant(q)
    params = [tf.constant(v) for v in weights["params"]]
    d_state = [tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float32) for _ in state]
    sources = [p] + ([] if q is None else [q]) + state + params
    with tf.GradientTape() as tape:
        tape.watch(sources)
        _, new_state, saved = math.forward(p, q, state, params)
        loss = sum(tf.reduce_sum(s * d) for s, d in zip(new_state, d_state))
    expected = tape.gradient(loss, sources)
    d_p, d_q, d_previous, d_params = math.backward(d_state, saved, state[0], params)
    np.testing.assert_allclose(d_p, expected[0], atol=1e-5)
    offset = 1
    if q is not None:
        np.testing.assert_allclose(d_q, expected[1], atol=1e-5)
        offset = 2
    else:
        assert d_q is d_p  # only the sum matters
    for value, reference in zip(d_previous, expected[offset : offset + len(state)]):
        if value is None:  # no direct path: h only reaches the step through q
            assert reference is None or not np.any(reference)
        else:
            np.testing.assert_allclose(value, reference, atol=1e-5)
    for value, reference in zip(d_params, expected[offset + len(state) :]):
        np.testing.assert_allclose(tf.reduce_sum(value, axis=0), reference, atol=1e-5)
    assert len(d_params) == len(params) == len(math.param_names)


def test_a_peephole_lstm_with_zero_peepholes_is_the_lstm():
    rng = np.random.default_rng(4)
    z = tf.constant(rng.normal(size=(BATCH, 4 * UNITS)), tf.float32)
    carry = tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float32)
    lstm = cells.lstm_step(z, carry)
    peephole = cells.peephole_lstm_step(z, carry, tf.zeros(3 * UNITS))
    for a, b in zip(lstm, peephole):
        np.testing.assert_allclose(a, b, atol=1e-7)
    # And nonzero peepholes change it.
    other = cells.peephole_lstm_step(z, carry, tf.fill([3 * UNITS], 0.5))
    assert not np.allclose(other[0], lstm[0], atol=1e-3)


def test_peephole_cell_serializes_and_runs_in_keras_rnn_layers():
    layer = keras.layers.Bidirectional(
        cells.keras_rnn("peephole_lstm", UNITS, return_sequences=True)
    )
    x = np.random.RandomState(0).randn(2, 6, FEATURES).astype("float32")
    rebuilt = TestCase().run_serialization_test(layer, lambda lay, _: lay(x), None)
    assert isinstance(rebuilt.forward_layer.cell, cells.PeepholeLSTMCell)
    assert rebuilt.forward_layer.cell.peepholes.shape == (3 * UNITS,)


def test_unknown_cells_are_named_with_the_choices():
    with pytest.raises(ValueError, match="lstm, peephole_lstm, gru, got 'rnn'"):
        cells.get("rnn")
    with pytest.raises(ValueError, match="reset_after=True"):
        cell = keras.layers.GRUCell(2, reset_after=False)
        cell.build((None, 3))
        cells.cell_weights(cell)


def test_the_configs_offer_exactly_the_cells():
    """`config.py` sits below the layers, so its cell literals are written out:
    they must be the `CELLS` names."""
    import typing

    from nlp_lstm import config as config_lib

    for section in (config_lib.EncoderConfig, config_lib.DecoderConfig):
        hints = typing.get_type_hints(section)
        assert typing.get_args(hints["cell"]) == cells.CELL_KINDS
