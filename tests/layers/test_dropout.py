import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config import (
    DecoderConfig,
    EncoderConfig,
    TaggerModelConfig,
    TranslatorModelConfig,
    WordEmbedderConfig,
)
from nlp_lstm.layers import dropout as dropout_lib
from nlp_lstm.models.tagger import build_tagger
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text.tags import TagVocabulary
from nlp_lstm.text.words import CharVocabulary, WordVocabulary


def test_the_drop_threshold_is_the_rate_in_sixteen_bits():
    assert dropout_lib.drop_threshold(0.0) == 0
    assert dropout_lib.drop_threshold(0.5) == 32768
    assert abs(dropout_lib.drop_threshold(0.3) / dropout_lib.LEVELS - 0.3) < 1e-5
    with pytest.raises(ValueError, match="rate"):
        dropout_lib.drop_threshold(1.0)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_masks_drop_each_element_with_the_rate_independently(rate):
    # 2 x 333 x 301 elements, an odd count: the last random number's second
    # half is unused.
    shape = (2, 333, 301)
    keep, scale = dropout_lib.keep_mask(shape, rate, tf.constant([3, 4]))
    keep = keep.numpy()
    assert keep.shape == shape
    kept = 1.0 - dropout_lib.drop_threshold(rate) / dropout_lib.LEVELS
    assert scale == pytest.approx(1.0 / kept)
    # Binomial standard deviation of the kept fraction: under 0.0011 here.
    assert abs(keep.mean() - kept) < 0.005
    # Neighbours (the two halves of one random number) are not correlated,
    # and neither are the rows.
    flat = keep.reshape(-1).astype(float)
    assert abs(np.corrcoef(flat[:-1:2], flat[1::2])[0, 1]) < 0.02
    assert abs(np.corrcoef(keep[0].reshape(-1), keep[1].reshape(-1))[0, 1]) < 0.02


def test_dropout_keeps_the_expected_value_and_zeroes_the_rest():
    inputs = tf.random.stateless_normal((400, 500), [1, 2]) + 2.0
    outputs = dropout_lib.dropout(inputs, 0.3, tf.constant([5, 6])).numpy()
    inputs = inputs.numpy()
    zeroed = outputs == 0.0
    kept = 1.0 - dropout_lib.drop_threshold(0.3) / dropout_lib.LEVELS
    np.testing.assert_allclose(outputs[~zeroed], inputs[~zeroed] / kept, rtol=1e-6)
    assert abs(zeroed.mean() - 0.3) < 0.005
    assert abs(outputs.mean() - inputs.mean()) < 0.02


def test_the_same_seed_gives_the_same_mask_and_another_seed_another():
    a = dropout_lib.keep_mask((64, 100), 0.3, tf.constant([7, 8]))[0].numpy()
    b = dropout_lib.keep_mask((64, 100), 0.3, tf.constant([7, 8]))[0].numpy()
    c = dropout_lib.keep_mask((64, 100), 0.3, tf.constant([7, 9]))[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.2


def test_the_layer_draws_a_new_mask_each_call_and_passes_inputs_when_not_training():
    layer = dropout_lib.Dropout(0.3, seed=11)
    inputs = tf.ones((32, 50))
    first = layer(inputs, training=True).numpy()
    second = layer(inputs, training=True).numpy()
    assert (first != second).mean() > 0.2
    assert set(np.unique(first)) == {0.0, np.float32(1.0 / (1.0 - 19661 / 65536))}
    np.testing.assert_array_equal(layer(inputs, training=False).numpy(), inputs.numpy())
    np.testing.assert_array_equal(
        dropout_lib.Dropout(0.0)(inputs, training=True).numpy(), inputs.numpy()
    )
    with pytest.raises(ValueError, match="noise_shape"):
        dropout_lib.Dropout(0.3, noise_shape=(1, 50))


def test_the_layer_gives_gradients_through_kept_elements_only():
    layer = dropout_lib.Dropout(0.5, seed=3)
    inputs = tf.random.normal((16, 40))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs, training=True)
    gradient = tape.gradient(outputs, inputs).numpy()  # of the sum of outputs
    kept = outputs.numpy() != 0.0
    np.testing.assert_allclose(gradient[kept], 2.0, rtol=1e-6)
    np.testing.assert_array_equal(gradient[~kept], 0.0)


def dropout_layers(model):
    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.Dropout)
    ]


def test_the_models_drop_out_with_these_masks():
    translator = build_translator(
        TranslatorModelConfig(
            embedding_dim=8,
            encoder=EncoderConfig(num_layers=2, units=4, dropout=0.3),
            decoder=DecoderConfig(num_layers=2, units=6, dropout=0.3),
        ),
        30,
        30,
    )
    sentences = [["the", "cat"], ["a", "dog"]]
    tagger = build_tagger(
        TaggerModelConfig(
            embedder=WordEmbedderConfig(word_dim=4, char_dim=3, char_units=3),
            encoder=EncoderConfig(num_layers=1, units=3, dropout=0.2),
        ),
        TagVocabulary.build([["B-PER", "O"]], scheme="iob2"),
        WordVocabulary.build(sentences, min_frequency=1).size,
        CharVocabulary.build(sentences, max_word_chars=4).size,
    )
    for model, at_least in ((translator, 3), (tagger, 3)):
        layers = dropout_layers(model)
        assert len(layers) >= at_least
        assert all(isinstance(layer, dropout_lib.Dropout) for layer in layers)
