import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.training.losses import (
    masked_cross_entropy,
    smoothed_cross_entropy,
    translator_loss,
)
from tests.benchmarking.test_benchmarks import tiny_translator


def reference_loss(labels, logits, pad_id, smoothing):
    """The smoothed cross-entropy written out in NumPy."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    vocab = logits.shape[-1]
    target = np.full(logits.shape, smoothing / vocab)
    target += (1.0 - smoothing) * np.eye(vocab)[labels]
    nll = -(target * log_probs).sum(axis=-1)
    weights = (labels != pad_id).astype(np.float64)
    return (nll * weights).sum() / weights.sum(), weights.sum()


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_masked_cross_entropy_matches_numpy(smoothing):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7)) * 3
    labels = rng.integers(1, 7, size=(3, 5))
    labels[0, 3:] = 0
    labels[2, 1:] = 0
    loss, tokens = masked_cross_entropy(
        tf.constant(labels), tf.constant(logits, tf.float32), label_smoothing=smoothing
    )
    expected, expected_tokens = reference_loss(labels, logits, 0, smoothing)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert float(tokens) == expected_tokens


def test_padding_gets_no_gradient():
    values = np.random.default_rng(1).normal(size=(2, 4, 6))
    logits = tf.Variable(values, dtype=tf.float32)
    labels = tf.constant([[1, 2, 0, 0], [3, 0, 0, 0]])
    with tf.GradientTape() as tape:
        loss, _ = masked_cross_entropy(labels, logits, label_smoothing=0.1)
    gradient = tape.gradient(loss, logits).numpy()
    assert np.all(gradient[0, 2:] == 0) and np.all(gradient[1, 1:] == 0)
    assert np.abs(gradient[0, :2]).sum() > 0


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_smoothed_cross_entropy_matches_the_dense_target_kernel(smoothing):
    """Values and gradients equal `tf.nn.softmax_cross_entropy_with_logits`
    given the smoothed one-hot targets (its definition), under a non-uniform
    upstream gradient, with logits far apart."""
    rng = np.random.default_rng(2)
    logits = tf.constant(rng.normal(size=(4, 6, 50)) * 20, tf.float32)
    labels = tf.constant(rng.integers(0, 50, size=(4, 6)))
    upstream = tf.constant(rng.uniform(0.5, 2.0, size=(4, 6)), tf.float32)
    targets = tf.one_hot(
        labels, 50, on_value=1.0 - smoothing + smoothing / 50, off_value=smoothing / 50
    )
    results = []
    for fn in (
        lambda z: smoothed_cross_entropy(labels, z, smoothing),
        lambda z: tf.nn.softmax_cross_entropy_with_logits(targets, z),
    ):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            losses = fn(logits)
            total = tf.reduce_sum(losses * upstream)
        results.append((losses.numpy(), tape.gradient(total, logits).numpy()))
    (losses, gradient), (expected_losses, expected_gradient) = results
    assert losses.shape == (4, 6)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gradient, expected_gradient, atol=1e-6)
    assert np.abs(expected_gradient).max() > 0.1


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_translator_loss_scores_real_positions_as_the_full_logits_would(smoothing):
    """The loss projects only the real target positions: its value and every
    gradient equal the masked loss of the whole `(batch, time, vocab)`
    logits that `model(...)` returns."""
    model = tiny_translator()
    source = tf.constant([[3, 4, 5, 2], [6, 2, 0, 0], [7, 8, 2, 0]])
    target_in = tf.constant([[1, 3, 4, 9], [1, 5, 0, 0], [1, 0, 0, 0]])
    target_out = tf.constant([[3, 4, 9, 2], [5, 2, 0, 0], [2, 0, 0, 0]])
    batch = ((source, target_in), target_out)
    model(batch[0])
    results = []
    for loss_fn in (
        translator_loss(smoothing),
        lambda m, b, training: masked_cross_entropy(
            b[1], m(b[0], training=training), label_smoothing=smoothing
        ),
    ):
        with tf.GradientTape() as tape:
            loss, tokens = loss_fn(model, batch, False)
        gradients = tape.gradient(loss, model.trainable_variables)
        results.append((loss, tokens, gradients))
    (loss, tokens, gradients), (full_loss, full_tokens, full_gradients) = results
    # What the loss projected: the 7 real positions, not the 12 of the batch.
    projected = []
    logits = model.logits
    model.logits = lambda outputs: projected.append(outputs.shape) or logits(outputs)
    translator_loss(smoothing)(model, batch, False)
    assert [tuple(shape) for shape in projected] == [(7, 5)]
    assert float(tokens) == float(full_tokens) == 7
    np.testing.assert_allclose(float(loss), float(full_loss), rtol=1e-6)
    assert len(gradients) == len(full_gradients) > 0
    for variable, mine, full in zip(model.trainable_variables, gradients,
                                    full_gradients, strict=True):
        np.testing.assert_allclose(
            tf.convert_to_tensor(mine).numpy(), tf.convert_to_tensor(full).numpy(),
            rtol=1e-5, atol=1e-7, err_msg=variable.path,
        )
