import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.training.losses import masked_cross_entropy, smoothed_cross_entropy


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
