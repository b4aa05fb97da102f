"""Greedy and beam search on a known toy distribution and on a real translator."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config import TranslatorModelConfig
from nlp_lstm.decoding.search import (
    beam_search,
    greedy_search,
    length_penalty_factor,
    repeat_elements,
)
from nlp_lstm.decoding.translate import max_output_lengths, translate_ids
from nlp_lstm.models.translator import build_translator

BOS, EOS = 2, 3


def table_step_fn(table):
    """A step function whose next-token distribution depends on the last token."""
    log_table = tf.math.log(tf.constant(table, tf.float32) + 1e-12)

    def step_fn(ids, state, constants, group=1):
        weights = tf.ones([tf.shape(ids)[0], 2]) * 0.5
        return tf.gather(log_table, ids), state + 1, weights

    return step_fn


# Rows: previous token; columns: next token (pad, unk, bos, eos, a=4, b=5).
TABLE = np.zeros((6, 6))
TABLE[BOS] = [0, 0, 0, 0.0, 0.6, 0.4]
TABLE[4] = [0, 0, 0, 0.3, 0.35, 0.35]
TABLE[5] = [0, 0, 0, 0.99, 0.005, 0.005]
TABLE[EOS] = [0, 0, 0, 1.0, 0, 0]


def run_search(beam_size, max_length=5, batch=1):
    common = dict(
        step_fn=table_step_fn(TABLE),
        state=tf.zeros([batch]),
        constants=(),
        bos_id=BOS,
        eos_id=EOS,
        max_lengths=tf.fill([batch], max_length),
        source_length=2,
    )
    if beam_size is None:
        return greedy_search(**common)
    return beam_search(beam_size=beam_size, length_penalty=0.0, **common)


def test_greedy_takes_the_locally_best_token():
    result = run_search(None)
    ids = result["ids"].numpy()[0]
    assert ids[0] == 4
    assert result["lengths"].numpy()[0] >= 1


def test_beam_search_finds_the_more_probable_sequence():
    result = run_search(3)
    ids = result["ids"].numpy()[0]
    assert ids[:2].tolist() == [5, EOS]
    assert result["lengths"].numpy()[0] == 1
    np.testing.assert_allclose(
        result["scores"].numpy()[0], np.log(0.4 * 0.99), rtol=1e-5
    )


def test_max_length_forces_eos():
    result = run_search(None, max_length=2)
    ids = result["ids"].numpy()[0]
    assert ids.shape[0] == 3 and ids[2] == EOS
    assert result["lengths"].numpy()[0] == 2


def test_length_penalty_is_gnmt_formula():
    np.testing.assert_allclose(
        length_penalty_factor(tf.constant([1, 7]), 0.6).numpy(),
        [1.0, (12 / 6) ** 0.6],
        rtol=1e-6,
    )


@pytest.fixture(scope="module")
def translator():
    keras.utils.set_random_seed(11)
    config = TranslatorModelConfig(embedding_dim=8)
    config.encoder.units = 4
    config.decoder.units = 8
    return build_translator(config, 40, 40)


SOURCE = np.array([[5, 6, 7, EOS, 0], [8, EOS, 0, 0, 0], [9, 10, 11, 12, EOS]])


def test_beam_one_equals_greedy(translator):
    greedy = translate_ids(translator, SOURCE, beam_size=1, return_attention=True)
    memory, mask, state = translator.encode(tf.constant(SOURCE, tf.int32))
    beam = beam_search(
        translator.decoding_step,
        state,
        translator.decoding_constants(memory, mask),
        bos_id=translator.bos_id,
        eos_id=translator.eos_id,
        max_lengths=max_output_lengths(tf.constant([3, 1, 4]), 1.5, 10),
        source_length=5,
        beam_size=1,
        return_attention=True,
    )
    np.testing.assert_array_equal(greedy["ids"].numpy(), beam["ids"].numpy())
    np.testing.assert_allclose(
        greedy["attention"].numpy(), beam["attention"].numpy(), atol=1e-6
    )


def test_beam_search_is_batch_independent(translator):
    batched = translate_ids(translator, SOURCE, beam_size=4)
    for row in range(len(SOURCE)):
        single = translate_ids(translator, SOURCE[row : row + 1], beam_size=4)
        length = single["lengths"].numpy()[0]
        np.testing.assert_array_equal(
            batched["ids"].numpy()[row, :length], single["ids"].numpy()[0, :length]
        )
        assert batched["lengths"].numpy()[row] == length


def test_attention_rows_are_distributions_over_real_source_tokens(translator):
    result = translate_ids(translator, SOURCE, beam_size=3, return_attention=True)
    attention, lengths = result["attention"].numpy(), result["lengths"].numpy()
    source_lengths = (SOURCE != 0).sum(1)
    for row in range(len(SOURCE)):
        rows = attention[row, : lengths[row] + 1]
        np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-5)
        assert np.all(rows[:, source_lengths[row] :] < 1e-6)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_padding_the_source_steps_changes_nothing(translator, beam_size):
    # SOURCE has 5 steps: the attention reads 8, the 3 added masked.
    results = [
        translate_ids(
            translator,
            SOURCE,
            beam_size=beam_size,
            return_attention=True,
            source_multiple=multiple,
        )
        for multiple in (1, 8)
    ]
    plain, padded = [{k: v.numpy() for k, v in r.items()} for r in results]
    assert padded["attention"].shape == plain["attention"].shape
    assert plain["attention"].shape[-1] == SOURCE.shape[1]
    np.testing.assert_array_equal(padded["ids"], plain["ids"])
    for key in ("scores", "attention"):
        np.testing.assert_allclose(padded[key], plain[key], rtol=1e-5, atol=1e-6)


def test_source_rows_are_cut_then_end_with_eos():
    from nlp_lstm.config import DecodingConfig
    from nlp_lstm.decoding.translate import source_row
    from nlp_lstm.text.sentencepiece import EOS_ID

    assert source_row([5, 6, 7], 2) == [5, 6, EOS_ID]
    assert source_row([], 2) == [EOS_ID]
    long = list(range(4, 1000))
    limit = DecodingConfig.max_source_tokens
    assert source_row(long, limit) == long[:limit] + [EOS_ID]


@pytest.mark.parametrize(
    "shape, axis",
    [((3,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 0), ((2, 3, 4), -1)],
)
@pytest.mark.parametrize("multiplier", [1, 2, 5])
def test_repeat_elements_is_tf_repeat(shape, axis, multiplier):
    tensor = tf.reshape(tf.range(int(np.prod(shape))), shape)
    expected = tf.repeat(tensor, multiplier, axis=axis)
    found = repeat_elements(tensor, multiplier, axis)
    assert found.shape == expected.shape
    np.testing.assert_array_equal(found, expected)
    # With unknown sizes (a traced search's batch and time).
    traced = tf.function(
        lambda t: repeat_elements(t, multiplier, axis),
        input_signature=[tf.TensorSpec([None] * len(shape), tf.int32)],
    )
    np.testing.assert_array_equal(traced(tensor), expected)
