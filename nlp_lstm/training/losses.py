"""Losses on padded batches."""

from __future__ import annotations

import tensorflow as tf


def masked_cross_entropy(labels, logits, pad_id: int = 0, label_smoothing: float = 0.0):
    """Token-averaged cross-entropy that ignores `pad_id` labels.

    With `label_smoothing = e`, the target distribution puts `1 - e` on the
    label and spreads `e` uniformly over the vocabulary.

    Args:
        labels: int `(batch, time)`.
        logits: float `(batch, time, vocab)`.

    Returns:
        `(loss, tokens)`: the mean over real tokens and their count.
    """
    logits = tf.cast(logits, tf.float32)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    nll = -tf.gather(log_probs, labels, batch_dims=2)  # (batch, time)
    if label_smoothing:
        uniform = -tf.reduce_mean(log_probs, axis=-1)
        nll = (1.0 - label_smoothing) * nll + label_smoothing * uniform
    weights = tf.cast(tf.not_equal(labels, pad_id), tf.float32)
    tokens = tf.reduce_sum(weights)
    return tf.reduce_sum(nll * weights) / tf.maximum(tokens, 1.0), tokens
