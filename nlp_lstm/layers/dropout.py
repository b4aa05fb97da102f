"""Dropout whose masks take half the random numbers of Keras'.

Keras' `Dropout` (TensorFlow's `stateless_dropout`) draws one 32-bit Philox
number per element and compares it, as a float in [0, 1), with the rate; on
CPU the draw is most of its cost: a training step's masks took 5.7% of the
tagger's thread time and 2.7% of the translator's (`python
benchmarks/profile_training.py`, docs/benchmarks.md, "Dropout masks from 16
random bits"). Here each 32-bit number decides two elements, by its two 16-bit
halves: an element is kept when its half is at least
`round(rate * 65536)`, so the rate is that count over 65,536 (within 1 / 131,072
of the one asked: 0.3 drops with probability 0.299997), and the kept elements
are scaled by one over the kept fraction, so that the expected output is the
input, as in Keras.

`Dropout` is Keras' layer with this mask: the same arguments and variables (a
checkpoint of either restores into the other), `noise_shape` excepted.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nlp_lstm.utils.arguments import check_rate

# The resolution of the drop probability: 16-bit halves of the random numbers.
LEVELS = 1 << 16


def drop_threshold(rate: float) -> int:
    """The number of 16-bit values, out of `LEVELS`, that drop an element."""
    check_rate("dropout rate", rate)
    return round(rate * LEVELS)


def keep_mask(shape, rate: float, seed):
    """`(keep, scale)`: a bool tensor of `shape`, True where an element is
    kept (each independently, with probability `1 - drop_threshold(rate) /
    LEVELS`), and one over that probability.

    `seed`: an int `(2,)` tensor, as TensorFlow's stateless random ops take
    it: the same seed gives the same mask."""
    threshold = drop_threshold(rate)
    shape = tf.convert_to_tensor(shape, tf.int32)
    size = tf.reduce_prod(shape)
    bits = tf.random.stateless_uniform(
        [(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32
    )
    halves = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size]
    keep = tf.reshape(halves >= tf.constant(threshold, tf.uint16), shape)
    return keep, LEVELS / (LEVELS - threshold)


def dropout(inputs, rate: float, seed):
    """`inputs` with each element zeroed with probability `rate` (to 1 /
    65,536) and the others scaled by one over the kept fraction."""
    if drop_threshold(rate) == 0:
        return inputs
    keep, scale = keep_mask(tf.shape(inputs), rate, seed)
    return tf.where(keep, inputs * tf.cast(scale, inputs.dtype), tf.zeros_like(inputs))


def _stateless_seed(seed):
    """A Keras seed (`SeedGenerator.next()`) as TensorFlow's stateless ops
    take it: int32 `(2,)`."""
    if seed.dtype == tf.int32:
        return seed
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with `dropout`'s masks (module docstring)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if noise_shape is not None:
            raise ValueError("nlp_lstm's Dropout takes no noise_shape")
        super().__init__(rate, seed=seed, **kwargs)
        drop_threshold(rate)  # validates it

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return dropout(inputs, self.rate, _stateless_seed(self.seed_generator.next()))
