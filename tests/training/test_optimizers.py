"""`FusedAdam` (one fused kernel per weight) updates weights as Keras' Adam,
its definition, does (clipping, schedules, resuming from the other's
checkpoint); a sparse gradient counts as its dense sum."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config import TrainingConfig
from nlp_lstm.training.optimizers import FusedAdam, build_optimizer, build_schedule

SHAPES = [(40, 6), (6, 8), (8,)]


def gradient_stream(steps: int, seed: int = 0):
    """Per step: a sparse gradient for the (40, 6) embedding-like weight
    (rows repeated, as two towers' rows are) and dense ones for the rest."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        rows = rng.integers(0, 40, 12)
        sparse = tf.IndexedSlices(
            tf.constant(rng.normal(size=(12, 6)), tf.float32),
            tf.constant(np.concatenate([rows[:6], rows[:6]]), tf.int64),
            tf.constant([40, 6], tf.int64),
        )
        dense = [tf.constant(rng.normal(size=s) * 3, tf.float32) for s in SHAPES[1:]]
        yield [sparse] + dense


def initial_weights():
    rng = np.random.default_rng(7)
    return [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]


def densified(grads):
    return [tf.convert_to_tensor(g) for g in grads]


def train(optimizer, steps: int = 6, variables=None, dense: bool = False):
    if variables is None:
        variables = initial_weights()
        optimizer.build(variables)
    apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables)))
    for grads in gradient_stream(steps):
        apply(densified(grads) if dense else grads)
    return variables


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.01},
        {"learning_rate": 0.01, "global_clipnorm": 1.0},
        {"learning_rate": 0.01, "global_clipnorm": 1e9},
        {"learning_rate": 0.01, "clipnorm": 1.0},
        {"learning_rate": 0.01, "clipvalue": 0.5},
        {"learning_rate": 0.01, "amsgrad": True, "global_clipnorm": 1.0},
        {
            "learning_rate": keras.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5),
            "beta_1": 0.8,
            "epsilon": 1e-6,
        },
    ],
)
def test_fused_adam_updates_as_keras_adam(kwargs):
    expected = train(keras.optimizers.Adam(**kwargs), dense=True)
    actual = train(FusedAdam(**kwargs))
    start = train(keras.optimizers.Adam(**kwargs), steps=0)
    for before, want, got in zip(start, expected, actual):
        # The weights moved, and the same way (float32 rounding apart).
        assert np.abs(want.numpy() - before.numpy()).max() > 1e-3
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_sparse_rows_count_once_summed():
    """Keras' Adam squares each row of an `IndexedSlices` before adding
    repeated rows (a word seen twice in a batch), so its second moment is not
    that of the gradient; `FusedAdam` takes the gradient's dense sum, as for
    any other gradient."""
    fused = train(FusedAdam(0.01))
    keras_sparse = train(keras.optimizers.Adam(0.01))
    keras_dense = train(keras.optimizers.Adam(0.01), dense=True)
    assert not np.allclose(keras_sparse[0].numpy(), keras_dense[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(fused[0].numpy(), keras_dense[0].numpy(), atol=1e-6)


def test_fused_adam_resumes_from_a_keras_adam_checkpoint(tmp_path):
    keras_adam = keras.optimizers.Adam(0.01)
    variables = train(keras_adam, steps=3, dense=True)
    path = tf.train.Checkpoint(optimizer=keras_adam, weights=variables).write(
        str(tmp_path / "ckpt")
    )
    expected = train(keras_adam, steps=3, variables=variables, dense=True)

    restored = initial_weights()
    fused = FusedAdam(0.01)
    fused.build(restored)
    tf.train.Checkpoint(optimizer=fused, weights=restored).read(path).assert_consumed()
    assert int(fused.iterations.numpy()) == 3
    actual = train(fused, steps=3, variables=restored)
    for want, got in zip(expected, actual):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_adam_configs_train_with_the_fused_update():
    assert isinstance(build_optimizer(TrainingConfig(optimizer="adam")), FusedAdam)


def test_sgd_config_clips_then_steps_against_the_gradient():
    """`optimizer: sgd` (Lample et al.'s): w <- w - lr * g * min(1, clip / |g|)."""
    optimizer = build_optimizer(
        TrainingConfig(optimizer="sgd", learning_rate=0.1, clip_norm=1.0)
    )
    assert isinstance(optimizer, keras.optimizers.SGD)
    variables = initial_weights()
    before = [v.numpy().copy() for v in variables]
    grads = densified(next(gradient_stream(1)))
    optimizer.build(variables)
    optimizer.apply_gradients(zip(grads, variables))
    norm = np.sqrt(sum(float(np.sum(g.numpy() ** 2)) for g in grads))
    assert norm > 1.0  # the clipping is exercised
    for start, grad, variable in zip(before, grads, variables):
        np.testing.assert_allclose(
            variable.numpy(), start - 0.1 * grad.numpy() / norm, rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("schedule", ["constant", "exponential"])
def test_warmup_ramps_any_schedule_linearly_then_leaves_it(schedule):
    """`warmup_steps` applies to every schedule (it was read by `inverse_sqrt`
    alone): rate(step) = base(step) * min(1, (step + 1) / warmup_steps)."""
    config = TrainingConfig(
        learning_rate=0.002, schedule=schedule, warmup_steps=4,
        decay_steps=10, decay_rate=0.5,
    )
    rate = build_optimizer(config).learning_rate  # the optimizer's, at step 0
    schedule_fn = build_schedule(config)

    def base(step):
        if schedule == "constant":
            return 0.002
        return 0.002 * 0.5 ** (step / 10)

    got = [float(schedule_fn(step)) for step in range(8)]
    want = [base(step) * min(1.0, (step + 1) / 4) for step in range(8)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(float(rate), want[0], rtol=1e-6)
    # Without warm-up the schedule is the plain one.
    plain = build_schedule(dataclasses.replace(config, warmup_steps=0))
    first = float(plain(0)) if callable(plain) else float(plain)
    assert first == pytest.approx(base(0))


def test_warmup_schedule_round_trips_through_its_config():
    config = TrainingConfig(
        learning_rate=0.002, schedule="exponential", warmup_steps=3,
        decay_steps=10, decay_rate=0.5,
    )
    schedule = build_schedule(config)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert type(restored) is type(schedule)
    for step in (0, 2, 5, 30):
        assert float(restored(step)) == pytest.approx(float(schedule(step)))
