"""Truncated backpropagation through time for the tagger's long sequences.

A sequence of T tokens is cut into chunks of K. The gradient is that of the
whole sequence's loss with the recurrent states passed through
`stop_gradient` at every chunk boundary (both directions of every layer):
each chunk's loss is differentiated on its own, from the states its
neighbours end with, and the chunks' gradients are added. So memory follows K,
not T, and with K >= T the gradient is exactly full BPTT's.

Per batch, for each encoder layer in turn and without gradients, two sweeps
over the chunks find the states at the chunk boundaries: left to right for
the forward direction, then right to left for the backward direction, which
also yields the layer's outputs (the next layer's inputs). Then each chunk's
loss and gradient are computed with those states as constants. The sweeps run
without dropout. A CRF head scores each chunk as its own sequence (the
transitions across a boundary are not scored).

Each sweep and each chunk's gradient is one compiled function; the loop over
chunks runs in Python, so that a chunk's graph and activations are freed
before the next one.
"""

from __future__ import annotations

import functools

import tensorflow as tf

from nlp_lstm.layers.cells import state_size


def _halves(states, half: int):
    """The forward (0) or backward (1) half of each `(batch, 2 * units)` state."""
    return [tf.split(state, 2, axis=-1)[half] for state in states]


def _join(forward, backward):
    return [tf.concat([f, b], axis=-1) for f, b in zip(forward, backward)]


class TruncatedBPTT:
    """`batch -> (loss, tokens, gradients)` of a `Tagger` with truncated
    BPTT: a `gradient_fn` for `trainer.make_train_step`.

    Args:
        model: a built `Tagger`.
        featurizer: `TokenFeaturizer` (string tokens to the embedder's ids).
        chunk: int. Tokens per chunk, K.

    Example: `TruncatedBPTT(tagger, featurizer, 64)((tokens, tag_ids))`.
    """

    def __init__(self, model, featurizer, chunk: int):
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {chunk}")
        self.model = model
        self.featurizer = featurizer
        self.chunk = chunk
        self.variables = model.trainable_variables
        encoder = model.encoder
        self.num_states = state_size(encoder.cell)
        self.units = encoder.units
        self._embed = tf.function(
            functools.partial(model.embedder, training=False), reduce_retracing=True,
            autograph=False,
        )
        self._layer = tf.function(self._run_layer, reduce_retracing=True,
                                  autograph=False)
        self._gradients = tf.function(self._chunk_gradients, reduce_retracing=True,
                                      autograph=False)

    def _run_layer(self, index, inputs, mask, initial_state):
        """One encoder layer on one chunk, no dropout: `(outputs, states)`."""
        encoder = self.model.encoder
        return encoder.run_layer(
            encoder.rnn_layers[index], inputs, mask, False, initial_state
        )

    def _chunk_gradients(self, features, tags, initial_states, total_tokens):
        """The chunk's share of the loss (its NLL over all the batch's
        tokens) and its gradients, from the boundary states as constants."""
        encoder_fn = functools.partial(
            self.model.encoder, initial_states=initial_states
        )
        with tf.GradientTape() as tape:
            loss, tokens = self.model.tag_loss(
                features, tags, training=True, encoder_fn=encoder_fn
            )
            share = loss * tokens / total_tokens
        gradients = tape.gradient(share, self.variables)
        gradients = [
            tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
            for g in gradients
        ]
        return share, gradients

    def chunks(self, length: int) -> list:
        """`(start, end)` of each chunk of a sequence of `length` tokens."""
        return [
            (start, min(start + self.chunk, length))
            for start in range(0, max(length, 1), self.chunk)
        ]

    def boundary_states(self, chunk_features: list) -> list:
        """Per chunk (`chunk_features`: the feature dict of each chunk), the
        encoder's initial states there: per layer the list of its states
        (the encoder's `initial_states` layout)."""
        inputs = [self._embed(features) for features in chunk_features]
        masks = [self.model.mask(features) for features in chunk_features]
        count = len(chunk_features)
        batch = int(masks[0].shape[0])
        zeros = [tf.zeros((batch, self.units))] * self.num_states
        states = [[] for _ in range(count)]
        encoder = self.model.encoder
        for index in range(encoder.num_layers):
            # Left to right: the forward direction's state entering each chunk.
            forward_in, forward = [], zeros
            for c in range(count):
                forward_in.append(forward)
                _, final = self._layer(
                    index, inputs[c], masks[c], _join(forward, zeros)
                )
                forward = _halves(final, 0)
            # Right to left: the backward direction's, and the layer's outputs.
            backward = zeros
            outputs = [None] * count
            for c in reversed(range(count)):
                initial = _join(forward_in[c], backward)
                states[c].append(initial)
                outputs[c], final = self._layer(index, inputs[c], masks[c], initial)
                backward = _halves(final, 1)
                if encoder.residual and index > 0:
                    outputs[c] = outputs[c] + inputs[c]
            inputs = outputs
        return states

    def __call__(self, batch):
        batch_tokens, batch_tags = batch
        features = self.featurizer(batch_tokens)
        mask = self.model.mask(features)
        total = tf.reduce_sum(tf.cast(mask, tf.float32))
        normalizer = tf.maximum(total, 1.0)
        spans = self.chunks(int(mask.shape[1]))
        chunk_features = [{k: v[:, a:b] for k, v in features.items()} for a, b in spans]
        states = self.boundary_states(chunk_features)
        loss, gradients = 0.0, None
        for (a, b), features, initial in zip(spans, chunk_features, states):
            share, chunk_gradients = self._gradients(
                features, batch_tags[:, a:b], initial, normalizer
            )
            loss += share
            if gradients is None:
                gradients = list(chunk_gradients)
            else:
                gradients = [
                    g if d is None else d if g is None else g + d
                    for g, d in zip(gradients, chunk_gradients)
                ]
        return loss, total, gradients
