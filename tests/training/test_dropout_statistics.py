"""With dropout on, the fast training paths draw the same distribution of
gradients as the plain ones: the decoder's fused loop (masks of all steps drawn
at once, embedding dropout hoisted) against stepping `AttentionDecoder.step`,
two towers against one, and the package's masks against Keras' own. Equal
gradients without dropout are tested elsewhere; this checks where the dropout
masks go, over many draws."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config import DecoderConfig, EncoderConfig, TranslatorModelConfig
from nlp_lstm.layers import dropout as dropout_lib
from nlp_lstm.models.translator import build_translator
from nlp_lstm.training.losses import translator_loss
from nlp_lstm.training.trainer import make_gradient_fn, seed_states

DRAWS = 300


def translator(dropout: float, step_loop: bool = False):
    keras.utils.set_random_seed(5)
    config = TranslatorModelConfig(
        embedding_dim=8,
        encoder=EncoderConfig(num_layers=2, units=4, dropout=dropout),
        decoder=DecoderConfig(num_layers=2, units=6, dropout=dropout),
    )
    model = build_translator(config, 30, 30)
    if step_loop:
        # Set before the first call; the config has no field for it.
        model.decoder.implementation = "steps"
    assert model.decoder.uses_fused_loop != step_loop
    return model


def batch():
    rng = np.random.default_rng(1)
    source = rng.integers(4, 30, (6, 7)).astype("int32")
    target = rng.integers(4, 30, (6, 9)).astype("int32")
    source[0, 4:] = 0
    target[-1, 5:] = 0
    target_in, target_out = tf.constant(target[:, :-1]), tf.constant(target[:, 1:])
    return (tf.constant(source), target_in), target_out


def gradient_moments(model, towers: int = 1, seed: int = 0):
    """Mean and variance of every gradient element over `DRAWS` dropout draws."""
    loss_fn = translator_loss(0.1)
    data = batch()
    model(data[0])
    # The same weights, a different stream of dropout masks.
    for state in seed_states(model):
        state.assign(state + tf.cast(1000 * seed, state.dtype))

    gradient_fn = make_gradient_fn(model, loss_fn, towers)  # as training runs it

    @tf.function
    def gradients():
        _, _, grads = gradient_fn(data)
        return tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in grads], 0)

    draws = np.stack([gradients().numpy() for _ in range(DRAWS)]).astype(np.float64)
    return draws.mean(0), draws.var(0)


def mean_gap(a, b):
    """Mean over elements of (difference of means)^2 / its variance: about 1
    when both sides draw from one distribution."""
    (mean_a, var_a), (mean_b, var_b) = a, b
    noise = (var_a + var_b) / DRAWS
    used = noise > 1e-14
    return float(np.mean((mean_a - mean_b)[used] ** 2 / noise[used]))


def variance_ratio(a, b):
    return float(a[1].sum() / b[1].sum())


@pytest.fixture(scope="module")
def reference():
    return gradient_moments(translator(0.3, step_loop=True), seed=1)


def test_decoder_loop_draws_the_step_loops_gradient_distribution(reference):
    fast = gradient_moments(translator(0.3), seed=2)
    assert mean_gap(fast, reference) < 1.5
    assert 0.8 < variance_ratio(fast, reference) < 1.25


def test_towers_draw_the_one_tower_gradient_distribution(reference):
    towers = gradient_moments(translator(0.3), towers=2, seed=3)
    assert mean_gap(towers, reference) < 1.5
    assert 0.8 < variance_ratio(towers, reference) < 1.25


def test_the_masks_draw_keras_masks_gradient_distribution(reference, monkeypatch):
    """The model's dropout (`layers.dropout.Dropout`, two elements a 32-bit
    random number) against Keras' own masks (one number an element) in the
    same model."""
    monkeypatch.setattr(dropout_lib.Dropout, "call", keras.layers.Dropout.call)
    keras_masks = gradient_moments(translator(0.3, step_loop=True), seed=5)
    monkeypatch.undo()
    assert mean_gap(keras_masks, reference) < 1.5
    assert 0.8 < variance_ratio(keras_masks, reference) < 1.25


def test_the_comparison_sees_another_dropout_rate(reference):
    """The check has the power to fail: dropout 0.45 instead of 0.3."""
    other = gradient_moments(translator(0.45), seed=4)
    assert (
        mean_gap(other, reference) > 1.5
        or not 0.8 < variance_ratio(other, reference) < 1.25
    )
