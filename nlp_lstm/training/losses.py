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


def log_uniform_probabilities(ids, vocab_size: int):
    """P(id) of the log-uniform (Zipfian) distribution over `[0, vocab_size)`
    that `tf.random.log_uniform_candidate_sampler` draws from: `(log(id + 2)
    - log(id + 1)) / log(vocab_size + 1)`, for vocabularies in decreasing
    order of frequency (SentencePiece's are, by piece score)."""
    ids = tf.cast(ids, tf.float64)
    probabilities = tf.math.log1p(1.0 / (ids + 1.0)) / tf.math.log(
        tf.cast(vocab_size, tf.float64) + 1.0
    )
    return tf.cast(probabilities, tf.float32)


def log_uniform_draws(samples: int, vocab_size: int, seed):
    """`samples` ids drawn with replacement from `log_uniform_probabilities`
    (stateless: the same `seed`, the same draws)."""
    u = tf.random.stateless_uniform([samples], seed, dtype=tf.float64)
    ids = tf.floor(tf.exp(u * tf.math.log(tf.cast(vocab_size, tf.float64) + 1.0))) - 1.0
    return tf.clip_by_value(tf.cast(ids, tf.int32), 0, vocab_size - 1)


def sampled_cross_entropy(labels, columns_fn, vocab_size: int, samples: int,
                          label_smoothing: float = 0.0, seed=None):
    """Per-token cross-entropy of 1-D `labels`, with the softmax's normalizer
    estimated from some of the vocabulary's columns: a sampled softmax (Jean
    et al. 2015, "On Using Very Large Target Vocabulary for Neural Machine
    Translation"; Bengio and Senecal 2008).

    The columns are the batch's labels, computed exactly, and `samples` ids
    drawn from `log_uniform_probabilities` (with replacement; the labels among
    them dropped). Each drawn column `v` stands for itself divided by its
    chance `pi_v = 1 - (1 - p_v) ** samples` of being drawn, so that the sum
    of `exp(logit)` over the columns is an unbiased estimate of the whole
    vocabulary's (Horvitz-Thompson). The label smoothing's term, the mean
    logit over the vocabulary, is exact (`columns_fn`'s second output). With
    every column (`samples` large), the loss and gradients are
    `smoothed_cross_entropy`'s (tests/training/test_losses.py).

    Not `tf.nn.sampled_softmax_loss`: its sampler is a stateful op (in a
    `tf.function` stateful ops run in program order, so the towers of a step
    would wait for each other, see `layers.output.sparse_cross_entropy`), it
    scores each row against its own label and the draws only, not the batch's
    other labels, and it has no label smoothing.

    Args:
        labels: int `(tokens,)`.
        columns_fn: `columns_fn(ids) -> (logits (tokens, len(ids)),
            mean_logits (tokens,))`, float32, e.g. `OutputProjection.columns`.
        seed: int `(2,)` of the draws; by default made from `labels` (other
            batches, other draws; the same batch, the same draws).
    """
    labels = tf.cast(labels, tf.int32)
    if seed is None:
        seed = tf.stack([tf.reduce_sum(labels), tf.size(labels)])
    targets, label_columns = tf.unique(labels)
    drawn, _ = tf.unique(log_uniform_draws(samples, vocab_size, seed))
    p = log_uniform_probabilities(drawn, vocab_size)
    chance = -tf.math.expm1(samples * tf.math.log1p(-p))
    is_target = tf.reduce_any(tf.equal(drawn[:, None], targets[None, :]), axis=1)
    # A drawn label is already a column of its own: its copy weighs nothing.
    drawn_log_weight = tf.where(is_target, -1e9, -tf.math.log(chance))
    logits, mean_logits = columns_fn(tf.concat([targets, drawn], axis=0))
    logits = logits + tf.concat(
        [tf.zeros_like(targets, tf.float32), drawn_log_weight], axis=0
    )
    log_z = tf.reduce_logsumexp(logits, axis=-1)
    label_logits = tf.gather(logits, label_columns, batch_dims=1)
    e = tf.cast(label_smoothing, tf.float32)
    return log_z - (1.0 - e) * label_logits - e * mean_logits


def translator_loss(label_smoothing: float = 0.0, sampled_softmax: int = 0):
    """`loss_fn(model, batch, training) -> (loss, tokens)` of a `Translator`
    on batches `((source, target_in), target_out)`.

    `sampled_softmax`: when training, estimate the softmax's normalizer from
    the batch's labels and that many draws (`sampled_cross_entropy`) instead
    of projecting onto the whole vocabulary; 0: the whole vocabulary. The
    loss when not training (validation) is always the whole vocabulary's.
    """

    def loss_fn(model, batch, training):
        (source, target_in), target_out = batch
        outputs = model.attentional((source, target_in), training=training)
        # Only the real target positions are projected onto the vocabulary and
        # scored (about 1 in 9 is padding in Multi30k's batches): the same loss
        # and gradients as `masked_cross_entropy` of `model(...)`, without the
        # padding's share of the largest matmuls and of the softmax.
        positions = tf.where(tf.not_equal(target_out, model.pad_id))
        labels = tf.gather_nd(target_out, positions)
        outputs = tf.gather_nd(outputs, positions)
        if sampled_softmax and training:
            nll = sampled_cross_entropy(
                labels, lambda ids: model.output_columns(outputs, ids),
                model.output_projection.vocab_size, sampled_softmax, label_smoothing,
            )
            tokens = tf.cast(tf.size(labels), tf.float32)
            return tf.reduce_sum(nll) / tf.maximum(tokens, 1.0), tokens
        return masked_cross_entropy(
            labels, model.logits(outputs), pad_id=model.pad_id,
            label_smoothing=label_smoothing,
        )

    return loss_fn


def translator_training_loss(training_config):
    """`translator_loss` as a `TrainingConfig` asks for it (its
    `label_smoothing`, `sampled_softmax` and `sampled_softmax_until`): what
    the pipeline and the benchmarks train with. One loss, or, when the
    sampled softmax stops before the last step, the trainer's loss phases
    (`trainer.loss_phases`): `[(0, sampled), (switch, whole vocabulary)]`."""
    smoothing = training_config.label_smoothing
    samples = training_config.sampled_softmax
    switch = round(training_config.sampled_softmax_until * training_config.steps)
    if not samples or switch == 0:
        return translator_loss(smoothing)
    if switch >= training_config.steps:
        return translator_loss(smoothing, samples)
    return [
        (0, translator_loss(smoothing, samples)),
        (switch, translator_loss(smoothing)),
    ]


def tagger_loss(featurizer):
    """`loss_fn(model, batch, training) -> (loss, tokens)` of a `Tagger` on
    batches `(tokens, tag_ids)` of strings, featurized in the step."""

    def loss_fn(model, batch, training):
        batch_tokens, batch_tags = batch
        return model.tag_loss(featurizer(batch_tokens), batch_tags, training=training)

    return loss_fn
