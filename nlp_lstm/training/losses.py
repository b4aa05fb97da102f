"""Losses on padded batches."""

from __future__ import annotations

import tensorflow as tf


def masked_cross_entropy(labels, logits, pad_id: int = 0, label_smoothing: float = 0.0):
    """Token-averaged cross-entropy that ignores `pad_id` labels.

    With `label_smoothing = e`, the target distribution puts `1 - e` on the
    label and spreads `e` uniformly over the vocabulary. Both forms run as one
    fused softmax-cross-entropy kernel, which also yields the gradient
    `softmax - target` in the same pass (no gather or scatter over the
    `(batch, time, vocab)` tensor).

    Args:
        labels: int `(batch, time)`.
        logits: float `(batch, time, vocab)`.

    Returns:
        `(loss, tokens)`: the mean over real tokens and their count.
    """
    logits = tf.cast(logits, tf.float32)
    if label_smoothing:
        vocab_size = tf.cast(tf.shape(logits)[-1], tf.float32)
        off_value = label_smoothing / vocab_size
        targets = tf.one_hot(
            labels,
            tf.shape(logits)[-1],
            on_value=1.0 - label_smoothing + off_value,
            off_value=off_value,
        )
        nll = tf.nn.softmax_cross_entropy_with_logits(targets, logits)
    else:
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    weights = tf.cast(tf.not_equal(labels, pad_id), tf.float32)
    tokens = tf.reduce_sum(weights)
    return tf.reduce_sum(nll * weights) / tf.maximum(tokens, 1.0), tokens
