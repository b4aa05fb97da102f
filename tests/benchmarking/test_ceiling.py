"""The decoding ceiling's arithmetic (`benchmarks/decoding_ceiling.py`): the
shapes of a step, the FLOPs of a decoded sentence, and the ceiling they give
at given matmul rates. No timing assertions."""

from __future__ import annotations

import pytest
import tensorflow as tf

from nlp_lstm.benchmarking import ceiling, flops
from tests.benchmarking.test_benchmarks import tiny_translator


def test_step_shapes_follow_the_model():
    # Embedding 4, decoder 1 x 5 LSTM with input feeding, 11 words.
    shapes = ceiling.decoding_shapes(tiny_translator(), rows=64)
    assert shapes == {
        "output projection": (64, 4, 11),
        "first decoder cell": (64, 4 + 5 + 5, 4 * 5),
        "upper decoder cell": (64, 5 + 5, 4 * 5),
    }
    gru = ceiling.decoding_shapes(tiny_translator(cell="gru"), rows=8)
    assert gru["first decoder cell"] == (8, 14, 3 * 5)


def test_a_sentence_counts_its_eos_steps():
    model = tiny_translator()
    # A source of 5 tokens and an output of 2: 6 encoder and 3 decoder steps.
    (one,) = ceiling.sentence_flops(model, [5], [2])
    assert one == flops.translator_forward_flops(model, (1, 6), (1, 3))["total"]
    # Two such sentences are the batch of two that the hand count checks.
    assert sum(ceiling.sentence_flops(model, [5, 5], [2, 2])) == 10572


def test_the_ceiling_is_the_flops_at_the_step_rate():
    model = tiny_translator()
    shapes = ceiling.decoding_shapes(model, rows=64)
    even = {name: 10.0 for name in shapes}
    assert ceiling.ceiling_rate(model, even, 2e6, 64) == pytest.approx(10e9 / 2e6)
    # A faster output projection raises it, by its share of the step's work.
    faster = dict(even, **{"output projection": 20.0})
    work = {name: r * i * o for name, (r, i, o) in shapes.items()}
    share = work["output projection"] / sum(work.values())
    expected = 10e9 / 2e6 / (1 - share / 2)
    assert ceiling.ceiling_rate(model, faster, 2e6, 64) == pytest.approx(expected)


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_matmul_rate_is_measured(dtype):
    assert ceiling.matmul_rate(4, 8, 16, dtype, chain=2, repeats=1) > 0
