"""`training.ema_decay`: validation, the best weights and the trained model
use the moving average of the weights, and training goes on from the weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.training import trainer
from nlp_lstm.training.optimizers import build_optimizer

STEPS = 6
DECAY = 0.7
# Validation losses by evaluation: the best is the third.
VAL_LOSSES = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7]


def _train(tmp_path, name, ema_decay, monitor="val_loss"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(4, 3)).astype("float32") for _ in range(STEPS)]
    dataset = tf.data.Dataset.from_tensor_slices(np.stack(batches))

    def loss_fn(model, batch, training):
        return tf.reduce_mean(tf.square(model(batch) - 1.0)), 4.0

    seen = []

    def evaluate_fn(model):
        seen.append([w.numpy().copy() for w in model.trainable_variables])
        return {"val_loss": VAL_LOSSES[len(seen) - 1]}

    config = config_lib.TrainingConfig(
        steps=STEPS, eval_every=1, checkpoint_every=100, learning_rate=0.1,
        ema_decay=ema_decay, early_stopping_metric=monitor, patience=10,
    )
    trainer.train(model, build_optimizer(config), loss_fn, dataset, evaluate_fn,
                  config, str(tmp_path / name), verbose=0)
    return seen, [w.numpy() for w in model.trainable_variables]


def _moving_averages(trajectory):
    averages, average = [], None
    for weights in trajectory:
        average = [w.copy() for w in weights] if average is None else [
            DECAY * a + (1 - DECAY) * w for a, w in zip(average, weights)
        ]
        averages.append(average)
    return averages


def test_validation_the_best_and_the_final_weights_use_the_average(tmp_path):
    # Without averaging, validation sees the weights after each step.
    trajectory, _ = _train(tmp_path, "plain", 0.0)
    expected = _moving_averages(trajectory)
    seen, final = _train(tmp_path, "averaged", DECAY)
    assert len(seen) == STEPS
    for step, (got, want) in enumerate(zip(seen, expected)):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"{step}")
    # The averages differ from the weights (training went on from the latter).
    assert not np.allclose(seen[-1][0], trajectory[-1][0], atol=1e-4)
    # The best evaluation was the third: the model ends with its averages.
    for got, want in zip(final, expected[2]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Without validation, the model ends with the last average.
    _, final = _train(tmp_path, "unvalidated", DECAY, monitor="none")
    for got, want in zip(final, expected[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_decay_must_be_below_one():
    with pytest.raises(config_lib.ConfigError, match="ema_decay must be between"):
        config_lib.from_dict(config_lib.TrainingConfig, {"ema_decay": 1.0})
