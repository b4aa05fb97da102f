"""The package's recurrent cells, each written once: LSTM, peephole LSTM, GRU.

A cell here is its math, as functions of the pre-activations: every loop of
the package (the encoder's and decoder's hand-written training loops, the
decoder's inference step, the graphs TFLite converts) calls them, and the
Keras cells that hold the weights compute the same (the tests check each
against `keras.layers.LSTMCell` / `GRUCell` and a NumPy reference):

- `lstm`: `keras.layers.LSTMCell` with its defaults (gate order i, f, c, o;
  sigmoid gates, tanh activation).
- `peephole_lstm`: the LSTM whose gates see the cell state (Gers and
  Schmidhuber 2000; TFLite's `cell_to_*` weights): `i` and `f` read
  `c_{t-1}`, `o` reads `c_t`, each through a diagonal weight. Its Keras cell
  is `PeepholeLSTMCell`.
- `gru`: `keras.layers.GRUCell` with its defaults (gate order z, r, h; the
  reset gate applied after the recurrent matmul, `reset_after=True`; a bias
  for the inputs and one for the recurrence).

Each `Cell` takes the step's pre-activations: `p`, the input projection
`x @ W + b` (computed for all steps at once by the loops), and `q`, the
recurrent projection `h @ U (+ b_recurrent)`. For the LSTM family only the sum
matters (`merged`), so loops may compute `[x; h] @ [W; U]` in one matmul and
pass it as `p` with `q=None`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nlp_lstm.utils.arguments import check_positive_int, check_rate

# The Keras LSTM's gate order in its kernels' last axis.
LSTM_GATES = ("input", "forget", "cell", "output")
# The peephole weights' order in `PeepholeLSTMCell.peepholes`.
PEEPHOLE_GATES = ("input", "forget", "output")


def lstm_gates(z):
    """`(i, f, g, o)` from pre-activations `z` `(..., 4 * units)`."""
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    return tf.sigmoid(z_i), tf.sigmoid(z_f), tf.tanh(z_c), tf.sigmoid(z_o)


def lstm_step(z, carry):
    """One LSTM step from pre-activations `z = x @ W + h @ U + b`.

    Args:
        z: `(batch, 4 * units)`.
        carry: `(batch, units)`, the previous cell state.

    Returns:
        `(hidden, new_carry, gates, tanh_carry)`: the new h and c, and what a
        backward pass needs (`gates` = `[i, f, g, o]` concatenated, and
        `tanh(new_carry)`).
    """
    i, f, g, o = lstm_gates(z)
    new_carry = f * carry + i * g
    tanh_carry = tf.tanh(new_carry)
    return o * tanh_carry, new_carry, tf.concat([i, f, g, o], axis=-1), tanh_carry


def lstm_cell(z, carry):
    """`lstm_step` for inference: `(hidden, new_carry)`, without the tensors
    that only a backward pass needs."""
    i, f, g, o = lstm_gates(z)
    new_carry = f * carry + i * g
    return o * tf.tanh(new_carry), new_carry


def lstm_step_backward(d_hidden, d_carry, gates, carry, tanh_carry):
    """Gradients of `lstm_step`: `(d_z, d_previous_carry)`.

    Args:
        d_hidden, d_carry: gradients of the step's hidden and cell outputs.
        gates, tanh_carry: what `lstm_step` returned.
        carry: the step's input cell state.
    """
    i, f, g, o = tf.split(gates, 4, axis=-1)
    d_carry = d_carry + d_hidden * o * (1.0 - tf.square(tanh_carry))
    d_z = tf.concat(
        [
            d_carry * g * i * (1.0 - i),
            d_carry * carry * f * (1.0 - f),
            d_carry * i * (1.0 - tf.square(g)),
            d_hidden * tanh_carry * o * (1.0 - o),
        ],
        axis=-1,
    )
    return d_z, d_carry * f


def peephole_lstm_step(z, carry, peepholes):
    """One peephole LSTM step: `lstm_step` with gates that see the cell state.

    Args:
        z: `(batch, 4 * units)`, `x @ W + h @ U + b`.
        carry: `(batch, units)`, the previous cell state.
        peepholes: `(..., 3 * units)`, the diagonal weights from the cell state
            to the input, forget and output gates (broadcast over the batch).

    Returns:
        `(hidden, new_carry, gates, tanh_carry)` as `lstm_step`.
    """
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    p_i, p_f, p_o = tf.split(peepholes, 3, axis=-1)
    i = tf.sigmoid(z_i + p_i * carry)
    f = tf.sigmoid(z_f + p_f * carry)
    g = tf.tanh(z_c)
    new_carry = f * carry + i * g
    o = tf.sigmoid(z_o + p_o * new_carry)
    tanh_carry = tf.tanh(new_carry)
    return o * tanh_carry, new_carry, tf.concat([i, f, g, o], axis=-1), tanh_carry


def peephole_lstm_step_backward(d_hidden, d_carry, gates, carry, tanh_carry, peepholes):
    """Gradients of `peephole_lstm_step`: `(d_z, d_previous_carry,
    d_peepholes)`, the last per batch row `(batch, 3 * units)`."""
    i, f, g, o = tf.split(gates, 4, axis=-1)
    p_i, p_f, p_o = tf.split(peepholes, 3, axis=-1)
    new_carry = f * carry + i * g
    d_o = d_hidden * tanh_carry * o * (1.0 - o)
    d_carry = d_carry + d_hidden * o * (1.0 - tf.square(tanh_carry)) + d_o * p_o
    d_i = d_carry * g * i * (1.0 - i)
    d_f = d_carry * carry * f * (1.0 - f)
    d_z = tf.concat([d_i, d_f, d_carry * i * (1.0 - tf.square(g)), d_o], axis=-1)
    d_previous = d_carry * f + d_i * p_i + d_f * p_f
    d_peepholes = tf.concat([d_i * carry, d_f * carry, d_o * new_carry], axis=-1)
    return d_z, d_previous, d_peepholes


def gru_step(p, q, hidden):
    """One GRU step (Keras `GRUCell`, `reset_after=True`).

    Args:
        p: `(batch, 3 * units)`, `x @ W + b_input` (gates z, r, h).
        q: `(batch, 3 * units)`, `h @ U + b_recurrent`.
        hidden: `(batch, units)`, the previous state.

    Returns:
        `(new_hidden, gates)`: gates `[z, r, candidate, q_h]` concatenated,
        what a backward pass needs besides `hidden`.
    """
    p_z, p_r, p_h = tf.split(p, 3, axis=-1)
    q_z, q_r, q_h = tf.split(q, 3, axis=-1)
    z = tf.sigmoid(p_z + q_z)
    r = tf.sigmoid(p_r + q_r)
    candidate = tf.tanh(p_h + r * q_h)
    new_hidden = z * hidden + (1.0 - z) * candidate
    return new_hidden, tf.concat([z, r, candidate, q_h], axis=-1)


def gru_step_backward(d_hidden, gates, hidden):
    """Gradients of `gru_step`: `(d_p, d_q, d_previous_hidden)`, the last only
    the direct path (not the one through `q`)."""
    z, r, candidate, q_h = tf.split(gates, 4, axis=-1)
    d_candidate = d_hidden * (1.0 - z) * (1.0 - tf.square(candidate))
    d_z = d_hidden * (hidden - candidate) * z * (1.0 - z)
    d_r = d_candidate * q_h * r * (1.0 - r)
    d_p = tf.concat([d_z, d_r, d_candidate], axis=-1)
    d_q = tf.concat([d_z, d_r, d_candidate * r], axis=-1)
    return d_p, d_q, d_hidden * z


class Cell:
    """The math of one cell kind, as the loops use it.

    A loop keeps the cell's state as a list of tensors (`state_names`; the
    hidden state, which is also the output, first), per step computes the
    pre-activations and calls `forward`, and in its backward pass calls
    `backward` with what `forward` saved. `params` are the cell's weights
    other than the kernels and biases (the peepholes), shaped to broadcast
    over the batch; `param_names` names them on the Keras cell.
    """

    name: str
    gates: int
    state_names: tuple
    param_names: tuple = ()
    # Whether only `p + q` matters (one matmul over `[x; h]` may give both).
    merged: bool = True
    # Tensors `forward` saves for `backward`.
    num_saved: int = 3

    @property
    def num_states(self) -> int:
        return len(self.state_names)

    def forward(self, p, q, state, params):
        """`(output, new_state, saved)`; `saved` is a list of `num_saved`
        tensors."""
        raise NotImplementedError

    def backward(self, d_state, saved, hidden, params):
        """From the gradients of the new state (the output's included in
        `d_state[0]`), what `forward` saved and the step's input hidden
        state: `(d_p, d_q, d_previous_state, d_params)`. `d_previous_state`
        is the direct path only (None where there is none): the loop adds the
        one through `q` (`d_q @ U^T`). `d_params` are per batch row."""
        raise NotImplementedError

    def call(self, p, q, state, params):
        """`(output, new_state)`: `forward` without what backward needs."""
        output, new_state, _ = self.forward(p, q, state, params)
        return output, new_state


def _merge(p, q):
    return p if q is None else p + q


class LSTM(Cell):
    name = "lstm"
    gates = 4
    state_names = ("hidden", "carry")

    def forward(self, p, q, state, params):
        hidden, carry, gates, tanh_carry = lstm_step(_merge(p, q), state[1])
        return hidden, [hidden, carry], [gates, state[1], tanh_carry]

    def backward(self, d_state, saved, hidden, params):
        gates, carry, tanh_carry = saved
        d_z, d_carry = lstm_step_backward(
            d_state[0], d_state[1], gates, carry, tanh_carry
        )
        return d_z, d_z, [None, d_carry], []

    def call(self, p, q, state, params):
        hidden, carry = lstm_cell(_merge(p, q), state[1])
        return hidden, [hidden, carry]


class PeepholeLSTM(Cell):
    name = "peephole_lstm"
    gates = 4
    state_names = ("hidden", "carry")
    param_names = ("peepholes",)

    def forward(self, p, q, state, params):
        hidden, carry, gates, tanh_carry = peephole_lstm_step(
            _merge(p, q), state[1], params[0]
        )
        return hidden, [hidden, carry], [gates, state[1], tanh_carry]

    def backward(self, d_state, saved, hidden, params):
        gates, carry, tanh_carry = saved
        d_z, d_carry, d_peepholes = peephole_lstm_step_backward(
            d_state[0], d_state[1], gates, carry, tanh_carry, params[0]
        )
        return d_z, d_z, [None, d_carry], [d_peepholes]


class GRU(Cell):
    name = "gru"
    gates = 3
    state_names = ("hidden",)
    merged = False
    num_saved = 1

    def forward(self, p, q, state, params):
        hidden, gates = gru_step(p, q, state[0])
        return hidden, [hidden], [gates]

    def backward(self, d_state, saved, hidden, params):
        d_p, d_q, d_hidden = gru_step_backward(d_state[0], saved[0], hidden)
        return d_p, d_q, [d_hidden], []


CELLS = {cell.name: cell for cell in (LSTM(), PeepholeLSTM(), GRU())}
CELL_KINDS = tuple(CELLS)


def get(name: str) -> Cell:
    """The `Cell` called `name`; a `ValueError` names the choices."""
    if name not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELL_KINDS)}, got {name!r}")
    return CELLS[name]


def check_stack(num_layers, units, cell, dropout, implementation, implementations):
    """The arguments of a stack of these cells (the encoder's and the
    decoder's): a `ValueError` names the first that is wrong."""
    check_positive_int("num_layers", num_layers)
    check_positive_int("units", units)
    get(cell)
    check_rate("dropout", dropout)
    if implementation not in implementations:
        raise ValueError(
            f"implementation must be one of {implementations}, got {implementation!r}"
        )


def state_size(name: str) -> int:
    """Number of state tensors of one cell `name` (LSTMs: h and c; GRU: h)."""
    return get(name).num_states


@keras.saving.register_keras_serializable(package="nlp_lstm")
class PeepholeLSTMCell(keras.layers.LSTMCell):
    """`keras.layers.LSTMCell` whose gates also see the cell state.

    Adds the weight `peepholes` `(3 * units,)`: the diagonal weights from the
    cell state to the input, forget and output gates, in that order
    (`PEEPHOLE_GATES`), initialized uniform in `[-0.1, 0.1]`. Only the
    defaults of `LSTMCell` are supported (tanh, sigmoid, bias, no dropout
    inside the cell), which is what the package builds.

    Example:
    >>> cell = PeepholeLSTMCell(4)
    >>> layer = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(layer(keras.ops.ones((2, 3, 5))).shape)
    (2, 3, 4)
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        if self.dropout or self.recurrent_dropout or not self.use_bias:
            raise ValueError(
                "PeepholeLSTMCell supports only use_bias=True and no dropout "
                "inside the cell"
            )

    def build(self, input_shape):
        super().build(input_shape)
        self.peepholes = self.add_weight(
            shape=(3 * self.units,),
            name="peepholes",
            initializer=keras.initializers.RandomUniform(-0.1, 0.1),
        )

    def call(self, inputs, states, training=False):
        hidden, carry = states[0], states[1]
        z = (
            tf.matmul(inputs, self.kernel)
            + tf.matmul(hidden, self.recurrent_kernel)
            + self.bias
        )
        hidden, carry, _, _ = peephole_lstm_step(z, carry, self.peepholes)
        return hidden, [hidden, carry]


def keras_cell(kind: str, units: int, **kwargs) -> keras.layers.Layer:
    """The Keras cell that holds the weights of a `kind` cell."""
    get(kind)
    if kind == "lstm":
        return keras.layers.LSTMCell(units, **kwargs)
    if kind == "peephole_lstm":
        return PeepholeLSTMCell(units, **kwargs)
    return keras.layers.GRUCell(units, **kwargs)


def keras_rnn(kind: str, units: int, **kwargs) -> keras.layers.Layer:
    """A Keras RNN layer over a `kind` cell (the Keras `LSTM` and `GRU`
    layers for those, `keras.layers.RNN` over `PeepholeLSTMCell`)."""
    get(kind)
    if kind == "lstm":
        return keras.layers.LSTM(units, **kwargs)
    if kind == "gru":
        return keras.layers.GRU(units, **kwargs)
    return keras.layers.RNN(PeepholeLSTMCell(units), **kwargs)


def cell_weights(cell) -> dict:
    """The weights of a built Keras cell in the package's terms: `kernel`,
    `recurrent_kernel`, `bias` (the input bias), `recurrent_bias` (GRU only,
    else None) and `params` (the `Cell`'s extra weights, a list)."""
    bias, recurrent_bias = cell.bias, None
    if isinstance(cell, keras.layers.GRUCell):
        if not cell.reset_after:
            raise ValueError("only GRU cells with reset_after=True are supported")
        bias, recurrent_bias = cell.bias[0], cell.bias[1]
    params = [cell.peepholes] if isinstance(cell, PeepholeLSTMCell) else []
    return {
        "kernel": cell.kernel,
        "recurrent_kernel": cell.recurrent_kernel,
        "bias": bias,
        "recurrent_bias": recurrent_bias,
        "params": params,
    }


def cell_kind(cell) -> str:
    """The `CELLS` name of a Keras cell built by `keras_cell`."""
    if isinstance(cell, PeepholeLSTMCell):
        return "peephole_lstm"
    if isinstance(cell, keras.layers.LSTMCell):
        return "lstm"
    if isinstance(cell, keras.layers.GRUCell):
        return "gru"
    raise ValueError(f"not a cell of the package: {type(cell).__name__}")
