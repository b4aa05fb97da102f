"""Attention scores over an encoder memory: Luong dot, Luong general, Bahdanau.

Each layer splits its work in two: `prepare(memory)` computes the keys once per
source batch, and `call(query, keys, memory, mask)` scores one decoder step
(`query` of shape `(batch, units)`) or all steps at once (`(batch, time, units)`).

Reference:
    Luong et al. 2015, Effective Approaches to Attention-based Neural Machine
    Translation. Bahdanau et al. 2015, Neural Machine Translation by Jointly
    Learning to Align and Translate.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from nlp_lstm.layers.linear import dense
from nlp_lstm.utils.arguments import check_positive_int

# Added to the scores of padded memory positions; finite, so that softmax stays
# defined even for a row that is all padding.
MASK_SCORE = -1e9


class Attention(keras.layers.Layer):
    """Base class: subclasses define `prepare` and `score`."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        self.units = units
        self.supports_masking = True

    def prepare(self, memory):
        """Keys computed once from the memory `(batch, source_time, memory_dim)`."""
        return memory

    def score(self, query, keys):
        """Scores `(batch, [time,] source_time)` for query `(batch, [time,] units)`."""
        raise NotImplementedError

    def call(self, query, keys, memory, mask=None):
        """Returns `(context, weights)` for one step or for all steps of `query`."""
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (batch, 1, units)
        scores = self.score(query, keys)  # (batch, time, source_time)
        if mask is not None:
            scores = ops.where(ops.expand_dims(mask, 1), scores, MASK_SCORE)
        weights = ops.softmax(scores, axis=-1)
        context = ops.matmul(weights, memory)  # (batch, time, memory_dim)
        if single_step:
            return context[:, 0], weights[:, 0]
        return context, weights

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LuongDotAttention(Attention):
    """Luong dot score `q . m`; the memory width must equal `units`."""

    def build(self, memory_shape):
        if memory_shape[-1] is not None and memory_shape[-1] != self.units:
            raise ValueError(
                "luong_dot attention needs the encoder output width "
                f"({memory_shape[-1]}) to equal the decoder units ({self.units}); "
                "use luong_general or bahdanau instead"
            )
        self.built = True

    def score(self, query, keys):
        # A batched matmul by the keys as they are (no transpose per step).
        return tf.matmul(query, keys, transpose_b=True)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LuongGeneralAttention(Attention):
    """Luong general score `q . W m`."""

    def build(self, memory_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(memory_shape[-1], self.units),
            initializer="glorot_uniform",
        )
        self.built = True

    def prepare(self, memory):
        return dense(memory, self.kernel)  # (batch, source_time, units)

    def score(self, query, keys):
        # A batched matmul by the keys as they are (no transpose per step).
        return tf.matmul(query, keys, transpose_b=True)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class BahdanauAttention(Attention):
    """Bahdanau additive score `v . tanh(W_q q + W_k m)`."""

    def build(self, memory_shape):
        self.memory_kernel = self.add_weight(
            name="memory_kernel",
            shape=(memory_shape[-1], self.units),
            initializer="glorot_uniform",
        )
        self.query_kernel = self.add_weight(
            name="query_kernel",
            shape=(self.units, self.units),
            initializer="glorot_uniform",
        )
        self.vector = self.add_weight(
            name="vector", shape=(self.units,), initializer="glorot_uniform"
        )
        self.built = True

    def prepare(self, memory):
        return dense(memory, self.memory_kernel)  # (batch, source_time, units)

    def score(self, query, keys):
        projected = ops.matmul(query, self.query_kernel)  # (batch, time, units)
        # (batch, time, source_time, units)
        hidden = ops.tanh(ops.expand_dims(projected, 2) + ops.expand_dims(keys, 1))
        return ops.sum(hidden * self.vector, axis=-1)


ATTENTIONS = {
    "luong_dot": LuongDotAttention,
    "luong_general": LuongGeneralAttention,
    "bahdanau": BahdanauAttention,
}


def get(kind: str, units: int, **kwargs) -> Attention:
    """Builds an attention layer by its registry name."""
    if kind not in ATTENTIONS:
        raise ValueError(f"attention must be one of {sorted(ATTENTIONS)}, got {kind!r}")
    return ATTENTIONS[kind](units, **kwargs)
