"""OutputProjection: untied, tied, tied through a pre-projection."""

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.layers.output import OutputProjection
from tests.test_case import TestCase

INPUTS = np.random.RandomState(10).randn(2, 3, 5).astype("float32")


class TestOutputProjection(TestCase):
    @pytest.mark.parametrize(
        "tied, embedding_dim, num_weights",
        [(False, None, 2), (True, 5, 1), (True, 3, 2)],
    )
    @pytest.mark.parametrize("steps", [(3,), ()])
    def test_layer(self, tied, embedding_dim, num_weights, steps):
        inputs = INPUTS if steps else INPUTS[:, 0]
        call_kwargs = {}
        if tied:
            embeddings = np.random.RandomState(9).randn(7, embedding_dim)
            call_kwargs["embeddings"] = embeddings.astype("float32")
        layer, logits = self.run_layer_test(
            OutputProjection,
            init_kwargs={"vocab_size": 7, "tied": tied},
            input_data=inputs,
            call_kwargs=call_kwargs,
            expected_output_shape=(2, *steps, 7),
            expected_num_trainable_weights=num_weights,
        )
        if tied and embedding_dim == 5:
            # The kernel is the transposed embedding matrix; the bias starts at 0.
            self.assertAllClose(logits, inputs @ call_kwargs["embeddings"].T,
                                atol=1e-5)

    @pytest.mark.parametrize(
        "tied, embedding_dim", [(False, None), (True, 5), (True, 3)]
    )
    def test_project_with_the_kernel_matrix_equals_call(self, tied, embedding_dim):
        layer = OutputProjection(7, tied=tied)
        embeddings = None
        if tied:
            embeddings = np.random.RandomState(9).randn(7, embedding_dim)
            embeddings = embeddings.astype("float32")
        layer(INPUTS[:, 0], embeddings=embeddings)  # builds
        layer.bias.assign(np.arange(7, dtype="float32"))
        expected = layer(INPUTS[:, 0], embeddings=embeddings)
        projected = layer.project(INPUTS[:, 0], layer.kernel_matrix(embeddings))
        self.assertAllClose(projected, expected, atol=1e-5)

    def test_tied_needs_the_embeddings(self):
        with pytest.raises(ValueError, match="needs the embedding matrix"):
            OutputProjection(7, tied=True)(INPUTS)

    def test_rejects_bad_vocab_size(self):
        with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
            OutputProjection(0)


def test_a_decoding_step_projection_is_one_matmul_and_bias_add():
    # Nothing between the two, so that Grappler fuses them into one
    # `_FusedMatMul` (a reshape in between kept a separate pass over the
    # `(rows, vocab)` logits every decoding step).
    layer = OutputProjection(7)
    layer.build((None, 5))
    kernel = layer.kernel_matrix()
    traced = tf.function(lambda x: layer.project(x, kernel), autograph=False)
    graph = traced.get_concrete_function(tf.TensorSpec([None, 5])).graph
    ops = [op.type for op in graph.get_operations()]
    assert "Reshape" not in ops
    (bias_add,) = [op for op in graph.get_operations() if op.type == "BiasAdd"]
    assert bias_add.inputs[0].op.type == "MatMul"
    np.testing.assert_allclose(
        traced(INPUTS[:, 0]).numpy(), layer(INPUTS[:, 0]).numpy(), rtol=1e-6
    )
