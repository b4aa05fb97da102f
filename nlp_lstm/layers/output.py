"""Projection of decoder outputs onto the target vocabulary, optionally tied."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from nlp_lstm.layers.linear import dense
from nlp_lstm.utils.arguments import check_positive_int


@keras.saving.register_keras_serializable(package="nlp_lstm")
class OutputProjection(keras.layers.Layer):
    """Logits over the vocabulary.

    With `tied=True` the kernel is the transposed target embedding matrix
    (passed to `call`), so the layer owns only a bias, plus a linear map to the
    embedding width when the decoder width differs (Press and Wolf 2017).

    Args:
        vocab_size: int. Target vocabulary size.
        tied: bool. Reuse the target embedding matrix as the output kernel.
    """

    def __init__(self, vocab_size: int, tied: bool = False, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("vocab_size", vocab_size)
        self.vocab_size = vocab_size
        self.tied = tied

    def build(self, inputs_shape, embeddings_shape=None):
        self.pre_projection = None
        if self.tied:
            if embeddings_shape is None:
                raise ValueError("a tied OutputProjection needs the embedding matrix")
            if embeddings_shape[-1] != inputs_shape[-1]:
                self.pre_projection = keras.layers.Dense(
                    embeddings_shape[-1], use_bias=False, name="pre_projection"
                )
                self.pre_projection.build(inputs_shape)
        else:
            self.kernel = self.add_weight(
                name="kernel",
                shape=(inputs_shape[-1], self.vocab_size),
                initializer="glorot_uniform",
            )
        self.bias = self.add_weight(
            name="bias", shape=(self.vocab_size,), initializer="zeros"
        )
        self.built = True

    def call(self, inputs, embeddings=None):
        if self.tied:
            if self.pre_projection is not None:
                inputs = self.pre_projection(inputs)
            return tf.nn.bias_add(
                dense(inputs, embeddings, transpose_kernel=True), self.bias
            )
        return tf.nn.bias_add(dense(inputs, self.kernel), self.bias)

    def kernel_matrix(self, embeddings=None):
        """The `(input width, vocab_size)` kernel that `call` multiplies by:
        `embeddings` transposed when tied."""
        return ops.transpose(embeddings) if self.tied else self.kernel

    def project(self, inputs, kernel_matrix, bias=None):
        """`call`, with its kernel given: `kernel_matrix(embeddings)`, computed
        once by a caller that projects many times (a decoding loop), since a
        matmul by a transposed operand is slower on CPU. With `bias` (the
        layer's own by default), `kernel_matrix` and `bias` may hold some
        columns of the vocabulary only (a search's shortlist)."""
        if self.tied and self.pre_projection is not None:
            inputs = self.pre_projection(inputs)
        bias = self.bias if bias is None else bias
        return tf.nn.bias_add(dense(inputs, kernel_matrix), bias)

    def columns(self, inputs, ids, embeddings=None):
        """`(logits, mean_logits)`: `call(inputs, embeddings)`'s columns `ids`
        only, `(tokens, len(ids))`, and the mean of all its columns,
        `(tokens,)`, both from 2-D `inputs`.

        The mean is exact and costs one product with the mean kernel column
        (the projection is linear); a sampled softmax
        (`training.losses.sampled_cross_entropy`) takes the label smoothing's
        term from it. The kernel's columns are gathered (for a tied kernel,
        rows of `embeddings`).
        """
        if not self.built:
            self.build(inputs.shape, None if embeddings is None else embeddings.shape)
        if self.tied:
            if self.pre_projection is not None:
                inputs = self.pre_projection(inputs)
            kernel = tf.gather(embeddings, ids)
            mean_column = tf.reduce_mean(embeddings, axis=0)[:, None]
        else:
            kernel = tf.transpose(tf.gather(self.kernel, ids, axis=1))
            mean_column = tf.reduce_mean(self.kernel, axis=1)[:, None]
        logits = tf.nn.bias_add(
            dense(inputs, kernel, transpose_kernel=True), tf.gather(self.bias, ids)
        )
        mean_logits = tf.squeeze(dense(inputs, mean_column), -1)
        mean_logits += tf.reduce_mean(self.bias)
        return logits, mean_logits

    def get_config(self):
        config = super().get_config()
        config.update({"vocab_size": self.vocab_size, "tied": self.tied})
        return config


def sparse_cross_entropy(labels, logits):
    """Per-token `tf.nn.sparse_softmax_cross_entropy_with_logits`, `labels`'
    shape, computed over `(tokens, classes)`.

    Given logits of more than two dimensions and unknown shape, TensorFlow's
    function adds a run-time shape assertion. An assertion is a stateful op,
    and a `tf.function` runs its stateful ops in program order: with towers
    (`training.trainer.make_gradient_fn`) the next tower's first assertion
    waited for this loss, at the end of the previous tower's forward pass, so
    the towers ran one after the other. Flattened, no assertion is added.
    """
    flat_logits = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
    flat_labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(flat_labels, flat_logits)
    return tf.reshape(losses, tf.shape(labels))
