"""Optimizers and learning-rate schedules chosen by name in `TrainingConfig`."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nlp_lstm")
class InverseSquareRootSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `learning_rate`, then decay with `1 / sqrt(step)`."""

    def __init__(self, learning_rate: float, warmup_steps: int):
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        warmup = float(max(self.warmup_steps, 1))
        return self.learning_rate * ops.minimum(
            step / warmup, ops.sqrt(warmup) / ops.sqrt(step)
        )

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}


def build_schedule(config):
    if config.schedule == "inverse_sqrt":
        return InverseSquareRootSchedule(config.learning_rate, config.warmup_steps)
    if config.schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, config.decay_steps, config.decay_rate
        )
    return config.learning_rate


class AllReducedGradients:
    """An optimizer (mixin) whose gradients arrive all-reduced already, summed
    over the replicas by `trainer.make_distributed_step`: Keras' own
    per-replica sum in `apply_gradients` is skipped, so that gradient
    clipping sees the global gradient (Keras clips each replica's share
    before it sums them) and each step all-reduces once."""

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


class AllReducedAdam(AllReducedGradients, keras.optimizers.Adam):
    pass


class AllReducedRMSprop(AllReducedGradients, keras.optimizers.RMSprop):
    pass


OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
ALL_REDUCED = {"adam": AllReducedAdam, "rmsprop": AllReducedRMSprop}


def build_optimizer(config) -> keras.optimizers.Optimizer:
    """The optimizer of a `TrainingConfig`, clipping gradients by global norm
    (for `training.distribution` other than `none`, one that takes
    all-reduced gradients: `AllReducedGradients`). With `ema_decay` it keeps
    a moving average of the weights (Keras' `use_ema`; see
    `trainer.averaged`)."""
    kwargs = {"learning_rate": build_schedule(config)}
    if config.ema_decay:
        kwargs.update(use_ema=True, ema_momentum=config.ema_decay)
    if config.clip_norm:
        kwargs["global_clipnorm"] = config.clip_norm
    distributed = getattr(config, "distribution", "none") != "none"
    return (ALL_REDUCED if distributed else OPTIMIZERS)[config.optimizer](**kwargs)
