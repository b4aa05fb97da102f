"""`AttentionDecoder`'s teacher-forcing implementations against its `step`:
the step loop equals calling `step` in a Python loop, and the fused loop
equals the step loop, outputs, final states and gradients."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.layers.attention import ATTENTIONS
from nlp_lstm.layers.decoder import AttentionDecoder

BATCH, TIME, SOURCE, EMBEDDING, UNITS = 3, 4, 6, 7, 5
# The second sentence has 3 real source tokens, the third 1.
SOURCE_MASK = np.arange(SOURCE)[None, :] < np.array([[SOURCE], [3], [1]])


def decoder_and_inputs(implementation, attention, cell="lstm", input_feeding=True,
                       num_layers=2):
    """A built decoder and `(inputs, initial_state, memory, mask)`, all the
    same for a given configuration whatever the implementation."""
    keras.utils.set_random_seed(6)
    decoder = AttentionDecoder(
        num_layers=num_layers,
        units=UNITS,
        cell=cell,
        attention=attention,
        input_feeding=input_feeding,
        implementation=implementation,
    )
    rng = np.random.default_rng(9)
    # luong_dot needs the memory as wide as the decoder.
    memory_dim = UNITS if attention == "luong_dot" else UNITS + 2
    inputs = tf.constant(rng.normal(size=(BATCH, TIME, EMBEDDING)), tf.float32)
    memory = tf.constant(rng.normal(size=(BATCH, SOURCE, memory_dim)), tf.float32)
    decoder.build(inputs.shape, memory.shape)
    cell_states = [
        tf.constant(rng.normal(size=(BATCH, UNITS)) * 0.5, tf.float32)
        for _ in range(num_layers * decoder.states_per_layer)
    ]
    state = decoder.initial_state(cell_states)
    # A nonzero previous attentional vector, so that its gradient shows.
    state[-1] = tf.constant(rng.normal(size=(BATCH, UNITS)) * 0.5, tf.float32)
    return decoder, (inputs, state, memory, tf.constant(SOURCE_MASK))


def outputs_states_and_gradients(decoder, inputs, state, memory, mask):
    """Teacher forcing, and the gradients of a loss over the outputs and the
    final states w.r.t. every weight, the memory and every initial state."""
    rng = np.random.default_rng(4)
    with tf.GradientTape() as tape:
        tape.watch([memory, *state])
        outputs, final = decoder(inputs, state, memory, mask=mask, training=True)
        loss = tf.reduce_sum(outputs * rng.normal(size=outputs.shape))
        for tensor in final:
            loss += tf.reduce_sum(tensor * rng.normal(size=tensor.shape))
    sources = [*decoder.trainable_variables, memory, *state]
    gradients = tape.gradient(loss, sources)
    # An unused input (the fed vector without input feeding) gets None from
    # autodiff and zeros from the fused loop.
    gradients = [
        np.zeros(s.shape) if g is None else np.asarray(g)
        for s, g in zip(sources, gradients)
    ]
    return outputs, final, gradients


CELLS = ("lstm", "peephole_lstm", "gru")
# (weights per cell, states per cell)
CELL_SHAPES = {"lstm": (3, 2), "peephole_lstm": (4, 2), "gru": (3, 1)}
# Every attention, feeding and depth, each with one cell in turn, and every
# cell in the deepest case.
FUSED_CASES = [
    (*case, cell)
    for case, cell in zip(
        itertools.product(["luong_dot", "luong_general"], [True, False], [1, 2]),
        itertools.cycle(CELLS),
    )
] + [("luong_general", True, 2, cell) for cell in CELLS]


@pytest.mark.parametrize("attention, input_feeding, num_layers, cell", FUSED_CASES)
def test_fused_loop_equals_step_loop(attention, input_feeding, num_layers, cell):
    results = []
    for implementation in ("fused", "steps"):
        decoder, args = decoder_and_inputs(
            implementation, attention, cell=cell, input_feeding=input_feeding,
            num_layers=num_layers,
        )
        assert decoder.uses_fused_loop == (implementation == "fused")
        results.append(outputs_states_and_gradients(decoder, *args))
    (fused, fused_final, fused_grads), (steps, steps_final, steps_grads) = results
    num_weights, num_states = CELL_SHAPES[cell]
    np.testing.assert_allclose(fused, steps, atol=1e-5)
    assert len(fused_final) == len(steps_final) == num_states * num_layers + 1
    for a, b in zip(fused_final, steps_final):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # Weights (cells, attention, projection), memory, initial states.
    expected = num_weights * num_layers + (attention == "luong_general") + 1 + 1
    states = num_states * num_layers + 1
    assert len(fused_grads) == len(steps_grads) == expected + states
    for a, b in zip(fused_grads, steps_grads):
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-5)
    assert np.any(fused_grads[-1]) == input_feeding
    # Padded memory positions get no gradient.
    memory_grad = fused_grads[-(states + 1)]
    assert not np.any(memory_grad[2, 1:]) and np.any(memory_grad[2, 0])


STEP_CASES = list(
    itertools.product(sorted(ATTENTIONS), CELLS, [True, False], [1, 2])
)


@pytest.mark.parametrize("attention, cell, input_feeding, num_layers", STEP_CASES)
def test_step_loop_equals_calling_step(attention, cell, input_feeding, num_layers):
    decoder, (inputs, state, memory, mask) = decoder_and_inputs(
        "steps", attention, cell, input_feeding, num_layers
    )
    outputs, final = decoder(inputs, state, memory, mask=mask)
    keys = decoder.prepare(memory)
    for t in range(TIME):
        output, state, _ = decoder.step(inputs[:, t], state, memory, keys, mask=mask)
        np.testing.assert_allclose(outputs[:, t], output, atol=1e-6)
    assert len(final) == len(state)
    for a, b in zip(final, state):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize(
    "attention, cell, fused",
    [
        ("luong_general", "lstm", True),
        ("luong_dot", "lstm", True),
        ("bahdanau", "lstm", False),
        ("luong_general", "gru", True),
        ("luong_dot", "peephole_lstm", True),
        ("bahdanau", "gru", False),
    ],
)
def test_auto_picks_the_fused_loop_where_allowed(attention, cell, fused):
    decoder = AttentionDecoder(units=UNITS, cell=cell, attention=attention)
    assert decoder.implementation == "auto"
    assert decoder.uses_fused_loop == fused


@pytest.mark.parametrize("cell", CELLS)
def test_fused_rejects_what_it_does_not_compute(cell):
    with pytest.raises(ValueError, match="fused.*attention='bahdanau'"):
        AttentionDecoder(cell=cell, attention="bahdanau", implementation="fused")


@pytest.mark.parametrize("transposed", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_inference_weights_step_equals_the_keras_cells_step(cell, transposed):
    """`step` with `inference_weights` (the cells' math on weights read once,
    LSTM kernels kept transposed or as they are) equals `step` through the
    Keras cells."""
    decoder, (inputs, state, memory, mask) = decoder_and_inputs(
        "steps", "luong_general", cell
    )
    keys = decoder.prepare(memory)
    weights = decoder.inference_weights(transposed)
    # The merged LSTM kernel is in the layout asked for.
    merged = cell != "gru"
    for layer in weights:
        assert (layer.get("kernel_t") is not None) == (merged and transposed)
        assert (layer["kernel"] is None) == (merged and transposed)
    for t in range(TIME):
        expected, expected_state, _ = decoder.step(
            inputs[:, t], state, memory, keys, mask=mask
        )
        output, new_state, _ = decoder.step(
            inputs[:, t], state, memory, keys, mask=mask, weights=weights
        )
        np.testing.assert_allclose(output, expected, atol=1e-6)
        for a, b in zip(new_state, expected_state, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
        state = new_state


@pytest.mark.parametrize("attention", sorted(ATTENTIONS))
def test_a_grouped_step_equals_the_step_over_repeated_memory(attention):
    """`step(..., group=k)`: `k` consecutive rows a memory row (a beam's
    hypotheses over their sentence's memory) give the outputs, states and
    attention weights of the step over the memory repeated `k` times."""
    k = 4
    decoder, (inputs, state, memory, mask) = decoder_and_inputs("steps", attention)
    keys = decoder.prepare(memory)

    def repeat(tensor):
        return tf.repeat(tensor, k, axis=0)

    rng = np.random.default_rng(3)
    # Each hypothesis its own inputs and states.
    rows = [
        tf.constant(rng.normal(size=(BATCH * k, tensor.shape[-1])), tf.float32)
        for tensor in [inputs[:, 0], *state]
    ]
    expected = decoder.step(
        rows[0], rows[1:], repeat(memory), repeat(keys), mask=repeat(mask)
    )
    grouped = decoder.step(rows[0], rows[1:], memory, keys, mask=mask, group=k)
    np.testing.assert_allclose(grouped[0], expected[0], atol=1e-6)
    for a, b in zip(grouped[1], expected[1], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert grouped[2].shape == (BATCH * k, SOURCE)
    np.testing.assert_allclose(grouped[2], expected[2], atol=1e-6)


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("transposed", [True, False])
@pytest.mark.parametrize("cell", [cell for cell in CELLS if cell != "gru"])
def test_a_step_that_looks_up_its_input_table_equals_the_step(
    cell, transposed, input_feeding
):
    """With `input_embeddings`, `step` takes token ids and looks up the first
    cell's product with their embeddings: the same outputs and states as
    the step given the embeddings."""
    decoder, (_, state, memory, mask) = decoder_and_inputs(
        "steps", "luong_general", cell, input_feeding=input_feeding
    )
    keys = decoder.prepare(memory)
    rng = np.random.default_rng(2)
    embeddings = tf.constant(rng.normal(size=(11, EMBEDDING)), tf.float32)
    plain = decoder.inference_weights(transposed)
    looked_up = decoder.inference_weights(transposed, input_embeddings=embeddings)
    assert looked_up[0]["input_table"].shape == (11, 4 * UNITS)
    assert all("input_table" not in layer for layer in plain + looked_up[1:])
    for t in range(TIME):
        ids = tf.constant(rng.integers(0, 11, size=BATCH), tf.int32)
        expected, expected_state, _ = decoder.step(
            tf.gather(embeddings, ids), state, memory, keys, mask=mask, weights=plain
        )
        output, new_state, _ = decoder.step(
            ids, state, memory, keys, mask=mask, weights=looked_up
        )
        np.testing.assert_allclose(output, expected, atol=1e-5)
        for a, b in zip(new_state, expected_state, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
        state = new_state


def test_an_input_table_needs_an_lstm_family_cell():
    decoder, _ = decoder_and_inputs("steps", "luong_general", "gru")
    with pytest.raises(ValueError, match="input_embeddings needs an LSTM-family"):
        decoder.inference_weights(input_embeddings=tf.zeros([11, EMBEDDING]))


def test_unknown_implementation_is_rejected():
    with pytest.raises(ValueError, match="implementation .*got 'cudnn'"):
        AttentionDecoder(implementation="cudnn")


def test_implementation_is_serialized():
    decoder = AttentionDecoder(units=UNITS, implementation="steps")
    rebuilt = AttentionDecoder.from_config(decoder.get_config())
    assert rebuilt.implementation == "steps" and not rebuilt.uses_fused_loop
