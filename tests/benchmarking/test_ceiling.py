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


@pytest.mark.parametrize(
    "decoder",
    [{}, {"num_layers": 2}, {"cell": "gru"}, {"input_feeding": False},
     {"attention": "luong_dot", "units": 6}],
)
def test_training_products_sum_to_the_step_flops_less_the_attention_sums(decoder):
    model = tiny_translator(**decoder)
    products = ceiling.translator_training_products(model, 2, 6, 3)
    parts = flops.translator_forward_flops(model, (2, 6), (2, 3))
    expected = 3 * (
        parts["total"] - parts["attention_scores"] - parts["attention_context"]
    )
    assert ceiling.products_flops(products) == expected


def test_training_products_are_listed_for_luong_attention_only():
    with pytest.raises(ValueError, match="Luong attention, got 'bahdanau'"):
        ceiling.translator_training_products(
            tiny_translator(attention="bahdanau"), 2, 6, 3
        )


def test_only_the_scored_positions_are_projected():
    model = tiny_translator()
    every = ceiling.translator_training_products(model, 2, 6, 3)
    scored = ceiling.translator_training_products(model, 2, 6, 3, target_tokens=4)
    parts = flops.translator_forward_flops(model, (2, 6), (2, 3))
    # 4 of the 6 target positions: the projection's FLOPs (the tied one's
    # pre-projection included) scale by 4 / 6, nothing else moves.
    removed = 3 * parts["output_projection"] * (6 - 4) // 6
    assert ceiling.products_flops(every) - ceiling.products_flops(scored) == removed
    fewer = flops.translator_forward_flops(model, (2, 6), (2, 3), target_tokens=4)
    assert fewer["output_projection"] == parts["output_projection"] * 4 // 6
    assert fewer["total"] - fewer["output_projection"] == (
        parts["total"] - parts["output_projection"]
    )
    names = {name: rows for name, rows, *_ in scored}
    assert names["output projection"] == names["pre-projection"] == 4


def test_a_step_product_runs_every_step_and_its_weight_gradient_once():
    # B=2, S=6, T=3; decoder 1 x 5 with input feeding: `[fed; h]` is 10 wide.
    products = ceiling.translator_training_products(tiny_translator(), 2, 6, 3)
    by_name = {name: (rows, inner, outer, count)
               for name, rows, inner, outer, count in products}
    assert by_name["decoder 1 step"] == (2, 5 + 5, 4 * 5, 3)
    assert by_name["decoder 1 step, input gradient"] == (2, 4 * 5, 5 + 5, 3)
    assert by_name["decoder 1 step, weight gradient"] == (5 + 5, 2 * 3, 4 * 5, 1)
    assert by_name["encoder 1 backward recurrent"] == (2, 3, 4 * 3, 6)
    assert by_name["encoder 1 forward inputs"] == (2 * 6, 4, 4 * 3, 1)
    # Tied output over 11 words, with the pre-projection 5 -> 4.
    assert by_name["output projection"] == (2 * 3, 4, 11, 1)
    assert by_name["pre-projection"] == (2 * 3, 5, 4, 1)


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_product_seconds_are_measured(dtype):
    assert 0 < ceiling.product_seconds(4, 8, 16, dtype, copies=2, repeats=1) < 1
