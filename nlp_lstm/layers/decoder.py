"""Stacked recurrent decoder (LSTM, peephole LSTM or GRU) with attention,
input feeding and a bridge."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from nlp_lstm.layers import attention as attention_lib
from nlp_lstm.layers import cells as cells_lib
from nlp_lstm.layers import decoder_loop, linear
from nlp_lstm.layers.cells import state_size
from nlp_lstm.layers.dropout import Dropout

# How `AttentionDecoder.call` runs teacher forcing; see its docstring.
IMPLEMENTATIONS = ("auto", "steps", "fused")


@keras.saving.register_keras_serializable(package="nlp_lstm")
class AttentionDecoder(keras.layers.Layer):
    """M stacked RNN cells whose top output attends over the encoder memory.

    One step: the input embedding (concatenated with the previous attentional
    vector when `input_feeding`) runs through the stacked cells; the top output
    queries the attention; `tanh(W [context; output])` is the attentional
    vector, which feeds the output projection (Luong et al. 2015).

    The decoder state is a flat list of tensors: the states of every cell (h, c
    for LSTMs; h for GRU), then the previous attentional vector. Decoding code
    treats it as an opaque nest.

    Args:
        num_layers: int. Number of stacked cells.
        units: int. Hidden size of each cell and of the attentional vector.
        cell: str. A `cells.CELLS` name: `"lstm"`, `"peephole_lstm"` or
            `"gru"`.
        dropout: float. Dropout on each cell's input and on the attentional vector.
        attention: str. `"luong_dot"`, `"luong_general"` or `"bahdanau"`.
        input_feeding: bool. Feed the previous attentional vector to the first cell.
        implementation: str. How teacher forcing (`call`) runs; `step` is the
            definition either way. `"steps"`: a `tf.while_loop` over `step`
            (any cell, any attention). `"fused"`: `decoder_loop`'s loop with a
            hand-written backward pass (any cell), for `"luong_dot"` or
            `"luong_general"` attention (faster training on CPU). `"auto"`:
            fused where allowed, else steps.

    Example:
    >>> decoder = AttentionDecoder(num_layers=1, units=8)
    >>> decoder.build((2, 3, 4), (2, 5, 6))
    >>> memory = keras.ops.ones((2, 5, 6))
    >>> state = decoder.initial_state([keras.ops.zeros((2, 8))] * 2)
    >>> outputs, _ = decoder(keras.ops.ones((2, 3, 4)), state, memory)
    >>> tuple(outputs.shape)
    (2, 3, 8)
    """

    def __init__(
        self,
        num_layers: int = 2,
        units: int = 256,
        cell: str = "lstm",
        dropout: float = 0.0,
        attention: str = "luong_general",
        input_feeding: bool = True,
        implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        cells_lib.check_stack(
            num_layers, units, cell, dropout, implementation, IMPLEMENTATIONS
        )
        if implementation == "fused" and not decoder_loop.supports(cell, attention):
            raise ValueError(
                f'implementation="fused" needs attention in {decoder_loop.SCORES}, '
                f'got attention={attention!r}; use "steps" or "auto"'
            )
        self.num_layers = num_layers
        self.units = units
        self.cell = cell
        self.dropout = dropout
        self.attention = attention
        self.input_feeding = input_feeding
        self.implementation = implementation
        self.cells = [
            cells_lib.keras_cell(cell, units, name=f"cell_{i}")
            for i in range(num_layers)
        ]
        self.attention_layer = attention_lib.get(attention, units, name="attention")
        self.attention_projection = keras.layers.Dense(
            units, activation="tanh", use_bias=False, name="attention_projection"
        )
        self.dropout_layer = Dropout(dropout)
        self.supports_masking = True

    @property
    def states_per_layer(self) -> int:
        return state_size(self.cell)

    def build(self, inputs_shape, memory_shape=None):
        if memory_shape is None:
            raise ValueError("AttentionDecoder.build needs the memory shape")
        feature_dim = inputs_shape[-1] + (self.units if self.input_feeding else 0)
        for cell in self.cells:
            cell.build((None, feature_dim))
            feature_dim = self.units
        self.attention_layer.build(memory_shape)
        self.attention_projection.build((None, self.units + memory_shape[-1]))
        self.built = True

    def initial_state(self, layer_states):
        """The decoding state from per-layer cell states (e.g. from a `Bridge`)."""
        if len(layer_states) != self.num_layers * self.states_per_layer:
            raise ValueError(
                f"expected {self.num_layers * self.states_per_layer} state tensors, "
                f"got {len(layer_states)}"
            )
        batch = ops.shape(layer_states[0])[0]
        attentional = ops.zeros((batch, self.units), dtype=layer_states[0].dtype)
        return list(layer_states) + [attentional]

    def prepare(self, memory):
        """Attention keys, computed once per source batch."""
        return self.attention_layer.prepare(memory)

    def inference_weights(self, transposed: bool = True, input_embeddings=None):
        """Per cell its `cells.cell_weights`, for `step` outside training,
        read once per decoding (not per step); an LSTM's kernel is then
        `[kernel; recurrent_kernel]`, so that each LSTM cell is one matmul a
        step instead of two. With `transposed` that kernel is kept
        transposed, as `kernel_t` (in place of `kernel`), and a step
        multiplies by it with `linear.times_transposed`, which TensorFlow runs
        faster on CPU; without (TFLite, whose FULLY_CONNECTED takes the
        kernel as it is) as `kernel`.

        `input_embeddings` (`(vocab, embedding_dim)`, the target embeddings;
        LSTM-family cells only): the first cell's product with the embedded
        input token, plus its bias, is computed for every token once, as
        `input_table` `(vocab, gates * units)`, and its kernel keeps the rows
        of the other inputs only; `step` then takes token ids and looks its
        rows up (a third of the first cell's arithmetic a step). The table is
        as large as the vocabulary times the gates: for weights made once
        (an export's), not per call."""
        weights = [cells_lib.cell_weights(cell) for cell in self.cells]
        merged = cells_lib.get(self.cell).merged
        if input_embeddings is not None and not merged:
            raise ValueError(
                f"input_embeddings needs an LSTM-family cell, not {self.cell!r}"
            )
        if merged:
            for index, layer in enumerate(weights):
                kernel = ops.concatenate(
                    [layer["kernel"], layer["recurrent_kernel"]], axis=0
                )
                if index == 0 and input_embeddings is not None:
                    width = input_embeddings.shape[-1]
                    # Float32, as the step's products are; bias included.
                    layer["input_table"] = tf.nn.bias_add(
                        linear.matmul(input_embeddings, kernel[:width]),
                        layer["bias"],
                    )
                    kernel = kernel[width:]
                if transposed:
                    layer["kernel"], layer["kernel_t"] = None, linear.transposed(kernel)
                else:
                    layer["kernel"] = kernel
        # In the matmul precision (`linear.matmul_precision`), cast once.
        for layer in weights:
            for key in ("kernel", "recurrent_kernel", "kernel_t"):
                if layer.get(key) is not None:
                    layer[key] = linear.compute_copy(layer[key])
        return weights

    def step(
        self, inputs, state, memory, keys, mask=None, training=False, weights=None,
        group=1,
    ):
        """One decoding step.

        Args:
            inputs: `(batch, embedding_dim)` embeddings of the previous tokens;
                with an `input_table` in `weights`, their ids `(batch,)`.
            state: the list from `initial_state` or a previous step.
            memory: `(batch, source_time, memory_dim)` encoder outputs.
            keys: `prepare(memory)`.
            mask: `(batch, source_time)` bool, True on real source tokens.
            weights: `inference_weights()` or None; only when not training.
            group: int. Rows of `inputs` and `state` a row of `memory`,
                `keys` and `mask` stands for (`group` consecutive rows each: a
                beam's hypotheses read their sentence's memory once, one
                batched product of `group` queries a sentence).

        Returns:
            `(attentional, new_state, attention_weights)`.
        """
        if training and weights is not None:
            raise ValueError("inference_weights are for inference; pass training=False")
        per_layer = self.states_per_layer
        previous_attentional = state[-1]
        # The first cell's product with the embedded tokens, looked up.
        input_rows = None
        if weights is not None and weights[0].get("input_table") is not None:
            input_rows = tf.gather(weights[0]["input_table"], inputs)
            inputs = previous_attentional if self.input_feeding else None
        elif self.input_feeding:
            inputs = ops.concatenate([inputs, previous_attentional], axis=-1)
        new_state = []
        outputs = inputs
        for index, cell in enumerate(self.cells):
            cell_state = list(state[index * per_layer : (index + 1) * per_layer])
            if weights is None:
                outputs = self.dropout_layer(outputs, training=training)
                outputs, cell_state = cell(outputs, cell_state, training=training)
            else:  # inference: no dropout
                outputs, cell_state = self._inference_cell(
                    weights[index], outputs, cell_state,
                    input_rows if index == 0 else None,
                )
            new_state.extend(
                cell_state if isinstance(cell_state, list | tuple) else [cell_state]
            )
        query = outputs
        if group > 1:  # (sentences, group, units): the steps form of the query
            query = tf.reshape(outputs, [-1, group, outputs.shape[-1]])
        context, weights = self.attention_layer(query, keys, memory, mask=mask)
        if group > 1:
            context = tf.reshape(context, [-1, context.shape[-1]])
            weights = tf.reshape(weights, [-1, tf.shape(weights)[-1]])
        attentional = self.attention_projection(
            ops.concatenate([context, outputs], axis=-1)
        )
        attentional_out = self.dropout_layer(attentional, training=training)
        return attentional_out, new_state + [attentional], weights

    def _inference_cell(self, weights, inputs, state, input_rows=None):
        """One cell's step from its `inference_weights`: `(output, state)`.
        `input_rows`: the looked-up `input_table` rows of the first cell, which
        stand for its embedded inputs and its bias (`inputs` are the others,
        or None)."""
        math = cells_lib.get(self.cell)
        if math.merged:
            x = state[0] if inputs is None else tf.concat([inputs, state[0]], axis=-1)
            if weights.get("kernel_t") is not None:
                p = linear.times_transposed(x, weights["kernel_t"])
            else:
                p = linear.matmul(x, weights["kernel"])
            if input_rows is None:
                p = tf.nn.bias_add(p, weights["bias"])
            else:
                p = p + input_rows
            q = None
        else:
            p = linear.matmul(inputs, weights["kernel"])
            p = tf.nn.bias_add(p, weights["bias"])
            q = tf.nn.bias_add(
                linear.matmul(state[0], weights["recurrent_kernel"]),
                weights["recurrent_bias"],
            )
        return math.call(p, q, list(state), weights["params"])

    def call(self, inputs, initial_state, memory, mask=None, training=False):
        """Teacher forcing over a whole target batch.

        Args:
            inputs: `(batch, time, embedding_dim)` embeddings of the target inputs.
            initial_state: the list from `initial_state`.
            memory: `(batch, source_time, memory_dim)` encoder outputs.
            mask: `(batch, source_time)` bool.

        Returns:
            `(outputs, final_state)`: attentional vectors `(batch, time, units)`.
        """
        keys = self.prepare(memory)
        run = (
            self._teacher_forcing_fused
            if self.uses_fused_loop
            else self._teacher_forcing_steps
        )
        return run(inputs, initial_state, memory, keys, mask, training)

    @property
    def uses_fused_loop(self) -> bool:
        """Whether `call` runs the fused loop (see `implementation`)."""
        if self.implementation == "auto":
            return decoder_loop.supports(self.cell, self.attention)
        return self.implementation == "fused"

    def _teacher_forcing_steps(self, inputs, initial_state, memory, keys, mask,
                               training):
        """`call` as a loop over `step` (any cell)."""
        time_major = tf.transpose(inputs, (1, 0, 2))  # (time, batch, embedding_dim)
        steps = tf.shape(time_major)[0]
        time_major = tf.TensorArray(inputs.dtype, size=steps).unstack(time_major)
        outputs = tf.TensorArray(inputs.dtype, size=steps)

        def body(t, state, outputs):
            attentional, state, _ = self.step(
                time_major.read(t), state, memory, keys, mask=mask, training=training
            )
            return t + 1, state, outputs.write(t, attentional)

        _, final_state, outputs = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), list(initial_state), outputs),
        )
        outputs = tf.transpose(outputs.stack(), (1, 0, 2))  # (batch, time, units)
        return outputs, final_state

    def _teacher_forcing_fused(self, inputs, initial_state, memory, keys, mask,
                               training):
        """`call` through `decoder_loop.attention_decoder_loop`: what stepping
        `step` computes, with everything that does not depend on the previous
        step taken out of the loop. The embedding part of the first layer's
        input projection is one matmul over all steps, and the dropout masks
        of all steps are drawn at once (independent per step and element, as
        in `step`)."""
        layers = [cells_lib.cell_weights(cell) for cell in self.cells]
        first = layers[0]
        embedding_dim = inputs.shape[-1]
        dropout = training and self.dropout > 0
        if dropout:
            inputs = self.dropout_layer(inputs, training=True)
        # The first kernel's embedding rows, and those of the fed-back vector
        # (a split, whose gradient is one concatenation).
        embedding_kernel, feed_kernel = tf.split(
            first["kernel"], [embedding_dim, -1], axis=0
        )
        # (time, batch, gates * units): input projection of every step at once.
        projected = linear.dense(inputs, embedding_kernel)
        projected += first["bias"]
        projected = tf.transpose(projected, (1, 0, 2))
        steps = tf.shape(projected)[0]
        batch = tf.shape(projected)[1]
        if self.input_feeding:
            first_recurrent = ops.concatenate(
                [feed_kernel, first["recurrent_kernel"]], axis=0
            )
        else:
            first_recurrent = first["recurrent_kernel"]
        # Per layer `[kernel; recurrent]`: for LSTMs `[input; h] @` it is one
        # matmul a step.
        stacked = [
            ops.concatenate([layer["kernel"], layer["recurrent_kernel"]], axis=0)
            for layer in layers[1:]
        ]
        # Masks per step: the fed-back attentional vector, each upper layer's
        # input and the attentional output, (time, batch, units) each.
        num_masks = self.num_layers + 1
        if dropout:
            masks = self.dropout_layer(
                tf.ones([steps, batch, num_masks * self.units], inputs.dtype),
                training=True,
            )
        else:
            masks = tf.ones([1, 1, num_masks * self.units], inputs.dtype)
        if mask is None:
            score_bias = tf.zeros(tf.shape(keys)[:2], keys.dtype)
        else:
            score_bias = tf.where(mask, 0.0, attention_lib.MASK_SCORE)
        outputs, final_state = decoder_loop.attention_decoder_loop(
            projected,
            list(initial_state),
            memory,
            keys,
            tf.cast(score_bias, keys.dtype),
            masks,
            [first_recurrent] + stacked,
            [layer["bias"] for layer in layers[1:]],
            self.attention_projection.kernel,
            self.input_feeding,
            cell=self.cell,
            recurrent_biases=[
                layer["recurrent_bias"]
                for layer in layers
                if layer["recurrent_bias"] is not None
            ],
            params=[layer["params"] for layer in layers],
        )
        return tf.transpose(outputs, (1, 0, 2)), final_state

    def compute_mask(self, *args, **kwargs):
        # Outputs follow the target time axis: the source mask does not apply.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "units": self.units,
                "cell": self.cell,
                "dropout": self.dropout,
                "attention": self.attention,
                "input_feeding": self.input_feeding,
                "implementation": self.implementation,
            }
        )
        return config
