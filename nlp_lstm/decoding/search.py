"""Greedy and beam search in plain TensorFlow ops.

Both searches drive a `step_fn(ids, state, constants, group) -> (logits,
state, attention)` in a `tf.while_loop`, write into buffers allocated once at the
maximum length (no dynamically sized TensorArray, so the loops also convert to
builtin TFLite ops), and stop early once every sentence is decided (its
hypotheses have produced EOS or, in beam search, its best one can no longer be
overtaken).
The attention weights of the output are kept only when asked for: a buffer of
`(batch, steps, source)` written (and, in beam search, reordered) every step
is most of a step's memory traffic.

Scores are log-probabilities, `log_softmax(logits)`; the searches compute only
the ones they use (the best token's, or each hypothesis's `beam_size` best):
`logit - max - log_sum`, where `-log_sum` is the log of the best token's
softmax probability (one fused softmax op, about twice as fast on CPU as
max, subtract, exp and sum over the vocabulary as separate ops).

`state` is any nest of tensors whose first dimension is the batch (beam search
reorders it by parent hypothesis each step); `constants` is a nest of tensors
that only depend on the source, one row a sentence: never tiled or reordered
(a shrinking search drops the rows of the sentences it drops). A step's rows
are `group` consecutive rows a sentence (`step_fn(ids, state, constants,
group=k)`: 1 in greedy search and in beam search's first step, the beam size
after it), so that a beam's hypotheses read their sentence's constants once
(the attention's products, `AttentionDecoder.step`) where a tiled copy would
hold and read them `k` times.
"""

from __future__ import annotations

import tensorflow as tf

NEG_INF = -1e9
# The live batch sizes (sentences) a shrinking search keeps: 1, 2, 3, 4, 6,
# 8, 12, ... (powers of two and their halfway points). A search drops its
# finished sentences once the unfinished fit in a smaller size, and keeps as
# many finished ones as fill it: under a third of its rows are finished (the
# sizes grow by 4/3 or 3/2; a quarter with the share rule before), and its
# steps see a few batch shapes, whose kernels (oneDNN makes one for
# each shape it meets) are reused from batch to batch.
LIVE_SIZES = tuple(sorted({1} | {m * 2**e for m in (2, 3) for e in range(24)}))


def _write_column(buffer, t, values):
    """Returns `buffer` with column `t` set to `values` (one-hot select, no scatter)."""
    width = tf.shape(buffer)[1]
    selected = tf.equal(tf.range(width), t)  # (width,)
    shape = tf.concat([[1, width], tf.ones([tf.rank(buffer) - 2], tf.int32)], axis=0)
    selected = tf.reshape(selected, shape)
    values = tf.expand_dims(values, 1)
    return tf.where(selected, tf.cast(values, buffer.dtype), buffer)


def _best_log_probability(logits, top):
    """`log_softmax(logits)` at each row's largest logit, whose value is `top`
    `(rows, 1)`: `-log sum(exp(logits - top))`, `(rows, 1)`. One pass of
    exponentials and a sum, without the normalized copy of the logits that
    a softmax writes (a greedy step over a 64 x 3,584 shortlist: 0.30 ms
    against 0.36 with the softmax, one core)."""
    return -tf.math.log(tf.reduce_sum(tf.exp(logits - top), axis=-1, keepdims=True))


def _block_size(width: int, k: int) -> int | None:
    """A divisor of `width` near `sqrt(width)` for `top_k_rows`, or None when
    the width is unknown, too small, or has no divisor that fits."""
    if width is None or width < 16 * k:
        return None
    divisors = [size for size in range(max(k, 16), width // k + 1) if width % size == 0]
    if not divisors:
        return None
    return min(divisors, key=lambda size: abs(size * size - width))


# The block width of `top_k_rows` for rows whose width is known only when the
# graph runs (a search's shortlist, 2,800-4,400 columns for Multi30k's
# batches): near the square root of such widths.
UNKNOWN_WIDTH_BLOCK = 64


def top_k_rows(values, k: int):
    """`tf.math.top_k(values, k)` of a `(rows, width)` matrix, in fewer passes.

    The row is cut into blocks; the `k` best values lie in the `k` blocks of
    highest maxima, so one max pass over the row and a top-k over `k` blocks
    replace a top-k over the whole row (which keeps a heap per element).
    Ties go to the lower index, as in `tf.math.top_k`. A width unknown at
    tracing is padded at the end, with -inf, to whole blocks of
    `UNKNOWN_WIDTH_BLOCK` (at least `k` of them): the padding ranks after
    every value of the row, so the rows need `k` values that are not -inf.
    """
    width = values.shape[-1]
    block = UNKNOWN_WIDTH_BLOCK if width is None else _block_size(width, k)
    if block is None:
        return tf.math.top_k(values, k)
    rows = tf.shape(values)[0]
    if width is None:
        columns = tf.shape(values)[1]
        count = tf.maximum((columns + block - 1) // block, k)
        values = tf.pad(
            values, [[0, 0], [0, count * block - columns]],
            constant_values=float("-inf"),
        )
    else:
        count = width // block
    grouped = tf.reshape(values, [rows, count, block])
    _, blocks = tf.math.top_k(tf.reduce_max(grouped, axis=2), k)
    blocks = tf.sort(blocks, axis=1)  # in index order, so that ties keep it
    candidates = tf.reshape(tf.gather(grouped, blocks, batch_dims=1), [rows, k * block])
    top, positions = tf.math.top_k(candidates, k)
    indices = tf.gather(blocks, positions // block, batch_dims=1) * block
    return top, indices + positions % block


def _vocabulary_ids(columns, output_ids):
    """The target ids of logit columns `columns` (see `output_ids`)."""
    return columns if output_ids is None else tf.gather(output_ids, columns)


def _through_eos(attention, lengths):
    """Attention weights `(batch, steps, source)` up to each output's EOS
    step, zeros after it (where a search may or may not have gone on)."""
    steps = tf.range(tf.shape(attention)[1])
    kept = tf.expand_dims(steps, 0) <= tf.expand_dims(lengths, 1)
    return attention * tf.cast(tf.expand_dims(kept, -1), attention.dtype)


def _keep_shapes(new, old):
    """Gives loop variables back the static shapes they entered the loop with."""

    def keep(new_tensor, old_tensor):
        new_tensor.set_shape(old_tensor.shape)
        return new_tensor

    return tf.nest.map_structure(keep, new, old)


def _rows_of(units, k):
    """Row indexes `(len(units) * k,)` of units (sentences) of `k` rows each."""
    units = tf.cast(units, tf.int32)
    return tf.reshape(tf.expand_dims(units, 1) * k + tf.range(k), [-1])


def _take(nest, indexes):
    return tf.nest.map_structure(lambda tensor: tf.gather(tensor, indexes), nest)


def _move_units(gone, units, rows, outputs, k):
    """Moves the units where `gone` is set out of the live batch.

    `units` holds per-unit tensors (`positions`: each unit's index in the
    caller's batch), `rows` per-row ones (`k` consecutive rows a unit);
    `outputs` holds caller-batch-sized buffers of some of their keys, into
    which the gone units' values are written at their positions.

    Returns `(units, rows, outputs)` without the gone units.
    """
    gone_units = tf.where(gone)[:, 0]
    kept_units = tf.where(tf.logical_not(gone))[:, 0]
    positions = tf.gather(units["positions"], gone_units)
    moved = {}
    for key, buffer in outputs.items():
        if key in units:
            values, indexes = tf.gather(units[key], gone_units), positions
        else:
            values = tf.gather(rows[key], _rows_of(gone_units, k))
            indexes = _rows_of(positions, k)
        moved[key] = tf.tensor_scatter_nd_update(
            buffer, tf.expand_dims(indexes, 1), values
        )
    return _take(units, kept_units), _take(rows, _rows_of(kept_units, k)), moved


def live_size(count):
    """The smallest of `LIVE_SIZES` that holds `count` (int32 scalar) units,
    or 0 for none."""
    sizes = tf.constant(LIVE_SIZES, tf.int32)
    index = tf.searchsorted(sizes, tf.reshape(count, [1]), side="left")[0]
    return tf.where(count > 0, tf.gather(sizes, index), 0)


def _shrink(done, units, rows, outputs, k):
    """`_move_units` of done units once the others fit in a smaller
    `live_size`; as many done units stay as fill that size (moving costs a
    gather of every row's state and unit's constants; finished rows are carried
    unchanged)."""
    done = tf.cast(done, tf.int32)
    live = tf.size(done) - tf.reduce_sum(done)
    target = live_size(live)

    def move():
        # The done units past the first `target - live` go.
        gone = tf.logical_and(done > 0, tf.cumsum(done) > target - live)
        return _move_units(gone, units, rows, outputs, k)

    return tf.cond(target < tf.size(done), move, lambda: (units, rows, outputs))


# Loop tensors that a step does not change: loop variables only when a
# shrinking search gathers them (else the loop captures them, and TFLite, which
# turns a pass-through loop variable into an unsupported Identity op, converts).
FIXED = ("positions", "constants", "max_lengths")


def _relaxed(nest):
    """Shape invariants with an unknown first dimension."""
    return tf.nest.map_structure(
        lambda tensor: tf.TensorShape([None]).concatenate(tensor.shape[1:]), nest
    )


def _run(advance, done, units, rows, outputs, steps, k, shrink, start=0):
    """The search loop, from step `start`.

    Args:
        advance: `(t, units, rows) -> (units, rows)`, one step.
        done: `(units, rows) -> (units,) bool`, units that are over; the loop
            ends when all are.
        units, rows: dicts of per-unit and per-row tensors (`k` rows a unit).
        outputs: dict of batch-sized buffers, for the keys the caller reads.
        steps: int32 scalar, the most steps.
        k: int. Rows per unit.
        shrink: bool. Drop done units as it goes (`_shrink`).
        start: int. The first step's index (earlier ones are in `units`
            and `rows`).

    Returns:
        dict: the final value of each key of `outputs`, for the whole batch.
    """

    def stop(t, units, rows):
        return tf.logical_or(t >= steps, tf.reduce_all(done(units, rows)))

    if shrink:

        def body(t, units, rows, outputs):
            units, rows = advance(t, units, rows)
            return (t + 1, *_shrink(done(units, rows), units, rows, outputs, k))

        loop_vars = (tf.constant(start), units, rows, outputs)
        shapes = (
            tf.TensorShape([]),
            _relaxed(units),
            _relaxed(rows),
            tf.nest.map_structure(lambda tensor: tensor.shape, outputs),
        )
        _, units, rows, outputs = tf.while_loop(
            lambda t, units, rows, _: tf.logical_not(stop(t, units, rows)),
            body,
            loop_vars,
            shape_invariants=shapes,
        )
        everything = tf.ones_like(units["positions"], tf.bool)
        return _move_units(everything, units, rows, outputs, k)[2]

    def split(nest):
        changing = {key: value for key, value in nest.items() if key not in FIXED}
        return changing, {key: value for key, value in nest.items() if key in FIXED}

    (units, fixed_units), (rows, fixed_rows) = split(units), split(rows)

    def whole(units, rows):
        return {**units, **fixed_units}, {**rows, **fixed_rows}

    def body(t, units, rows):
        new_units, new_rows = advance(t, *whole(units, rows))
        new_units = {key: new_units[key] for key in units}
        new_rows = {key: new_rows[key] for key in rows}
        return t + 1, _keep_shapes(new_units, units), _keep_shapes(new_rows, rows)

    _, units, rows = tf.while_loop(
        lambda t, units, rows: tf.logical_not(stop(t, *whole(units, rows))),
        body,
        (tf.constant(start), units, rows),
    )
    final = {**units, **rows}
    return {key: final[key] for key in outputs}


def output_lengths(ids, eos_id):
    """Number of tokens before the first EOS (or the buffer width)."""
    is_eos = tf.cast(tf.equal(ids, eos_id), tf.int32)
    seen = tf.cumsum(is_eos, axis=1)
    return tf.reduce_sum(tf.cast(tf.equal(seen, 0), tf.int32), axis=1)


def greedy_search(
    step_fn,
    state,
    constants,
    bos_id,
    eos_id,
    max_lengths,
    source_length,
    return_attention: bool = False,
    shrink: bool = False,
    output_ids=None,
):
    """Greedy decoding.

    Args:
        step_fn: the step function (see module docstring).
        state: nest of `(batch, ...)` tensors.
        constants: nest of `(batch, ...)` tensors passed through to `step_fn`.
        bos_id, eos_id: int. Start and end ids.
        max_lengths: int32 `(batch,)`. Tokens allowed before a forced EOS.
        source_length: int32 scalar. Width of the attention weights.
        return_attention: bool. Also return the attention weights (zeros
            after each output's EOS step).
        shrink: bool. Drop finished sentences from the batch as the search
            goes (`_shrink`), so that later steps
            compute fewer rows; the same results. Not for TFLite, whose
            loops need fixed shapes.
        output_ids: int32 `(width,)` or None. The target id of each column
            of `step_fn`'s logits when they cover part of the vocabulary (a
            `shortlist`: its sorted ids, then padding columns whose logits are
            never the largest); None: column `i` is id `i`.

    Returns:
        dict with `ids` `(batch, time)` (EOS then padding 0 after the output),
        `lengths` `(batch,)` (tokens before EOS), `scores` `(batch,)` (sum of
        log-probabilities, EOS included; a forced EOS counts 0) and, when
        asked, `attention` `(batch, time, source)`.
    """
    batch = tf.shape(max_lengths)[0]
    steps = tf.reduce_max(max_lengths) + 1
    units = {"positions": tf.range(batch)}
    rows = {
        "inputs": tf.fill([batch], bos_id),
        "state": state,
        "constants": constants,
        "max_lengths": max_lengths,
        "ids": tf.zeros([batch, steps], tf.int32),
        "scores": tf.zeros([batch], tf.float32),
        "finished": tf.zeros([batch], tf.bool),
    }
    if return_attention:
        rows["attention"] = tf.zeros([batch, steps, source_length], tf.float32)
    kept = ("ids", "scores", "attention") if return_attention else ("ids", "scores")
    outputs = {key: tf.zeros_like(rows[key]) for key in kept}

    def advance(t, units, rows):
        logits, state, weights = step_fn(
            rows["inputs"], rows["state"], rows["constants"], group=1
        )
        logits = tf.cast(logits, tf.float32)
        tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        top = tf.reduce_max(logits, axis=-1, keepdims=True)
        token_scores = _best_log_probability(logits, top)[:, 0]
        tokens = _vocabulary_ids(tokens, output_ids)
        force = t >= rows["max_lengths"]
        tokens = tf.where(force, eos_id, tokens)
        token_scores = tf.where(force, 0.0, token_scores)
        finished = rows["finished"]
        tokens = tf.where(finished, 0, tokens)
        new_rows = dict(
            rows,
            inputs=tokens,
            state=state,
            ids=_write_column(rows["ids"], t, tokens),
            scores=rows["scores"] + tf.where(finished, 0.0, token_scores),
            finished=tf.logical_or(finished, tf.equal(tokens, eos_id)),
        )
        if return_attention:
            new_rows["attention"] = _write_column(
                rows["attention"], t, tf.cast(weights, tf.float32)
            )
        return units, new_rows

    def finished(units, rows):
        return rows["finished"]

    final = _run(advance, finished, units, rows, outputs, steps, 1, shrink)
    result = {
        "ids": final["ids"],
        "lengths": output_lengths(final["ids"], eos_id),
        "scores": final["scores"],
    }
    if return_attention:
        result["attention"] = _through_eos(final["attention"], result["lengths"])
    return result


def length_penalty_factor(lengths, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al. 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def _settled(units, rows, alpha):
    """Sentences `(units,)` whose best finished hypothesis no live one can
    overtake (the beam search's result for them is decided).

    A live hypothesis's score only falls as it grows (each token adds a
    log-probability <= 0), so its normalized score can at most reach
    `cumulative / penalty`, at the largest length penalty it can still get:
    at its longest (`max_lengths + 1` tokens, the forced EOS included) for
    `alpha >= 0`, at its next token for `alpha < 0`. When the best finished
    hypothesis is above every such bound, it stays in the beam (no candidate
    ranks above it) and is the search's best at the end.
    """
    finished, cumulative = units["finished"], units["cumulative"]  # (units, k)
    lengths = units["lengths"]
    count, k = tf.shape(finished)[0], finished.shape[1]
    normalized = cumulative / length_penalty_factor(lengths, alpha)
    best_finished = tf.reduce_max(tf.where(finished, normalized, NEG_INF), axis=1)
    longest = tf.reshape(rows["max_lengths"], [count, k]) + 1
    penalty = tf.maximum(
        length_penalty_factor(lengths + 1, alpha),
        length_penalty_factor(longest, alpha),
    )
    reachable = tf.reduce_max(tf.where(finished, NEG_INF, cumulative / penalty), axis=1)
    return tf.logical_and(tf.reduce_any(finished, axis=1), best_finished > reachable)


def repeat_elements(tensor, multiplier: int, axis: int = 0):
    """`tf.repeat(tensor, multiplier, axis)` for a Python int `multiplier`:
    each element along `axis` `multiplier` times in a row. A tile and a
    reshape: `tf.repeat` builds its general case (tensor repeats), about 30
    ops a call, which a SavedModel loads and the search loop runs each step."""
    tensor = tf.convert_to_tensor(tensor)
    rank = tensor.shape.rank
    axis = axis % rank
    tiled = tf.tile(
        tf.expand_dims(tensor, axis + 1),
        [1] * (axis + 1) + [multiplier] + [1] * (rank - axis - 1),
    )
    static = tensor.shape.as_list()
    if all(size is not None for i, size in enumerate(static) if i != axis):
        shape = static[:axis] + [-1] + static[axis + 1 :]
    else:
        dynamic = tf.shape(tensor)
        shape = tf.concat([dynamic[:axis], [-1], dynamic[axis + 1 :]], axis=0)
    return tf.reshape(tiled, shape)


def tile_batch(nest, multiplier):
    """Repeats every row `multiplier` times: `(batch, ...)` -> `(batch * k, ...)`."""
    return tf.nest.map_structure(lambda t: repeat_elements(t, multiplier), nest)


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
    return_attention: bool = False,
    shrink: bool = False,
    nbest: bool = False,
    output_ids=None,
):
    """Beam search with the GNMT length penalty.

    Hypotheses are ranked by `sum log p / ((5 + length) / 6) ** length_penalty`;
    a finished hypothesis stays in the beam with its score until better ones
    push it out. `state` is tiled here, per hypothesis; `constants` stay one
    row a sentence (`step_fn`'s `group` is the beam size).

    With `nbest`, a sentence's search goes on until every hypothesis of its
    beam has finished (the n-best list is complete). Without, it stops once
    its best finished hypothesis can no longer be overtaken (`_settled`):
    the best hypothesis and its score are the same, in fewer steps.

    Each step ranks each hypothesis's `beam_size` best tokens, `beam_size**2`
    candidates per batch row instead of `beam_size * vocabulary`: the length
    penalty is the same for every token of a hypothesis, so the beam's best
    extensions are always among them (ties go to the lower hypothesis, then
    to the lower token id, as a top-k over the whole vocabulary would).
    `shrink` drops sentences whose hypotheses have all finished, as in
    `greedy_search`. The first step, whose hypotheses are all BOS with the
    sentence's state, runs on one row a sentence.

    Returns:
        the dict of `greedy_search`, for the best hypothesis of each batch row,
        with `scores` the length-normalized score; with `nbest`, also
        `nbest_ids` `(batch, beam_size, steps)` and `nbest_scores`
        `(batch, beam_size)`: every hypothesis of the final beam, best first.
    """
    k = beam_size
    batch = tf.shape(max_lengths)[0]
    steps = tf.reduce_max(max_lengths) + 1
    # Only the first hypothesis of each beam is alive at the start.
    first = tf.one_hot(0, k, on_value=0.0, off_value=NEG_INF)
    units = {
        "positions": tf.range(batch),
        "cumulative": tf.tile(tf.expand_dims(first, 0), [batch, 1]),  # (batch, k)
        "lengths": tf.zeros([batch, k], tf.int32),
        "finished": tf.zeros([batch, k], tf.bool),
        "constants": constants,  # a sentence's, for its k rows (group=k)
    }
    rows = {
        "inputs": tf.fill([batch * k], bos_id),
        "state": tile_batch(state, k),
        "max_lengths": repeat_elements(max_lengths, k),
        "ids": tf.zeros([batch * k, steps], tf.int32),
    }
    if return_attention:
        rows["attention"] = tf.zeros([batch * k, steps, source_length], tf.float32)
    kept = {**units, **rows}
    outputs = {
        key: tf.zeros_like(kept[key])
        for key in ("cumulative", "lengths", "ids", "attention")
        if key in kept
    }

    def advance(t, units, rows, stepped=None):
        count = tf.shape(units["cumulative"])[0]  # sentences in the live batch
        if stepped is None:
            stepped = step_fn(
                rows["inputs"], rows["state"], units["constants"], group=k
            )
        logits, state, weights = stepped
        logits = tf.cast(logits, tf.float32)
        top_logits, candidates = top_k_rows(logits, k)  # (rows, k), best first
        best_score = _best_log_probability(logits, top_logits[:, :1])
        candidates = _vocabulary_ids(candidates, output_ids)
        # Log-probabilities: logit - max - log_sum.
        candidate_scores = top_logits - top_logits[:, :1] + best_score
        # A finished hypothesis (or one at its maximum length) extends only
        # with EOS, at no cost; a finished one also gains no length.
        finished = units["finished"]
        flat_finished = tf.reshape(finished, [-1])
        force = tf.logical_or(t >= rows["max_lengths"], flat_finished)
        force = tf.expand_dims(force, 1)
        candidate_scores = tf.where(force, first, candidate_scores)
        candidates = tf.where(force, eos_id, candidates)
        # (count, k * k): hypothesis-major, each hypothesis's tokens best first.
        totals = tf.expand_dims(units["cumulative"], -1) + tf.reshape(
            candidate_scores, [count, k, k]
        )
        totals = tf.reshape(totals, [count, k * k])
        new_lengths = units["lengths"] + tf.cast(tf.logical_not(finished), tf.int32)
        penalty = repeat_elements(
            length_penalty_factor(new_lengths, length_penalty), k, axis=1
        )
        _, best = tf.math.top_k(totals / penalty, k)  # (count, k)
        parent_rows = tf.reshape(
            best // k + tf.expand_dims(tf.range(count) * k, 1), [-1]
        )
        tokens = tf.gather(tf.reshape(candidates, [count, k * k]), best, batch_dims=1)
        tokens = tf.reshape(tokens, [-1])
        parent_finished = tf.gather(flat_finished, parent_rows)
        tokens = tf.where(parent_finished, 0, tokens)
        new_units = dict(
            units,
            cumulative=tf.gather(totals, best, batch_dims=1),
            lengths=tf.reshape(
                tf.gather(tf.reshape(new_lengths, [-1]), parent_rows), [count, k]
            ),
            finished=tf.reshape(
                tf.logical_or(parent_finished, tf.equal(tokens, eos_id)), [count, k]
            ),
        )
        new_rows = dict(
            rows,
            inputs=tokens,
            state=_take(state, parent_rows),
            ids=_write_column(tf.gather(rows["ids"], parent_rows), t, tokens),
        )
        if return_attention:
            weights = tf.gather(tf.cast(weights, tf.float32), parent_rows)
            new_rows["attention"] = _write_column(
                tf.gather(rows["attention"], parent_rows), t, weights
            )
        return new_units, new_rows

    def done(units, rows):
        over = tf.reduce_all(units["finished"], axis=1)
        if nbest:
            return over
        return tf.logical_or(over, _settled(units, rows, length_penalty))

    # The first step's hypotheses are all BOS with the sentence's state: it
    # runs on one row a sentence, its outputs repeated for the beam.
    first_step = step_fn(tf.fill([batch], bos_id), state, constants, group=1)
    first_units, first_rows = advance(
        tf.constant(0), units, rows, tile_batch(first_step, k)
    )
    units = _keep_shapes(first_units, units)
    rows = _keep_shapes(first_rows, rows)
    final = _run(advance, done, units, rows, outputs, steps, k, shrink, start=1)
    ids, cumulative, lengths = final["ids"], final["cumulative"], final["lengths"]
    normalized = cumulative / length_penalty_factor(lengths, length_penalty)
    best = tf.argmax(normalized, axis=1, output_type=tf.int32)  # (batch,)
    best_rows = tf.range(batch) * k + best
    best_ids = tf.gather(ids, best_rows)
    result = {
        "ids": best_ids,
        "lengths": output_lengths(best_ids, eos_id),
        "scores": tf.gather(tf.reshape(normalized, [-1]), best_rows),
    }
    if nbest:
        # Every hypothesis of the beam, best first: (batch, k, steps), (batch, k).
        order = tf.argsort(normalized, axis=1, direction="DESCENDING", stable=True)
        nbest_rows = tf.reshape(order + tf.expand_dims(tf.range(batch) * k, 1), [-1])
        result["nbest_ids"] = tf.reshape(tf.gather(ids, nbest_rows), [batch, k, -1])
        result["nbest_scores"] = tf.gather(normalized, order, batch_dims=1)
    if return_attention:
        attention = tf.gather(final["attention"], best_rows)
        result["attention"] = _through_eos(attention, result["lengths"])
    return result
