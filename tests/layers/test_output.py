"""OutputProjection: untied, tied, tied through a pre-projection."""

import numpy as np
import pytest

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
