"""Optimizers and learning-rate schedules chosen by name in `TrainingConfig`."""

from __future__ import annotations

import keras
import tensorflow as tf
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


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule`'s rate (a schedule or a number) scaled by `(step + 1) /
    warmup_steps` over the first `warmup_steps` steps, then as it is (the
    schedule itself counts from step 0: an exponential decay goes on decaying
    during the warm-up). `InverseSquareRootSchedule` keeps its own warm-up
    (its checkpoints name that class)."""

    def __init__(self, schedule, warmup_steps: int):
        self.schedule = schedule
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        rate = self.schedule(step) if callable(self.schedule) else self.schedule
        step = ops.cast(step, "float32") + 1.0
        return rate * ops.minimum(step / float(max(self.warmup_steps, 1)), 1.0)

    def get_config(self):
        schedule = self.schedule
        if callable(schedule):
            schedule = keras.optimizers.schedules.serialize(schedule)
        return {"schedule": schedule, "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["schedule"], dict):
            config["schedule"] = keras.optimizers.schedules.deserialize(
                config["schedule"]
            )
        return cls(**config)


def build_schedule(config):
    """The learning rate of a `TrainingConfig`: `warmup_steps` of linear
    warm-up (built into `inverse_sqrt`, `LinearWarmup` around the others)."""
    if config.schedule == "inverse_sqrt":
        return InverseSquareRootSchedule(config.learning_rate, config.warmup_steps)
    schedule = config.learning_rate
    if config.schedule == "exponential":
        schedule = keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, config.decay_steps, config.decay_rate
        )
    if config.warmup_steps:
        schedule = LinearWarmup(schedule, config.warmup_steps)
    return schedule


def summed_rows(gradient: tf.IndexedSlices) -> tf.IndexedSlices:
    """`gradient` with each row once: repeated rows (a word seen twice in a
    batch, or by two towers) added. Its rows are then those of its dense sum,
    so norms can be taken over them."""
    rows, positions = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(
        gradient.values, positions, tf.shape(rows)[0]
    )
    return tf.IndexedSlices(values, rows, gradient.dense_shape)


def clip_by_global_norm(grads, clip_norm: float) -> list:
    """Keras' `clip_by_global_norm` (same scale, NaN for a non-finite norm),
    with sparse gradients (`summed_rows`) kept sparse: their squares and the
    scaling read their rows, not a dense tensor as large as the weight (the
    three passes over a tagger's word embeddings were about a tenth of its
    step's single-threaded tail)."""
    def values(g):
        return g.values if isinstance(g, tf.IndexedSlices) else g

    squares = [ops.sum(ops.square(values(g))) for g in grads if g is not None]
    norm = ops.sqrt(ops.sum(ops.stack(squares)))
    scale = clip_norm * ops.minimum(1.0 / norm, 1.0 / clip_norm) + (norm - norm)

    def scaled(g):
        if isinstance(g, tf.IndexedSlices):
            return tf.IndexedSlices(g.values * scale, g.indices, g.dense_shape)
        return g * scale

    return [None if g is None else scaled(g) for g in grads]


@keras.saving.register_keras_serializable(package="nlp_lstm")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose update of each weight is one fused kernel
    (`ResourceApplyAdam`: the same formulas, `m`, `v` and the weight updated
    in one pass over memory) instead of about ten element-wise ops, each a
    pass over the weight; a tagger's word embeddings, read ten times a step,
    made the update an eighth of its training step. Same variables, so
    checkpoints of either class restore into the other; `amsgrad` falls back
    to Keras' update. A sparse gradient (`IndexedSlices`, an embedding's) is
    taken as its dense sum, as every other gradient is; Keras' Adam squares
    each of its rows before repeated rows (a word seen twice in a batch) are
    added. Global-norm clipping reads a sparse gradient's rows only
    (`clip_by_global_norm`). The tests check it against
    `keras.optimizers.Adam` given dense gradients."""

    def apply(self, grads, trainable_variables=None):
        # Sparse gradients (embeddings) with each row once: their dense sum,
        # for the clipping norm too (Keras would square each repeated row on
        # its own); made dense in `update_step`.
        grads = [
            summed_rows(g) if isinstance(g, tf.IndexedSlices) else g for g in grads
        ]
        return super().apply(grads, trainable_variables)

    def _clip_gradients(self, grads):
        if self.global_clipnorm and not self.clipnorm:
            return clip_by_global_norm(grads, self.global_clipnorm)
        return super()._clip_gradients(
            [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
             for g in grads]
        )

    def update_step(self, gradient, variable, learning_rate):
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=ops.power(beta_1, step),
            beta2_power=ops.power(beta_2, step),
            lr=ops.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=ops.cast(self.epsilon, dtype),
            grad=ops.cast(gradient, dtype),
        )


class AllReducedGradients:
    """An optimizer (mixin) whose gradients arrive all-reduced already, summed
    over the replicas by `trainer.make_distributed_step`: Keras' own
    per-replica sum in `apply_gradients` is skipped, so that gradient
    clipping sees the global gradient (Keras clips each replica's share
    before it sums them) and each step all-reduces once."""

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


class AllReducedAdam(AllReducedGradients, FusedAdam):
    pass


class AllReducedRMSprop(AllReducedGradients, keras.optimizers.RMSprop):
    pass


class AllReducedSGD(AllReducedGradients, keras.optimizers.SGD):
    pass


# `sgd` is plain stochastic gradient descent (no momentum), the optimizer of
# Lample et al. 2016's BiLSTM-CRF (learning rate 0.01, clipping 5, one
# sentence a step).
OPTIMIZERS = {
    "adam": FusedAdam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}
ALL_REDUCED = {
    "adam": AllReducedAdam,
    "rmsprop": AllReducedRMSprop,
    "sgd": AllReducedSGD,
}


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
