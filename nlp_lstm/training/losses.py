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


def translator_loss(label_smoothing: float):
    """`loss_fn(model, batch, training) -> (loss, tokens)` of a `Translator`
    on batches `((source, target_in), target_out)`."""

    def loss_fn(model, batch, training):
        (source, target_in), target_out = batch
        logits = model((source, target_in), training=training)
        return masked_cross_entropy(target_out, logits, label_smoothing=label_smoothing)

    return loss_fn


def tagger_loss(featurizer):
    """`loss_fn(model, batch, training) -> (loss, tokens)` of a `Tagger` on
    batches `(tokens, tag_ids)` of strings, featurized in the step."""

    def loss_fn(model, batch, training):
        batch_tokens, batch_tags = batch
        return model.tag_loss(featurizer(batch_tokens), batch_tags, training=training)

    return loss_fn
