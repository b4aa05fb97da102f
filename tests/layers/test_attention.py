"""Luong dot, Luong general and Bahdanau attention: shapes, serialization,
NumPy reference, masking."""

import keras
import numpy as np
import pytest

from nlp_lstm.layers.attention import ATTENTIONS
from nlp_lstm.layers.attention import get as get_attention
from tests.test_case import TestCase

RNG = np.random.RandomState(3)
MEMORY = RNG.randn(2, 4, 6).astype("float32")
QUERY = RNG.randn(2, 6).astype("float32")
MASK = np.array([[True, True, True, False], [True, True, False, False]])


def attend(layer, data, **call_kwargs):
    """The call adapter: `(query, memory)` -> `layer(query, keys, memory)`."""
    query, memory = data
    if not layer.built:
        layer.build(memory.shape)
    return layer(query, layer.prepare(memory), memory, **call_kwargs)


class TestAttention(TestCase):
    @pytest.mark.parametrize("kind, num_weights", [
        ("luong_dot", 0), ("luong_general", 1), ("bahdanau", 3),
    ])
    @pytest.mark.parametrize("query", [QUERY, QUERY[:, None].repeat(3, axis=1)])
    def test_layer(self, kind, num_weights, query):
        steps = query.shape[1:-1]
        self.run_layer_test(
            ATTENTIONS[kind],
            init_kwargs={"units": 6},
            input_data=(query, MEMORY),
            call_kwargs={"mask": MASK},
            call_fn=attend,
            expected_output_shape=((2, *steps, 6), (2, *steps, 4)),
            expected_num_trainable_weights=num_weights,
        )

    @pytest.mark.parametrize("kind", sorted(ATTENTIONS))
    def test_matches_numpy_reference(self, kind):
        keras.utils.set_random_seed(4)
        rng = np.random.RandomState(3)
        memory = rng.randn(2, 4, 6).astype("float32")
        query = rng.randn(2, 6).astype("float32")
        layer = get_attention(kind, 6)
        layer.build(memory.shape)
        keys = layer.prepare(memory)
        context, weights = layer(query, keys, memory, mask=MASK)
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
        scores = np.where(MASK, scores, -np.inf)
        expected = np.exp(scores - scores.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
        np.testing.assert_allclose(np.asarray(weights), expected, atol=1e-5)
        np.testing.assert_allclose(
            np.asarray(context), np.einsum("bs,bsd->bd", expected, memory), atol=1e-5
        )
        # All time steps at once give the same as one step.
        all_steps, _ = layer(query[:, None], keys, memory, mask=MASK)
        np.testing.assert_allclose(
            np.asarray(all_steps)[:, 0], np.asarray(context), atol=1e-6
        )

    def test_luong_dot_rejects_mismatched_widths(self):
        with pytest.raises(ValueError, match="luong_dot"):
            get_attention("luong_dot", 8).build((2, 3, 6))
