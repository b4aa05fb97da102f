"""A linear-chain conditional random field in plain TensorFlow ops.

Reference:
    Lafferty, McCallum and Pereira 2001, "Conditional Random Fields";
    Lample et al. 2016, "Neural Architectures for Named Entity Recognition".
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm.utils.arguments import check_positive_int

# Added to the score of a forbidden transition: exp(-1e4) is 0 in float32.
FORBIDDEN = -1e4


def _as_mask(values, shape, name: str):
    if values is None:
        return None
    array = np.asarray(values, dtype=bool)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return array


@keras.saving.register_keras_serializable(package="nlp_lstm")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over per-token tag scores (potentials).

    The score of a tag path `y` of a sentence of length `n` is
    `start[y_0] + sum_t potentials[t, y_t] + sum_t transitions[y_{t-1}, y_t]
    + end[y_{n-1}]`. The layer holds the transition weights and computes the
    negative log-likelihood of gold paths (forward algorithm) and the best
    path (Viterbi), both on dense padded tensors with a mask; padding must be
    at the end of each row.

    Args:
        num_tags: int. Number of tags.
        use_start_end: bool. Learn start and end transition scores.
        allowed_transitions: optional bool nested list `(num_tags, num_tags)`;
            False forbids tag `j` after tag `i` (see
            `nlp_lstm.text.tags.allowed_transitions`).
        allowed_start: optional bool list `(num_tags,)`: tags a path may start with.
        allowed_end: optional bool list `(num_tags,)`: tags a path may end with.

    Call arguments:
        potentials: float `(batch, time, num_tags)`, `time >= 1`.
        mask: bool `(batch, time)`, True on real tokens.

    Returns:
        The Viterbi tag ids, int32 `(batch, time)`, 0 on padding.

    Example:
    >>> crf = CRF(num_tags=3)
    >>> tags = crf(keras.ops.ones((2, 4, 3)), mask=keras.ops.ones((2, 4), "bool"))
    >>> tuple(tags.shape)
    (2, 4)
    """

    def __init__(
        self,
        num_tags: int,
        use_start_end: bool = True,
        allowed_transitions=None,
        allowed_start=None,
        allowed_end=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_tags", num_tags)
        self.num_tags = num_tags
        self.use_start_end = use_start_end
        shape = (num_tags,)
        transitions = _as_mask(allowed_transitions, (num_tags, num_tags), "transitions")
        start = _as_mask(allowed_start, shape, "allowed_start")
        end = _as_mask(allowed_end, shape, "allowed_end")
        self.allowed_transitions = None if transitions is None else transitions.tolist()
        self.allowed_start = None if start is None else start.tolist()
        self.allowed_end = None if end is None else end.tolist()
        self.supports_masking = True

    def build(self, input_shape=None):
        zeros = keras.initializers.Zeros()
        self.transitions = self.add_weight(
            name="transitions",
            shape=(self.num_tags, self.num_tags),
            initializer=keras.initializers.GlorotUniform(),
        )
        if self.use_start_end:
            self.start_transitions = self.add_weight(
                name="start_transitions", shape=(self.num_tags,), initializer=zeros
            )
            self.end_transitions = self.add_weight(
                name="end_transitions", shape=(self.num_tags,), initializer=zeros
            )
        self.built = True

    def _penalty(self, allowed):
        if allowed is None:
            return 0.0
        return tf.constant(
            np.where(np.asarray(allowed, dtype=bool), 0.0, FORBIDDEN), tf.float32
        )

    def scores(self):
        """The effective `(transitions, start, end)`, forbidden ones at -1e4."""
        if not self.built:
            self.build()
        transitions = tf.convert_to_tensor(self.transitions) + self._penalty(
            self.allowed_transitions
        )
        if self.use_start_end:
            start = tf.convert_to_tensor(self.start_transitions)
            end = tf.convert_to_tensor(self.end_transitions)
        else:
            start = end = tf.zeros((self.num_tags,), tf.float32)
        start = start + self._penalty(self.allowed_start)
        end = end + self._penalty(self.allowed_end)
        return transitions, start, end

    @staticmethod
    def _prepare(potentials, mask, extra_step=False):
        potentials = tf.cast(potentials, tf.float32)
        if mask is None:
            mask = tf.ones(tf.shape(potentials)[:2], tf.bool)
        mask = tf.cast(mask, tf.bool)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        if extra_step:
            # One more masked step, so that the loops over steps 1..time-1
            # never run over an empty sequence (which a graph cannot stack).
            potentials = tf.pad(potentials, [[0, 0], [0, 1], [0, 0]])
            mask = tf.pad(mask, [[0, 0], [0, 1]])
        return potentials, mask, lengths

    def log_partition(self, potentials, mask=None):
        """`log Z` of each sentence (forward algorithm), float32 `(batch,)`; 0
        for empty sentences."""
        potentials, mask, lengths = self._prepare(potentials, mask, extra_step=True)
        transitions, start, end = self.scores()
        alpha = start + potentials[:, 0]  # (batch, num_tags)

        def step(alpha, inputs):
            emissions, step_mask = inputs
            # (batch, previous, next)
            scores = alpha[:, :, None] + transitions[None] + emissions[:, None, :]
            new_alpha = tf.reduce_logsumexp(scores, axis=1)
            return tf.where(step_mask[:, None], new_alpha, alpha)

        # Time-major over steps 1..time-1.
        rest = (
            tf.transpose(potentials[:, 1:], [1, 0, 2]),
            tf.transpose(mask[:, 1:], [1, 0]),
        )
        alpha = tf.foldl(step, rest, initializer=alpha)
        log_z = tf.reduce_logsumexp(alpha + end, axis=1)
        return tf.where(lengths > 0, log_z, 0.0)

    def path_score(self, potentials, tags, mask=None):
        """The unnormalized score of tag paths `tags (batch, time)`."""
        potentials, mask, lengths = self._prepare(potentials, mask)
        transitions, start, end = self.scores()
        tags = tf.cast(tags, tf.int32)
        weights = tf.cast(mask, tf.float32)
        emissions = tf.gather(potentials, tags, batch_dims=2)  # (batch, time)
        score = tf.reduce_sum(emissions * weights, axis=1)
        pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)
        steps = tf.gather_nd(transitions, pairs)  # (batch, time - 1)
        score += tf.reduce_sum(steps * weights[:, 1:], axis=1)
        last = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
        boundary = tf.gather(start, tags[:, 0]) + tf.gather(end, last)
        return score + tf.where(lengths > 0, boundary, 0.0)

    def log_likelihood(self, potentials, tags, mask=None):
        """`log p(tags | potentials)` of each sentence, float32 `(batch,)`."""
        return self.path_score(potentials, tags, mask) - self.log_partition(
            potentials, mask
        )

    def decode(self, potentials, mask=None):
        """Viterbi: the best path `(batch, time)` int32 (0 on padding) and its
        score `(batch,)`."""
        potentials, mask, lengths = self._prepare(potentials, mask, extra_step=True)
        transitions, start, end = self.scores()
        alpha = start + potentials[:, 0]
        identity = tf.broadcast_to(
            tf.range(self.num_tags, dtype=tf.int32)[None], tf.shape(alpha)
        )

        def step(carry, inputs):
            alpha, _ = carry
            emissions, step_mask = inputs
            scores = alpha[:, :, None] + transitions[None]  # (batch, previous, next)
            best_previous = tf.argmax(scores, axis=1, output_type=tf.int32)
            new_alpha = tf.reduce_max(scores, axis=1) + emissions
            # On padding the score stays and the back-pointer points to itself,
            # so that backtracking carries the last real tag through.
            return (
                tf.where(step_mask[:, None], new_alpha, alpha),
                tf.where(step_mask[:, None], best_previous, identity),
            )

        rest = (
            tf.transpose(potentials[:, 1:], [1, 0, 2]),
            tf.transpose(mask[:, 1:], [1, 0]),
        )
        alphas, pointers = tf.scan(step, rest, initializer=(alpha, identity))
        final = alphas[-1] + end
        best_last = tf.argmax(final, axis=1, output_type=tf.int32)
        best_score = tf.reduce_max(final, axis=1)

        def back(tag, pointer):
            return tf.gather(pointer, tag, batch_dims=1)

        # pointers[t - 1] leads from the tag at t to the tag at t - 1.
        previous = tf.scan(back, pointers, initializer=best_last, reverse=True)
        path = tf.concat([tf.transpose(previous, [1, 0]), best_last[:, None]], axis=1)
        path = tf.where(mask, path, 0)[:, :-1]  # Drops the extra step.
        return path, tf.where(lengths > 0, best_score, 0.0)

    def call(self, potentials, mask=None):
        return self.decode(potentials, mask)[0]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tags": self.num_tags,
                "use_start_end": self.use_start_end,
                "allowed_transitions": self.allowed_transitions,
                "allowed_start": self.allowed_start,
                "allowed_end": self.allowed_end,
            }
        )
        return config
