"""The searches against plain NumPy definitions, on random step distributions.

The TF searches take shortcuts (log-probabilities only where used, each
hypothesis's `beam_size` best tokens instead of the whole vocabulary); these
references rank every token of every hypothesis.
"""

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.decoding.search import (
    LIVE_SIZES,
    beam_search,
    greedy_search,
    top_k_rows,
)

BOS, EOS, VOCAB, STEPS = 2, 3, 9, 12


def random_table(seed):
    """Logits by step and previous token: `(STEPS, VOCAB, VOCAB)`."""
    rng = np.random.default_rng(seed)
    table = rng.normal(0.0, 2.0, (STEPS, VOCAB, VOCAB)).astype(np.float32)
    table[:, :, EOS] -= 1.5  # outputs of a few tokens, not all of length 0
    return table


def step_fn_of(table):
    """`step_fn` whose logits depend on the step (the state) and the last token."""
    table = tf.constant(table)

    def step_fn(ids, state, constants, group=1):
        index = tf.stack([tf.minimum(state, STEPS - 1), ids], axis=1)
        return tf.gather_nd(table, index), state + 1, tf.zeros([tf.shape(ids)[0], 1])

    return step_fn


def log_softmax(x):
    x = x.astype(np.float64)
    return x - x.max() - np.log(np.exp(x - x.max()).sum())


def penalty(length, alpha):
    return ((5.0 + length) / 6.0) ** alpha


def reference_greedy(table, max_length):
    tokens, score, previous = [], 0.0, BOS
    for t in range(max_length + 1):
        log_probs = log_softmax(table[min(t, STEPS - 1), previous])
        token = EOS if t >= max_length else int(np.argmax(log_probs))
        score += 0.0 if t >= max_length else log_probs[token]
        if token == EOS:
            return tokens, score
        tokens.append(token)
        previous = token
    return tokens, score


def reference_beam(table, max_length, k, alpha):
    # (tokens, cumulative log-prob, finished); the beam starts with one.
    beam = [([], 0.0, False)]
    for t in range(max_length + 1):
        candidates = []
        for parent, (tokens, total, finished) in enumerate(beam):
            if finished or t >= max_length:
                length = len(tokens) + (0 if finished else 1)
                extended = tokens if finished else tokens + [EOS]
                candidates.append(
                    (total / penalty(length, alpha), parent, EOS, extended, total, True)
                )
                continue
            previous = tokens[-1] if tokens else BOS
            log_probs = log_softmax(table[min(t, STEPS - 1), previous])
            for token in range(VOCAB):
                new_total = total + log_probs[token]
                candidates.append(
                    (
                        new_total / penalty(len(tokens) + 1, alpha),
                        parent,
                        token,
                        tokens + [token],
                        new_total,
                        token == EOS,
                    )
                )
        # Best first; ties to the lower parent, then the lower token.
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        beam = [(c[3], c[4], c[5]) for c in candidates[:k]]
        if all(finished for _, _, finished in beam):
            break
    scored = [
        (total / penalty(len(tokens), alpha), tokens) for tokens, total, _ in beam
    ]
    score, tokens = max(scored, key=lambda pair: pair[0])
    return [token for token in tokens if token != EOS], score


def search_with(search, step_fn, max_lengths, **kwargs):
    """`search` of a batch of `len(max_lengths)` sentences by `step_fn`."""
    return search(
        step_fn=step_fn,
        state=tf.zeros([len(max_lengths)], tf.int32),
        constants=(),
        bos_id=BOS,
        eos_id=EOS,
        max_lengths=tf.constant(max_lengths, tf.int32),
        source_length=1,
        **kwargs,
    )


def run(search, table, max_lengths, **kwargs):
    result = search_with(search, step_fn_of(table), max_lengths, **kwargs)
    return {key: value.numpy() for key, value in result.items()}


@pytest.mark.parametrize("shrink", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_greedy_equals_the_reference(seed, shrink):
    table = random_table(seed)
    max_lengths = [1, 4, 7, 11]
    result = run(greedy_search, table, max_lengths, shrink=shrink)
    for row, max_length in enumerate(max_lengths):
        tokens, score = reference_greedy(table, max_length)
        length = result["lengths"][row]
        assert result["ids"][row, :length].tolist() == tokens
        np.testing.assert_allclose(result["scores"][row], score, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nbest", [False, True])
@pytest.mark.parametrize("shrink", [False, True])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beam_size, alpha", [(2, 0.0), (3, 0.6), (5, 1.0), (3, -0.5)])
def test_beam_equals_the_reference(seed, beam_size, alpha, shrink, nbest):
    table = random_table(seed)
    max_lengths = [1, 4, 7, 11]
    result = run(
        beam_search,
        table,
        max_lengths,
        beam_size=beam_size,
        length_penalty=alpha,
        shrink=shrink,
        nbest=nbest,
    )
    for row, max_length in enumerate(max_lengths):
        tokens, score = reference_beam(table, max_length, beam_size, alpha)
        length = result["lengths"][row]
        assert result["ids"][row, :length].tolist() == tokens, (row, max_length)
        np.testing.assert_allclose(result["scores"][row], score, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_shrinking_computes_fewer_rows_for_the_same_result(search):
    table = random_table(0)
    max_lengths = [1, 2, 3, 11, 11, 11]
    computed = {}
    results = {}
    for shrink in (False, True):
        rows = tf.Variable(0)
        step_fn = step_fn_of(table)

        def counting_step(ids, state, constants, group=1, step_fn=step_fn, rows=rows):
            rows.assign_add(tf.shape(ids)[0])
            return step_fn(ids, state, constants, group=group)

        kwargs = {"beam_size": 3} if search is beam_search else {}
        result = search_with(
            search, counting_step, max_lengths, shrink=shrink, **kwargs
        )
        computed[shrink] = int(rows.numpy())
        results[shrink] = {key: value.numpy() for key, value in result.items()}
    assert computed[True] < computed[False]
    for key, value in results[False].items():
        np.testing.assert_allclose(results[True][key], value, rtol=1e-6)


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_a_shrinking_search_steps_at_few_batch_sizes(search):
    # Sentences finishing one step apart: a search that dropped each one as
    # it finished would step at every size from 40 down.
    table = random_table(1)
    table[:, :, EOS] = -10.0  # no EOS but the forced one
    max_lengths = list(range(1, 41))
    k = 3 if search is beam_search else 1
    seen = tf.Variable(tf.zeros([40 * k + 1], tf.bool))
    step_fn = step_fn_of(table)

    def recording_step(ids, state, constants, group=1):
        seen.scatter_nd_update([[tf.shape(ids)[0]]], [True])
        return step_fn(ids, state, constants, group=group)

    kwargs = {"beam_size": k} if k > 1 else {}
    result = search_with(search, recording_step, max_lengths, shrink=True, **kwargs)
    rows = set(np.flatnonzero(seen.numpy()).tolist())
    # (A beam search's first step runs one row a sentence.)
    assert rows <= {40, 40 * k, *(size * k for size in LIVE_SIZES)}, sorted(rows)
    assert rows & set(range(1, 40 * k)), sorted(rows)  # it did shrink
    assert len(rows) <= 12
    expected = run(search, table, max_lengths, shrink=False, **kwargs)
    for key, value in expected.items():
        np.testing.assert_allclose(result[key].numpy(), value, rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, -0.5])
def test_a_settled_sentence_stops_before_its_beam_has_finished(alpha):
    # The reference test above checks the best hypothesis of every case;
    # here, that stopping once it is decided saves steps.
    steps = {}
    for nbest in (False, True):
        counted = tf.Variable(0)
        for seed in range(8):
            step_fn = step_fn_of(random_table(seed))

            def counting_step(ids, state, constants, group=1, step_fn=step_fn):
                counted.assign_add(1)
                return step_fn(ids, state, constants, group=group)

            search_with(
                beam_search, counting_step, [11], beam_size=3,
                length_penalty=alpha, nbest=nbest,
            )
        steps[nbest] = int(counted.numpy())
    assert steps[False] < steps[True]


def test_beam_search_runs_its_first_step_once_a_sentence():
    # The first step's hypotheses are all BOS with the sentence's state, so it
    # runs on one row a sentence; the reference test checks the results.
    calls = []
    step_fn = step_fn_of(random_table(1))

    def recording_step(ids, state, constants, group=1):
        calls.append((ids.numpy().tolist(), state.numpy().tolist()))
        return step_fn(ids, state, constants, group=group)

    search_with(beam_search, recording_step, [5, 5], beam_size=3)
    assert calls[0] == ([BOS, BOS], [0, 0])
    assert len(calls) > 1
    assert all(len(ids) == 2 * 3 for ids, _ in calls[1:])
    assert calls[1][1] == [1] * 6  # every hypothesis went on from the first step


def test_nbest_lists_come_only_with_nbest():
    table = random_table(0)
    kwargs = dict(beam_size=3, length_penalty=0.6)
    assert "nbest_ids" not in run(beam_search, table, [4, 7], **kwargs)
    full = run(beam_search, table, [4, 7], nbest=True, **kwargs)
    assert full["nbest_ids"].shape[:2] == (2, 3)
    np.testing.assert_array_equal(full["nbest_ids"][:, 0], full["ids"])
    np.testing.assert_allclose(full["nbest_scores"][:, 0], full["scores"])


@pytest.mark.parametrize("width", [6, 63, 1000, 3712, 7919, 8000])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_blocked_top_k_equals_top_k(width, k):
    rng = np.random.default_rng(width + k)
    values = rng.normal(size=(40, width)).astype(np.float32)
    values[:, ::3] = np.round(values[:, ::3], 1)  # ties, across blocks too
    values[0] = 0.0  # a row of ties only
    expected_top, expected_indices = tf.math.top_k(values, k)
    # The width known when the graph is traced, and only when it runs (a
    # shortlist's: padded to whole blocks).
    unknown_width = tf.function(
        lambda values: top_k_rows(values, k),
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
    )
    for top, indices in (top_k_rows(tf.constant(values), k), unknown_width(values)):
        np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
        np.testing.assert_array_equal(top.numpy(), expected_top.numpy())


@pytest.mark.parametrize("shrink", [False, True])
def test_a_beams_rows_read_their_sentences_constants_untiled(shrink):
    """Beam search hands `step_fn` the constants one row a sentence and
    `group` (the beam size after the first step) rows of ids a sentence:
    each row's sentence is its constants row `row // group`, also after a
    shrinking search has dropped sentences."""
    table = random_table(2)
    max_lengths = [1, 3, 6, 11, 2]
    k = 3
    step_fn = step_fn_of(table)
    checked = tf.Variable(0)

    def checking_step(ids, state, constants, group=1):
        sentence_of_row = tf.repeat(constants, group)
        # The state carries each row's sentence beside its step count.
        steps, sentences = state[:, 0], state[:, 1]
        with tf.control_dependencies([
            tf.debugging.assert_equal(tf.shape(constants)[0] * group, tf.shape(ids)[0]),
            tf.debugging.assert_equal(sentence_of_row, sentences),
            checked.assign_add(tf.cast(group == k, tf.int32)),
        ]):
            logits, steps, weights = step_fn(ids, steps, ())
        return logits, tf.stack([steps, sentences], axis=1), weights

    sentences = tf.range(len(max_lengths))
    result = beam_search(
        step_fn=checking_step,
        state=tf.stack([tf.zeros_like(sentences), sentences], axis=1),
        constants=sentences,
        bos_id=BOS,
        eos_id=EOS,
        max_lengths=tf.constant(max_lengths, tf.int32),
        source_length=1,
        beam_size=k,
        shrink=shrink,
    )
    assert checked.numpy() > 0
    expected = run(beam_search, table, max_lengths, beam_size=k, shrink=shrink)
    for key, value in expected.items():
        np.testing.assert_allclose(result[key].numpy(), value, rtol=1e-6)
