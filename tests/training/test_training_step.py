"""The training step with the batch split into towers computes the whole
batch's loss and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config import DecoderConfig, EncoderConfig, TranslatorModelConfig
from nlp_lstm.models.translator import build_translator
from nlp_lstm.training.losses import translator_loss
from nlp_lstm.training.trainer import make_train_step, split_batch


def tiny_translator():
    keras.utils.set_random_seed(3)
    config = TranslatorModelConfig(
        embedding_dim=8,
        encoder=EncoderConfig(num_layers=2, units=4, dropout=0.0),
        decoder=DecoderConfig(num_layers=2, units=6, dropout=0.0),
    )
    return build_translator(config, 30, 30)


def batch_of(size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    source = rng.integers(4, 30, (size, 5)).astype("int32")
    target = rng.integers(4, 30, (size, 7)).astype("int32")
    source[0, 3:] = 0  # padding
    target[-1, 4:] = 0
    target_in, target_out = tf.constant(target[:, :-1]), tf.constant(target[:, 1:])
    return (tf.constant(source), target_in), target_out


def test_split_batch_keeps_every_row_in_order():
    batch = batch_of(5)
    parts = split_batch(batch, 2)
    assert [int(p[1].shape[0]) for p in parts] == [3, 2]
    joined = tf.nest.map_structure(lambda *xs: tf.concat(xs, 0), *parts)
    for a, b in zip(tf.nest.flatten(joined), tf.nest.flatten(batch)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_towers_give_the_whole_batch_loss_and_update(size):
    batch = batch_of(size)
    weights = []
    losses = []
    for towers in (1, 2):
        model = tiny_translator()
        optimizer = keras.optimizers.SGD(learning_rate=0.5)
        step = make_train_step(model, optimizer, translator_loss(0.1), towers=towers)
        loss, tokens = step(batch)
        losses.append((float(loss), float(tokens)))
        weights.append([v.numpy() for v in model.trainable_variables])
    assert losses[0][1] == losses[1][1] > 0
    np.testing.assert_allclose(losses[0][0], losses[1][0], rtol=1e-5)
    for one, two in zip(*weights):
        np.testing.assert_allclose(one, two, atol=1e-5)
    initial = [v.numpy() for v in tiny_translator().trainable_variables]
    assert sum(int(np.any(a != b)) for a, b in zip(weights[0], initial)) > 0
