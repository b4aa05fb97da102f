"""Greedy and beam search in plain TensorFlow ops.

Both searches drive a `step_fn(ids, state, constants) -> (log_probs, state,
attention)` in a `tf.while_loop`, write into buffers allocated once at the
maximum length (no dynamically sized TensorArray, so the loops also convert to
builtin TFLite ops), and stop early once every hypothesis has produced EOS.

`state` is any nest of tensors whose first dimension is the batch (beam search
reorders it by parent hypothesis each step); `constants` is a nest of tensors
that only depend on the source (tiled once per beam, never reordered).
"""

from __future__ import annotations

import tensorflow as tf

NEG_INF = -1e9


def _write_column(buffer, t, values):
    """Returns `buffer` with column `t` set to `values` (one-hot select, no scatter)."""
    width = tf.shape(buffer)[1]
    selected = tf.equal(tf.range(width), t)  # (width,)
    shape = tf.concat([[1, width], tf.ones([tf.rank(buffer) - 2], tf.int32)], axis=0)
    selected = tf.reshape(selected, shape)
    values = tf.expand_dims(values, 1)
    return tf.where(selected, tf.cast(values, buffer.dtype), buffer)


def _force_eos(log_probs, force, eos_id):
    """Where `force` is set, every token but EOS gets NEG_INF (EOS keeps 0)."""
    vocab = tf.shape(log_probs)[-1]
    eos_row = tf.where(tf.equal(tf.range(vocab), eos_id), 0.0, NEG_INF)
    return tf.where(tf.expand_dims(force, -1), eos_row, log_probs)


def _keep_shapes(new, old):
    """Gives loop variables back the static shapes they entered the loop with."""

    def keep(new_tensor, old_tensor):
        new_tensor.set_shape(old_tensor.shape)
        return new_tensor

    return tuple(tf.nest.map_structure(keep, new, old))


def output_lengths(ids, eos_id):
    """Number of tokens before the first EOS (or the buffer width)."""
    is_eos = tf.cast(tf.equal(ids, eos_id), tf.int32)
    seen = tf.cumsum(is_eos, axis=1)
    return tf.reduce_sum(tf.cast(tf.equal(seen, 0), tf.int32), axis=1)


def greedy_search(
    step_fn, state, constants, bos_id, eos_id, max_lengths, source_length
):
    """Greedy decoding.

    Args:
        step_fn: the step function (see module docstring).
        state: nest of `(batch, ...)` tensors.
        constants: nest of tensors passed through to `step_fn`.
        bos_id, eos_id: int. Start and end ids.
        max_lengths: int32 `(batch,)`. Tokens allowed before a forced EOS.
        source_length: int32 scalar. Width of the attention weights.

    Returns:
        dict with `ids` `(batch, time)` (EOS then padding 0 after the output),
        `lengths` `(batch,)` (tokens before EOS), `scores` `(batch,)` (sum of
        log-probabilities, EOS included) and `attention` `(batch, time, source)`.
    """
    batch = tf.shape(max_lengths)[0]
    steps = tf.reduce_max(max_lengths) + 1
    ids = tf.zeros([batch, steps], tf.int32)
    attention = tf.zeros([batch, steps, source_length], tf.float32)
    scores = tf.zeros([batch], tf.float32)
    finished = tf.zeros([batch], tf.bool)
    inputs = tf.fill([batch], bos_id)

    def condition(t, inputs, state, ids, finished, *_):
        return tf.logical_and(t < steps, tf.logical_not(tf.reduce_all(finished)))

    def body(t, inputs, state, ids, finished, scores, attention):
        loop_vars = (inputs, state, ids, finished, scores, attention)
        log_probs, state, weights = step_fn(inputs, state, constants)
        log_probs = _force_eos(log_probs, t >= max_lengths, eos_id)
        tokens = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        token_scores = tf.reduce_max(log_probs, axis=-1)
        tokens = tf.where(finished, 0, tokens)
        scores += tf.where(finished, 0.0, token_scores)
        ids = _write_column(ids, t, tokens)
        attention = _write_column(attention, t, tf.cast(weights, tf.float32))
        finished = tf.logical_or(finished, tf.equal(tokens, eos_id))
        new_vars = (tokens, state, ids, finished, scores, attention)
        return (t + 1,) + _keep_shapes(new_vars, loop_vars)

    _, _, _, ids, _, scores, attention = tf.while_loop(
        condition,
        body,
        (tf.constant(0), inputs, state, ids, finished, scores, attention),
    )
    return {
        "ids": ids,
        "lengths": output_lengths(ids, eos_id),
        "scores": scores,
        "attention": attention,
    }


def length_penalty_factor(lengths, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al. 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def tile_batch(nest, multiplier):
    """Repeats every row `multiplier` times: `(batch, ...)` -> `(batch * k, ...)`."""
    return tf.nest.map_structure(lambda t: tf.repeat(t, multiplier, axis=0), nest)


def beam_search(
    step_fn,
    state,
    constants,
    bos_id,
    eos_id,
    max_lengths,
    source_length,
    beam_size,
    length_penalty=0.6,
):
    """Beam search with the GNMT length penalty.

    Hypotheses are ranked by `sum log p / ((5 + length) / 6) ** length_penalty`;
    a finished hypothesis stays in the beam with its score until better ones
    push it out. `state` and `constants` are tiled here, per batch row.

    Returns:
        the dict of `greedy_search`, for the best hypothesis of each batch row,
        with `scores` the length-normalized score, plus `nbest_ids`
        `(batch, beam_size, steps)` and `nbest_scores` `(batch, beam_size)`:
        every hypothesis of the final beam, best first.
    """
    k = beam_size
    batch = tf.shape(max_lengths)[0]
    steps = tf.reduce_max(max_lengths) + 1
    state = tile_batch(state, k)
    constants = tile_batch(constants, k)
    flat_max_lengths = tf.repeat(max_lengths, k)
    rows = batch * k
    ids = tf.zeros([rows, steps], tf.int32)
    attention = tf.zeros([rows, steps, source_length], tf.float32)
    # Only the first hypothesis of each beam is alive at the start.
    first = tf.one_hot(0, k, on_value=0.0, off_value=NEG_INF)
    cumulative = tf.tile(tf.expand_dims(first, 0), [batch, 1])  # (batch, k)
    lengths = tf.zeros([batch, k], tf.int32)
    finished = tf.zeros([batch, k], tf.bool)
    inputs = tf.fill([rows], bos_id)
    row_offsets = tf.expand_dims(tf.range(batch) * k, 1)  # (batch, 1)

    def condition(t, inputs, state, ids, attention, finished, *_):
        return tf.logical_and(t < steps, tf.logical_not(tf.reduce_all(finished)))

    def body(t, inputs, state, ids, attention, finished, cumulative, lengths):
        loop_vars = (inputs, state, ids, attention, finished, cumulative, lengths)
        log_probs, state, weights = step_fn(inputs, state, constants)
        vocab = tf.shape(log_probs)[-1]
        flat_finished = tf.reshape(finished, [rows])
        force = tf.logical_or(t >= flat_max_lengths, flat_finished)
        log_probs = _force_eos(log_probs, force, eos_id)
        # A finished hypothesis extends only with EOS, at no cost and no length.
        log_probs = tf.reshape(log_probs, [batch, k, vocab])
        totals = tf.expand_dims(cumulative, -1) + log_probs  # (batch, k, vocab)
        new_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        normalized = totals / tf.expand_dims(
            length_penalty_factor(new_lengths, length_penalty), -1
        )
        top_scores, top_indices = tf.math.top_k(tf.reshape(normalized, [batch, -1]), k)
        del top_scores
        parents = tf.math.floordiv(top_indices, vocab)  # (batch, k)
        tokens = tf.math.floormod(top_indices, vocab)
        parent_rows = tf.reshape(parents + row_offsets, [rows])
        offsets = tf.expand_dims(tf.range(batch) * k * vocab, 1)  # (batch, 1)
        cumulative = tf.gather(tf.reshape(totals, [-1]), top_indices + offsets)
        parent_finished = tf.gather(tf.reshape(finished, [rows]), parent_rows)
        lengths = tf.reshape(
            tf.gather(tf.reshape(new_lengths, [rows]), parent_rows), [batch, k]
        )
        flat_tokens = tf.reshape(tokens, [rows])
        flat_tokens = tf.where(parent_finished, 0, flat_tokens)
        finished = tf.reshape(
            tf.logical_or(parent_finished, tf.equal(flat_tokens, eos_id)), [batch, k]
        )
        state = tf.nest.map_structure(lambda s: tf.gather(s, parent_rows), state)
        ids = _write_column(tf.gather(ids, parent_rows), t, flat_tokens)
        weights = tf.gather(tf.cast(weights, tf.float32), parent_rows)
        attention = _write_column(tf.gather(attention, parent_rows), t, weights)
        new_vars = (flat_tokens, state, ids, attention, finished, cumulative, lengths)
        return (t + 1,) + _keep_shapes(new_vars, loop_vars)

    _, _, _, ids, attention, _, cumulative, lengths = tf.while_loop(
        condition,
        body,
        (tf.constant(0), inputs, state, ids, attention, finished, cumulative, lengths),
    )
    normalized = cumulative / length_penalty_factor(lengths, length_penalty)
    best = tf.argmax(normalized, axis=1, output_type=tf.int32)  # (batch,)
    best_rows = tf.range(batch) * k + best
    # Every hypothesis of the beam, best first: (batch, k, steps) and (batch, k).
    order = tf.argsort(normalized, axis=1, direction="DESCENDING", stable=True)
    nbest_rows = tf.reshape(order + row_offsets, [rows])
    nbest_ids = tf.reshape(tf.gather(ids, nbest_rows), [batch, k, -1])
    nbest_scores = tf.gather(normalized, order, batch_dims=1)
    ids = tf.gather(ids, best_rows)
    return {
        "ids": ids,
        "lengths": output_lengths(ids, eos_id),
        "scores": tf.gather(tf.reshape(normalized, [rows]), best_rows),
        "attention": tf.gather(attention, best_rows),
        "nbest_ids": nbest_ids,
        "nbest_scores": nbest_scores,
    }
