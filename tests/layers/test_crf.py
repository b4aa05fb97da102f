"""CRF: shapes and serialization of Viterbi decoding, log-likelihood and the
constrained transitions (the numerics are in `tests/layers/test_crf_numerics.py`)."""

import numpy as np
import pytest

from nlp_lstm.layers.crf import CRF
from tests.test_case import TestCase

POTENTIALS = np.random.RandomState(0).randn(2, 4, 3).astype("float32")
MASK = np.array([[True] * 4, [True, True, False, False]])
TAGS = np.array([[0, 1, 2, 1], [2, 0, 0, 0]], "int32")


def scores(layer, potentials, mask=None):
    """The call adapter: the Viterbi path and score, `log Z` and the
    log-likelihood of `TAGS`."""
    path, best = layer.decode(potentials, mask)
    return (
        layer(potentials, mask=mask),
        path,
        best,
        layer.log_partition(potentials, mask),
        layer.log_likelihood(potentials, TAGS, mask),
    )


class TestCRF(TestCase):
    @pytest.mark.parametrize(
        "init_kwargs",
        [
            {"num_tags": 3},
            {"num_tags": 3, "use_start_end": False},
            {
                "num_tags": 3,
                "allowed_transitions": [[True, True, False]] * 3,
                "allowed_start": [True, False, True],
                "allowed_end": [True, True, False],
            },
        ],
    )
    def test_layer(self, init_kwargs):
        layer, outputs = self.run_layer_test(
            CRF,
            init_kwargs=init_kwargs,
            input_data=POTENTIALS,
            call_kwargs={"mask": MASK},
            call_fn=scores,
            expected_output_shape=((2, 4), (2, 4), (2,), (2,), (2,)),
        )
        tags, path = np.asarray(outputs[0]), np.asarray(outputs[1])
        np.testing.assert_array_equal(tags, path)
        assert (tags[~MASK] == 0).all()
        assert (np.asarray(outputs[4]) <= 0).all()
        if "allowed_start" in init_kwargs:
            assert layer.allowed_start == [True, False, True]
            # No path starts with tag 1, moves into tag 2 or ends with tag 2.
            assert 1 not in tags[:, 0]
            assert 2 not in tags[:, 1:][MASK[:, 1:]]
            assert 2 not in tags[[0, 1], MASK.sum(axis=1) - 1]
