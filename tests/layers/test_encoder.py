"""StackedBidirectionalEncoder: shapes, serialization, NumPy reference, masking."""

import keras
import numpy as np
import pytest

from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from tests.test_case import TestCase

INPUTS = np.random.RandomState(6).randn(2, 4, 5).astype("float32")
MASK = np.array([[True] * 4, [True, True, False, False]])


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


class TestStackedBidirectionalEncoder(TestCase):
    @pytest.mark.parametrize("cell, parts", [("lstm", 2), ("gru", 1)])
    @pytest.mark.parametrize("mask", [None, MASK])
    def test_layer(self, cell, parts, mask):
        self.run_layer_test(
            StackedBidirectionalEncoder,
            init_kwargs={"num_layers": 2, "units": 3, "cell": cell, "dropout": 0.1},
            input_data=INPUTS,
            call_kwargs={"mask": mask},
            expected_output_shape=((2, 4, 6), [[(2, 6)] * parts] * 2),
        )

    def test_matches_numpy_reference_on_padded_batch(self):
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
                np.testing.assert_allclose(
                    np.asarray(states[index][0])[row], h, atol=1e-5
                )
                np.testing.assert_allclose(
                    np.asarray(states[index][1])[row], c, atol=1e-5
                )
                layer_input = expected
            np.testing.assert_allclose(outputs[row, :length], layer_input, atol=1e-5)

    def test_golden_values_with_constant_weights(self):
        """One layer, one direction's h at the last step, by hand: with all
        weights 0.1 and inputs 1, every unit has z = 0.1 * (features + units
        * h + 1) per gate."""
        encoder = StackedBidirectionalEncoder(num_layers=1, units=2)
        x = np.ones((1, 2, 3), "float32")
        encoder.build(x.shape)
        for weight in encoder.weights:
            weight.assign(np.full(weight.shape, 0.1, "float32"))
        outputs, states = encoder(x)
        h = c = 0.0
        for _ in range(2):
            z = 0.1 * (3 + 2 * h + 1)
            c = sigmoid(z) * c + sigmoid(z) * np.tanh(z)
            h = sigmoid(z) * np.tanh(c)
        # Both directions see the same constant inputs.
        np.testing.assert_allclose(np.asarray(states[0][0]), [[h] * 4], atol=1e-6)
        np.testing.assert_allclose(np.asarray(states[0][1]), [[c] * 4], atol=1e-6)
        np.testing.assert_allclose(np.asarray(outputs)[0, -1, :2], [h, h], atol=1e-6)

    def test_padding_does_not_change_real_positions(self):
        keras.utils.set_random_seed(2)
        encoder = StackedBidirectionalEncoder(num_layers=2, units=4, cell="gru")
        x = np.random.RandomState(1).randn(1, 3, 5).astype("float32")
        padded = np.concatenate(
            [x, np.random.randn(1, 4, 5).astype("float32")], axis=1
        )
        mask = np.array([[True] * 3 + [False] * 4])
        alone, alone_states = encoder(x)
        inside, inside_states = encoder(padded, mask=mask)
        np.testing.assert_allclose(
            np.asarray(inside)[:, :3], np.asarray(alone), atol=1e-5
        )
        for a, b in zip(alone_states, inside_states):
            np.testing.assert_allclose(np.asarray(a[0]), np.asarray(b[0]), atol=1e-5)

    def test_forward_state_is_output_at_last_real_step_without_residual(self):
        keras.utils.set_random_seed(3)
        encoder = StackedBidirectionalEncoder(num_layers=1, units=4, residual=False)
        x = np.random.RandomState(2).randn(2, 6, 3).astype("float32")
        lengths = np.array([6, 2])
        mask = np.arange(6)[None, :] < lengths[:, None]
        outputs, states = encoder(x, mask=mask)
        outputs, h = np.asarray(outputs), np.asarray(states[0][0])
        for row, length in enumerate(lengths):
            np.testing.assert_allclose(
                h[row, :4], outputs[row, length - 1, :4], atol=1e-6
            )
            np.testing.assert_allclose(h[row, 4:], outputs[row, 0, 4:], atol=1e-6)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"num_layers": 0}, "num_layers must be a positive integer, got 0"),
            ({"units": -1}, "units must be a positive integer, got -1"),
            ({"cell": "rnn"}, "cell must be one of"),
            ({"dropout": 1.5}, "dropout must be in"),
        ],
    )
    def test_argument_errors_quote_the_value(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            StackedBidirectionalEncoder(**kwargs)
