import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.training.losses import (
    log_uniform_draws,
    log_uniform_probabilities,
    masked_cross_entropy,
    sampled_cross_entropy,
    smoothed_cross_entropy,
    translator_loss,
    translator_training_loss,
)
from tests.benchmarking.test_benchmarks import tiny_translator


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


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_smoothed_cross_entropy_matches_the_dense_target_kernel(smoothing):
    """Values and gradients equal `tf.nn.softmax_cross_entropy_with_logits`
    given the smoothed one-hot targets (its definition), under a non-uniform
    upstream gradient, with logits far apart."""
    rng = np.random.default_rng(2)
    logits = tf.constant(rng.normal(size=(4, 6, 50)) * 20, tf.float32)
    labels = tf.constant(rng.integers(0, 50, size=(4, 6)))
    upstream = tf.constant(rng.uniform(0.5, 2.0, size=(4, 6)), tf.float32)
    targets = tf.one_hot(
        labels, 50, on_value=1.0 - smoothing + smoothing / 50, off_value=smoothing / 50
    )
    results = []
    for fn in (
        lambda z: smoothed_cross_entropy(labels, z, smoothing),
        lambda z: tf.nn.softmax_cross_entropy_with_logits(targets, z),
    ):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            losses = fn(logits)
            total = tf.reduce_sum(losses * upstream)
        results.append((losses.numpy(), tape.gradient(total, logits).numpy()))
    (losses, gradient), (expected_losses, expected_gradient) = results
    assert losses.shape == (4, 6)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gradient, expected_gradient, atol=1e-6)
    assert np.abs(expected_gradient).max() > 0.1


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_translator_loss_scores_real_positions_as_the_full_logits_would(smoothing):
    """The loss projects only the real target positions: its value and every
    gradient equal the masked loss of the whole `(batch, time, vocab)`
    logits that `model(...)` returns."""
    model = tiny_translator()
    source = tf.constant([[3, 4, 5, 2], [6, 2, 0, 0], [7, 8, 2, 0]])
    target_in = tf.constant([[1, 3, 4, 9], [1, 5, 0, 0], [1, 0, 0, 0]])
    target_out = tf.constant([[3, 4, 9, 2], [5, 2, 0, 0], [2, 0, 0, 0]])
    batch = ((source, target_in), target_out)
    model(batch[0])
    results = []
    for loss_fn in (
        translator_loss(smoothing),
        lambda m, b, training: masked_cross_entropy(
            b[1], m(b[0], training=training), label_smoothing=smoothing
        ),
    ):
        with tf.GradientTape() as tape:
            loss, tokens = loss_fn(model, batch, False)
        gradients = tape.gradient(loss, model.trainable_variables)
        results.append((loss, tokens, gradients))
    (loss, tokens, gradients), (full_loss, full_tokens, full_gradients) = results
    # What the loss projected: the 7 real positions, not the 12 of the batch.
    projected = []
    logits = model.logits
    model.logits = lambda outputs: projected.append(outputs.shape) or logits(outputs)
    translator_loss(smoothing)(model, batch, False)
    assert [tuple(shape) for shape in projected] == [(7, 5)]
    assert float(tokens) == float(full_tokens) == 7
    np.testing.assert_allclose(float(loss), float(full_loss), rtol=1e-6)
    assert len(gradients) == len(full_gradients) > 0
    for variable, mine, full in zip(model.trainable_variables, gradients,
                                    full_gradients, strict=True):
        np.testing.assert_allclose(
            tf.convert_to_tensor(mine).numpy(), tf.convert_to_tensor(full).numpy(),
            rtol=1e-5, atol=1e-7, err_msg=variable.path,
        )


def translator_batch():
    source = tf.constant([[3, 4, 5, 2], [6, 2, 0, 0], [7, 8, 2, 0]])
    target_in = tf.constant([[1, 3, 4, 9], [1, 5, 0, 0], [1, 0, 0, 0]])
    target_out = tf.constant([[3, 4, 9, 2], [5, 2, 0, 0], [2, 0, 0, 0]])
    return (source, target_in), target_out


def untied_translator():
    from nlp_lstm import config as config_lib
    from nlp_lstm.models.translator import build_translator

    return build_translator(
        config_lib.TranslatorModelConfig(
            embedding_dim=4, share_embeddings=False, tie_output=False,
            encoder=config_lib.EncoderConfig(num_layers=1, units=3, dropout=0.0),
            decoder=config_lib.DecoderConfig(num_layers=1, units=5, dropout=0.0),
        ),
        11, 13,
    )


def loss_and_gradients(model, loss_fn, batch, training):
    with tf.GradientTape() as tape:
        loss, tokens = loss_fn(model, batch, training)
    gradients = tape.gradient(loss, model.trainable_variables)
    return loss, tokens, [tf.convert_to_tensor(g).numpy() for g in gradients]


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_a_sampled_softmax_drawing_every_column_is_the_whole_softmax(tied, smoothing):
    """With so many draws that every piece is drawn, each with chance 1, the
    sampled loss and all its gradients are the whole vocabulary's (tied
    output with a pre-projection, and an untied kernel)."""
    model = tiny_translator() if tied else untied_translator()
    batch = translator_batch()
    model(batch[0])
    loss, tokens, gradients = loss_and_gradients(
        model, translator_loss(smoothing, 100_000), batch, True
    )
    full_loss, full_tokens, full_gradients = loss_and_gradients(
        model, translator_loss(smoothing), batch, True
    )
    assert float(tokens) == float(full_tokens) == 7
    np.testing.assert_allclose(float(loss), float(full_loss), rtol=1e-5)
    for variable, mine, full in zip(model.trainable_variables, gradients,
                                    full_gradients, strict=True):
        np.testing.assert_allclose(mine, full, rtol=1e-4, atol=1e-6,
                                   err_msg=variable.path)


def test_a_sampled_softmax_scores_validation_on_the_whole_vocabulary():
    """Not training, the loss is the whole vocabulary's; training with few
    draws, it is an estimate (another value), which still reaches the
    embeddings."""
    model = tiny_translator()
    batch = translator_batch()
    model(batch[0])
    sampled = translator_loss(0.1, 2)
    full_loss = float(translator_loss(0.1)(model, batch, False)[0])
    assert float(sampled(model, batch, False)[0]) == full_loss
    loss, _, gradients = loss_and_gradients(model, sampled, batch, True)
    assert np.isfinite(float(loss)) and abs(float(loss) - full_loss) > 1e-4
    embedding = [v.path for v in model.trainable_variables].index(
        model.source_embedding.embeddings.path
    )
    assert np.abs(gradients[embedding]).sum() > 0


def test_the_training_loss_is_the_one_the_config_asks_for():
    """`translator_training_loss` (what the pipeline and the benchmarks train
    with) honours `label_smoothing` and `sampled_softmax`."""
    from nlp_lstm.config import TrainingConfig

    model = tiny_translator()
    batch = translator_batch()
    model(batch[0])

    def training_loss(loss_fn):
        return float(loss_fn(model, batch, True)[0])

    for smoothing, samples in ((0.0, 0), (0.1, 0), (0.1, 2)):
        config = TrainingConfig(label_smoothing=smoothing, sampled_softmax=samples)
        assert training_loss(translator_training_loss(config)) == training_loss(
            translator_loss(smoothing, samples)
        )
    values = {
        training_loss(translator_training_loss(TrainingConfig(label_smoothing=e,
                                                              sampled_softmax=k)))
        for e, k in ((0.0, 0), (0.1, 0), (0.1, 2))
    }
    assert len(values) == 3


def test_log_uniform_draws_follow_their_probabilities():
    vocab = 40
    draws = log_uniform_draws(200_000, vocab, tf.constant([3, 4])).numpy()
    assert draws.min() >= 0 and draws.max() < vocab
    frequencies = np.bincount(draws, minlength=vocab) / draws.size
    probabilities = log_uniform_probabilities(tf.range(vocab), vocab).numpy()
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(frequencies, probabilities, atol=3e-3)
    # Another seed, other draws.
    other = log_uniform_draws(1_000, vocab, tf.constant([3, 5])).numpy()
    assert not np.array_equal(other, draws[:1_000])


def test_the_sampled_normalizer_is_unbiased():
    """The sum of `exp(logit)` over the columns, drawn ones weighted by
    their chance, averages the whole vocabulary's over many draws: each
    token's estimate `exp(loss + label logit)` (no smoothing) is within 2%
    of the exact sum. Unweighted, it would fall short by far."""
    rng = np.random.default_rng(5)
    vocab, samples, tokens = 60, 12, 4
    logits = tf.constant(rng.normal(size=(tokens, vocab)) * 1.5, tf.float32)
    labels = tf.constant([0, 1, 0, 2])

    def columns(ids):
        return tf.gather(logits, ids, axis=1), tf.reduce_mean(logits, axis=1)

    label_logits = tf.gather(logits, labels, batch_dims=1)
    estimates = np.mean([
        np.exp(sampled_cross_entropy(
            labels, columns, vocab, samples, seed=tf.constant([seed, 7])
        ) + label_logits)
        for seed in range(3_000)
    ], axis=0)
    exact = np.exp(logits.numpy()).sum(axis=1)
    np.testing.assert_allclose(estimates, exact, rtol=0.02)
    labels_only = np.exp(logits.numpy()[:, :3]).sum(axis=1)
    assert np.all(labels_only < 0.5 * exact)


def test_a_sampled_softmax_that_stops_early_gives_two_loss_phases():
    """With `sampled_softmax_until` below 1, the config's training loss is
    the trainer's phases: the sampled softmax from step 0, the whole
    vocabulary from that share of the steps on."""
    from nlp_lstm.config import TrainingConfig
    from nlp_lstm.training.trainer import loss_phases

    model = tiny_translator()
    batch = translator_batch()
    model(batch[0])

    def training_loss(loss_fn):
        return float(loss_fn(model, batch, True)[0])

    whole, sampled = translator_loss(0.1), translator_loss(0.1, 2)
    config = TrainingConfig(sampled_softmax=2, sampled_softmax_until=0.75, steps=100)
    phases = loss_phases(translator_training_loss(config))
    assert [first for first, _ in phases] == [0, 75]
    assert training_loss(phases[0][1]) == training_loss(sampled)
    assert training_loss(phases[1][1]) == training_loss(whole)
    assert training_loss(whole) != training_loss(sampled)
    # Every step sampled, no step sampled, no sampled softmax: one loss.
    cases = ((1.0, 2, sampled), (0.0, 2, whole), (0.5, 0, whole))
    for until, samples, expected in cases:
        config = TrainingConfig(
            sampled_softmax=samples, sampled_softmax_until=until, steps=100
        )
        loss_fn = translator_training_loss(config)
        assert callable(loss_fn)
        assert training_loss(loss_fn) == training_loss(expected)
    # The benchmarks time the first phase's step (`training_step.py`,
    # `profile_training.py`, `distribution.py`).
    from nlp_lstm.benchmarking.training import translator_step_loss

    config = TrainingConfig(sampled_softmax=2, sampled_softmax_until=0.75, steps=100)
    assert training_loss(translator_step_loss(config)) == training_loss(sampled)
