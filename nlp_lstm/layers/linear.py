"""Linear maps over the last axis, as CPU-friendly 2-D matmuls."""

from __future__ import annotations

import tensorflow as tf


def dense(inputs, kernel, transpose_kernel: bool = False):
    """`inputs @ kernel` over the last axis of a 3-D `inputs`, as one 2-D
    matmul: a rank-3 by rank-2 `matmul` runs as a broadcast batched matmul,
    which is slower on CPU and needs an explicit transpose for `kernel.T`."""
    kernel = tf.convert_to_tensor(kernel)
    shape = tf.shape(inputs)
    outputs = tf.matmul(
        tf.reshape(inputs, [-1, shape[-1]]), kernel, transpose_b=transpose_kernel
    )
    width = kernel.shape[0] if transpose_kernel else kernel.shape[-1]
    outputs = tf.reshape(outputs, tf.concat([shape[:-1], [width]], axis=0))
    outputs.set_shape(tf.TensorShape(inputs.shape[:-1]).concatenate([width]))
    return outputs
