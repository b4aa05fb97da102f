"""Loss phases (`trainer.loss_phases`): each step trains with the phase that
has begun, a resumed run included."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.training import trainer
from nlp_lstm.training.optimizers import build_optimizer

# Phase two's loss is phase one's plus this: the logged losses tell them apart.
OFFSET = 100.0


def _train(run_dir, steps, phases):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    rng = np.random.default_rng(0)
    dataset = tf.data.Dataset.from_tensor_slices(
        rng.normal(size=(8, 4, 3)).astype("float32")
    ).repeat()

    def first(model, batch, training):
        return tf.reduce_mean(tf.square(model(batch) - 1.0)), 4.0

    def second(model, batch, training):
        loss, tokens = first(model, batch, training)
        return loss + OFFSET, tokens

    losses = {"first": first, "second": second}
    loss_fn = [(step, losses[name]) for step, name in phases]
    config = config_lib.TrainingConfig(
        steps=steps, eval_every=1, checkpoint_every=1, learning_rate=0.01,
        early_stopping_metric="none",
    )
    result = trainer.train(
        model, build_optimizer(config), loss_fn, dataset, lambda model: {}, config,
        str(run_dir), verbose=0,
    )
    return [(h["step"], h["train_loss"] >= OFFSET) for h in result.history]


def test_each_step_trains_with_the_phase_that_has_begun(tmp_path):
    # The second phase begins after 3 steps: it trains steps 4 to 6.
    history = _train(tmp_path / "run", 6, [(0, "first"), (3, "second")])
    assert history == [(1, False), (2, False), (3, False),
                       (4, True), (5, True), (6, True)]


def test_a_resumed_run_goes_on_in_its_phase(tmp_path):
    run = tmp_path / "run"
    assert _train(run, 2, [(0, "first"), (3, "second")]) == [(1, False), (2, False)]
    # Resumed from step 2: one more step of the first phase, then the second.
    history = _train(run, 5, [(0, "first"), (3, "second")])
    assert history[2:] == [(3, False), (4, True), (5, True)]
    # Resumed inside the second phase, it trains with it from the first step.
    history = _train(run, 6, [(0, "first"), (3, "second")])
    assert history[-1] == (6, True)


def test_phases_begin_at_step_zero():
    with pytest.raises(ValueError, match="begin with one at step 0"):
        trainer.loss_phases([(5, lambda model, batch, training: (0.0, 1.0))])
    loss_fn = lambda model, batch, training: (0.0, 1.0)  # noqa: E731
    assert trainer.loss_phases(loss_fn) == [(0, loss_fn)]
