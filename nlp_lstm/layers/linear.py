"""Linear maps over the last axis, as CPU-friendly 2-D matmuls, and the
arithmetic precision of the matmuls a graph traces.

Mixed precision (`training.precision` or `decoding.precision: bfloat16`):
inside `matmul_precision`, `matmul` (and so `dense`) multiplies bfloat16
copies of its operands (oneDNN accumulates in float32) and returns float32;
weights, states, element-wise math, losses and the optimizer stay float32.
Loops cast their loop-invariant weights once with `compute_copy`. Outside the
context (the default, and every TFLite export) every matmul is float32.
"""

from __future__ import annotations

import contextlib
import contextvars

import tensorflow as tf

from nlp_lstm.config import PRECISIONS

# The dtype matmuls compute in while a graph is traced; None: float32.
_compute_dtype: contextvars.ContextVar = contextvars.ContextVar(
    "nlp_lstm_matmul_dtype", default=None
)


@contextlib.contextmanager
def matmul_precision(precision: str = "float32"):
    """Within the context, `matmul` and `dense` compute in `precision` (one
    of `PRECISIONS`). It is read when a graph is traced: enter it around the
    code a `tf.function` traces (the forward pass and its gradients)."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}"
        )
    dtype = None if precision == "float32" else tf.as_dtype(precision)
    token = _compute_dtype.set(dtype)
    try:
        yield
    finally:
        _compute_dtype.reset(token)


def compute_copy(tensor):
    """`tensor` in the matmul compute dtype: loops cast their weights once
    with this rather than at every step. In float32 it is `tensor` itself (a
    variable stays the variable)."""
    dtype = _compute_dtype.get()
    return tensor if dtype is None else tf.cast(tensor, dtype)


def transposed(kernel):
    """`kernel.T`, materialized, for a loop whose every step multiplies by
    it: on CPU a small `matmul(x, kernel, transpose_b=True)` (a batch of 32
    rows by a `(512, 1024)` kernel) runs 2.5-4x slower than `matmul(x,
    kernel.T)` (README, "The backward loops multiply by transposed
    kernels")."""
    return tf.transpose(kernel)


def times_transposed(inputs, kernel_t):
    """`inputs @ kernel_t.T`, computed as `(kernel_t @ inputs.T).T`: for a
    loop step's rows (a batch, up to a few hundred) by a kernel kept
    transposed. At these shapes TensorFlow's CPU matmul runs this 1.3-1.8x
    faster than `inputs @ kernel` (one core, 64 rows by a `(768, 1024)`
    kernel: 1.40 against 2.53 ms, the transpose back and the bias included;
    `benchmarks/matmul_orientation.py`; README, "The decoder's cells multiply
    by transposed kernels")."""
    return tf.transpose(matmul(kernel_t, inputs, transpose_b=True))


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False):
    """`tf.matmul` in the current precision; the result is float32 either
    way."""
    dtype = _compute_dtype.get()
    if dtype is None:
        return tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    product = tf.matmul(
        tf.cast(a, dtype),
        tf.cast(b, dtype),
        transpose_a=transpose_a,
        transpose_b=transpose_b,
    )
    return tf.cast(product, tf.float32)


def dense(inputs, kernel, transpose_kernel: bool = False):
    """`inputs @ kernel` over the last axis of a 2-D or 3-D `inputs`, as one
    2-D matmul: a rank-3 by rank-2 `matmul` runs as a broadcast batched
    matmul, which is slower on CPU and needs an explicit transpose for
    `kernel.T`."""
    kernel = tf.convert_to_tensor(kernel)
    if len(inputs.shape) == 2:
        # No reshapes around the matmul, so that Grappler can fuse a bias add
        # that follows into it (`_FusedMatMul`).
        return matmul(inputs, kernel, transpose_b=transpose_kernel)
    shape = tf.shape(inputs)
    outputs = matmul(
        tf.reshape(inputs, [-1, shape[-1]]), kernel, transpose_b=transpose_kernel
    )
    width = kernel.shape[0] if transpose_kernel else kernel.shape[-1]
    outputs = tf.reshape(outputs, tf.concat([shape[:-1], [width]], axis=0))
    outputs.set_shape(tf.TensorShape(inputs.shape[:-1]).concatenate([width]))
    return outputs
