import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.training.losses import masked_cross_entropy


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
