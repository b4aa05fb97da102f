"""CRF against brute force over all tag paths, masking invariants, serialization."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.layers.crf import CRF
from nlp_lstm.text.tags import allowed_transitions
from tests.test_case import TestCase

CHECKS = TestCase()


NUM_TAGS = 3
TIME = 4


def make_crf(use_start_end=True, constrained=False, seed=0):
    kwargs = {}
    if constrained:
        kwargs = {
            "allowed_transitions": [[True, True, False], [True, True, True],
                                    [True, False, True]],
            "allowed_start": [True, True, False],
            "allowed_end": [True, False, True],
        }
    crf = CRF(NUM_TAGS, use_start_end=use_start_end, **kwargs)
    crf.build()
    rng = np.random.default_rng(seed)
    crf.transitions.assign(rng.normal(size=(NUM_TAGS, NUM_TAGS)).astype("float32"))
    if use_start_end:
        crf.start_transitions.assign(rng.normal(size=NUM_TAGS).astype("float32"))
        crf.end_transitions.assign(rng.normal(size=NUM_TAGS).astype("float32"))
    return crf


def brute_force(crf, potentials, length):
    """Scores of every tag path of one sentence, from the raw weights."""
    transitions = crf.transitions.numpy()
    start = crf.start_transitions.numpy() if crf.use_start_end else np.zeros(NUM_TAGS)
    end = crf.end_transitions.numpy() if crf.use_start_end else np.zeros(NUM_TAGS)
    allowed = np.ones((NUM_TAGS, NUM_TAGS), bool)
    allowed_start = allowed_end = np.ones(NUM_TAGS, bool)
    if crf.allowed_transitions is not None:
        allowed = np.array(crf.allowed_transitions)
        allowed_start = np.array(crf.allowed_start)
        allowed_end = np.array(crf.allowed_end)
    scores = {}
    for path in itertools.product(range(NUM_TAGS), repeat=length):
        valid = allowed_start[path[0]] and allowed_end[path[-1]] and all(
            allowed[a, b] for a, b in zip(path, path[1:])
        )
        if not valid:
            continue
        score = start[path[0]] + end[path[-1]]
        score += sum(potentials[t, tag] for t, tag in enumerate(path))
        score += sum(transitions[a, b] for a, b in zip(path, path[1:]))
        scores[path] = score
    return scores


def inputs(lengths, seed=1):
    rng = np.random.default_rng(seed)
    potentials = rng.normal(size=(len(lengths), TIME, NUM_TAGS)).astype("float32")
    mask = np.arange(TIME)[None] < np.array(lengths)[:, None]
    return potentials, mask


@pytest.mark.parametrize("use_start_end", [True, False])
@pytest.mark.parametrize("constrained", [False, True])
def test_log_likelihood_and_viterbi_match_brute_force(use_start_end, constrained):
    crf = make_crf(use_start_end, constrained)
    lengths = [4, 3, 2, 1]
    potentials, mask = inputs(lengths)
    log_z = crf.log_partition(potentials, mask).numpy()
    paths, best = crf.decode(potentials, mask)
    paths, best = paths.numpy(), best.numpy()
    gold = np.zeros((len(lengths), TIME), np.int32)
    expected_ll = []
    for row, length in enumerate(lengths):
        scores = brute_force(crf, potentials[row], length)
        values = np.array(list(scores.values()))
        np.testing.assert_allclose(log_z[row], np.logaddexp.reduce(values), rtol=1e-5)
        argmax = max(scores, key=scores.get)
        assert tuple(paths[row, :length]) == argmax
        assert (paths[row, length:] == 0).all()
        np.testing.assert_allclose(best[row], scores[argmax], rtol=1e-5)
        # The gold path: the brute-force second best, to test a non-optimal path.
        ranked = sorted(scores, key=scores.get, reverse=True)
        path = ranked[1] if len(ranked) > 1 else ranked[0]
        gold[row, :length] = path
        expected_ll.append(scores[path] - np.logaddexp.reduce(values))
    log_likelihood = crf.log_likelihood(potentials, gold, mask).numpy()
    np.testing.assert_allclose(log_likelihood, expected_ll, rtol=1e-5, atol=1e-5)


def test_padding_values_do_not_matter():
    crf = make_crf()
    lengths = [4, 2, 1]
    potentials, mask = inputs(lengths)
    tags = np.array([[0, 1, 2, 1], [2, 2, 0, 0], [1, 0, 0, 0]])
    noisy = potentials.copy()
    noisy[~mask] = 100.0
    noisy_tags = np.where(mask, tags, 2)
    np.testing.assert_allclose(
        crf.log_likelihood(potentials, tags, mask),
        crf.log_likelihood(noisy, noisy_tags, mask), rtol=1e-6,
    )
    np.testing.assert_array_equal(
        crf.decode(potentials, mask)[0], crf.decode(noisy, mask)[0]
    )


def test_extra_padding_changes_nothing_and_unmasked_equals_full_mask():
    crf = make_crf()
    potentials, mask = inputs([4, 2])
    padded = np.concatenate([potentials, np.ones((2, 3, NUM_TAGS), "float32")], 1)
    padded_mask = np.concatenate([mask, np.zeros((2, 3), bool)], 1)
    np.testing.assert_allclose(
        crf.log_partition(potentials, mask), crf.log_partition(padded, padded_mask),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        crf.decode(potentials, mask)[0], crf.decode(padded, padded_mask)[0][:, :TIME]
    )
    full = np.ones((2, TIME), bool)
    np.testing.assert_allclose(
        crf.log_partition(potentials), crf.log_partition(potentials, full)
    )


def test_empty_sentences_score_zero():
    crf = make_crf()
    potentials, _ = inputs([0, 0])
    mask = np.zeros((2, TIME), bool)
    np.testing.assert_array_equal(crf.log_partition(potentials, mask), [0.0, 0.0])
    np.testing.assert_array_equal(crf.decode(potentials, mask)[0], np.zeros((2, TIME)))
    tags = np.zeros((2, TIME), np.int32)
    np.testing.assert_array_equal(crf.log_likelihood(potentials, tags, mask), [0, 0])


def test_bio_constraints_forbid_invalid_paths():
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    transitions, start, end = allowed_transitions(tags, "iob2")
    crf = CRF(len(tags), allowed_transitions=transitions.tolist(),
              allowed_start=start.tolist(), allowed_end=end.tolist())
    crf.build()
    # Scores that prefer I-PER after O and I-LOC after B-PER.
    potentials = np.zeros((1, 4, len(tags)), "float32")
    potentials[0, :, 2] = 5.0
    potentials[0, 2, 4] = 9.0
    path = crf(potentials).numpy()[0].tolist()
    for previous, current in zip(path, path[1:]):
        assert transitions[previous, current], (path, tags)
    assert start[path[0]]
    unconstrained = CRF(len(tags))
    unconstrained.build()
    unconstrained.transitions.assign(np.zeros((5, 5), "float32"))
    assert unconstrained(potentials).numpy()[0].tolist() == [2, 2, 4, 2]


def test_gradients_are_finite():
    crf = make_crf(constrained=True)
    potentials, mask = inputs([4, 1])
    potentials = tf.constant(potentials)
    tags = tf.constant([[0, 1, 1, 0], [0, 0, 0, 0]])
    with tf.GradientTape() as tape:
        tape.watch(potentials)
        loss = -tf.reduce_sum(crf.log_likelihood(potentials, tags, mask))
    gradients = tape.gradient(loss, [potentials] + crf.trainable_variables)
    for gradient in gradients:
        assert np.isfinite(gradient.numpy()).all()
    # Gradients on padding are zero.
    assert np.abs(gradients[0].numpy()[1, 1:]).max() == 0.0


def test_serialization_round_trip():
    crf = make_crf(constrained=True)
    potentials, mask = inputs([4, 3, 1])

    def call(layer):
        return (
            layer.decode(potentials, mask)[0],
            layer.log_partition(potentials, mask),
        )

    rebuilt = CHECKS.run_serialization_test(crf, lambda layer, _: call(layer), None)
    assert rebuilt.allowed_start == [True, True, False]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_tags must be a positive integer, got 0"):
        CRF(0)
    with pytest.raises(ValueError, match="must have shape"):
        CRF(2, allowed_transitions=[[True]])


def test_one_step_batches_in_a_graph():
    crf = make_crf(constrained=True)
    potentials, mask = inputs([1, 0])
    signature = [
        tf.TensorSpec([None, None, NUM_TAGS]), tf.TensorSpec([None, None], tf.bool)
    ]

    @tf.function(input_signature=signature)
    def run(potentials, mask):
        return crf.decode(potentials, mask), crf.log_partition(potentials, mask)

    (path, best), log_z = run(potentials[:, :1], mask[:, :1])
    scores = brute_force(crf, potentials[0], 1)
    assert path.numpy().tolist() == [[max(scores, key=scores.get)[0]], [0]]
    np.testing.assert_allclose(log_z[0], np.logaddexp.reduce(list(scores.values())),
                               rtol=1e-5)
    assert log_z[1] == 0.0 and best[1] == 0.0
