"""Losses on padded batches."""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.layers.output import sparse_cross_entropy


def masked_cross_entropy(labels, logits, pad_id: int = 0, label_smoothing: float = 0.0):
    """Token-averaged cross-entropy that ignores `pad_id` labels.

    With `label_smoothing = e`, the target distribution puts `1 - e` on the
    label and spreads `e` uniformly over the vocabulary
    (`smoothed_cross_entropy`). Without it, one fused sparse
    softmax-cross-entropy kernel gives the loss and its gradient.

    Args:
        labels: int, e.g. `(batch, time)`, or `(tokens,)` when the caller
            picked the positions it scores.
        logits: float, `labels`' shape and `(vocab,)`.

    Returns:
        `(loss, tokens)`: the mean over real tokens and their count.
    """
    logits = tf.cast(logits, tf.float32)
    if label_smoothing:
        nll = smoothed_cross_entropy(labels, logits, label_smoothing)
    else:
        nll = sparse_cross_entropy(labels, logits)
    weights = tf.cast(tf.not_equal(labels, pad_id), tf.float32)
    tokens = tf.reduce_sum(weights)
    return tf.reduce_sum(nll * weights) / tf.maximum(tokens, 1.0), tokens


def smoothed_cross_entropy(labels, logits, label_smoothing: float):
    """Per-token cross-entropy against the target `(1 - e) * one_hot(label) +
    e / vocab` (`e = label_smoothing`), `labels`' shape.

    `tf.nn.softmax_cross_entropy_with_logits` with those targets (the
    definition; the tests compare the two, values and gradients) reads a
    dense target tensor as large as the logits; this reads the logits in
    three passes (max, exp-sum, mean) and writes the gradient `softmax -
    target` in one, with the label's term scattered: 0.6x the time on the
    translator's `(batch * time, 8,000)` logits.
    """
    vocab = tf.shape(logits)[-1]
    flat_logits = tf.reshape(logits, [-1, vocab])
    flat_labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    e = tf.cast(label_smoothing, tf.float32)
    off = e / tf.cast(vocab, tf.float32)

    @tf.custom_gradient
    def nll(flat_logits):
        top = tf.reduce_max(flat_logits, axis=-1, keepdims=True)
        exps = tf.exp(flat_logits - top)
        sums = tf.reduce_sum(exps, axis=-1, keepdims=True)
        log_z = tf.squeeze(top + tf.math.log(sums), -1)
        label_logits = tf.gather(flat_logits, flat_labels, batch_dims=1)
        mean_logits = tf.reduce_mean(flat_logits, axis=-1)
        # -sum_j target_j * (z_j - log_z), with the targets summing to 1.
        losses = log_z - (1.0 - e) * label_logits - e * mean_logits

        def grad(upstream):
            upstream = upstream[:, None]
            d_logits = exps * (upstream / sums) - upstream * off
            rows = tf.range(tf.shape(flat_labels)[0])
            at_labels = tf.stack([rows, flat_labels], axis=-1)
            return tf.tensor_scatter_nd_sub(
                d_logits, at_labels, (1.0 - e) * upstream[:, 0]
            )

        return losses, grad

    return tf.reshape(nll(flat_logits), tf.shape(labels))


def translator_loss(label_smoothing: float):
    """`loss_fn(model, batch, training) -> (loss, tokens)` of a `Translator`
    on batches `((source, target_in), target_out)`."""

    def loss_fn(model, batch, training):
        (source, target_in), target_out = batch
        outputs = model.attentional((source, target_in), training=training)
        # Only the real target positions are projected onto the vocabulary and
        # scored (about 1 in 9 is padding in Multi30k's batches): the same loss
        # and gradients as `masked_cross_entropy` of `model(...)`, without the
        # padding's share of the largest matmuls and of the softmax.
        positions = tf.where(tf.not_equal(target_out, model.pad_id))
        logits = model.logits(tf.gather_nd(outputs, positions))
        return masked_cross_entropy(
            tf.gather_nd(target_out, positions), logits, pad_id=model.pad_id,
            label_smoothing=label_smoothing,
        )

    return loss_fn


def tagger_loss(featurizer):
    """`loss_fn(model, batch, training) -> (loss, tokens)` of a `Tagger` on
    batches `(tokens, tag_ids)` of strings, featurized in the step."""

    def loss_fn(model, batch, training):
        batch_tokens, batch_tags = batch
        return model.tag_loss(featurizer(batch_tokens), batch_tags, training=training)

    return loss_fn
