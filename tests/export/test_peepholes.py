"""export.tflite.peepholes: peephole weights written into converted fused
LSTMs run in the TFLite interpreter and equal a NumPy peephole LSTM."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from nlp_lstm.export.tflite import convert as convert_lib
from nlp_lstm.export.tflite.fused_lstm import fused_lstm_function
from nlp_lstm.export.tflite.peepholes import PEEPHOLE_INPUTS, add_peepholes

FEATURES = 3
# The fused op clips its cell state at this (the converter sets cell_clip).
CELL_CLIP = 10.0


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def peephole_lstm(x, kernel, recurrent_kernel, bias, peepholes=None):
    """NumPy LSTM with peepholes (Gers & Schmidhuber; Keras gate order i, f,
    g, o) over `x (batch, time, features)` from zero states: the outputs."""
    units = recurrent_kernel.shape[0]
    p_i, p_f, p_o = np.zeros((3, units)) if peepholes is None else peepholes
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        z_i, z_f, z_g, z_o = np.split(z, 4, axis=-1)
        i = sigmoid(z_i + p_i * c)
        f = sigmoid(z_f + p_f * c)
        c = f * c + i * np.tanh(z_g)
        o = sigmoid(z_o + p_o * c)
        h = o * np.tanh(c)
        assert np.max(np.abs(c)) < CELL_CLIP  # the op's clipping plays no part
        outputs.append(h)
    return np.stack(outputs, axis=1)


def random_layer(rng, features, units, scale=0.5):
    """`(kernel, recurrent_kernel, bias)`, float32."""
    return (
        rng.normal(0.0, scale, (features, 4 * units)).astype(np.float32),
        rng.normal(0.0, scale, (units, 4 * units)).astype(np.float32),
        rng.normal(0.0, 0.5, (4 * units,)).astype(np.float32),
    )


def random_peepholes(rng, units):
    return rng.normal(0.0, 0.5, (3, units)).astype(np.float32)


def lstm_module(layers, features=FEATURES):
    """A module whose `run(x (1, time, features))` chains one fused LSTM per
    `(kernel, recurrent_kernel, bias)` of `layers`."""
    functions = [
        fused_lstm_function(1, recurrent.shape[0]) for _, recurrent, _ in layers
    ]

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, features], tf.float32)])
        def run(self, x):
            for function, (kernel, recurrent, bias) in zip(functions, layers):
                zeros = tf.zeros((1, recurrent.shape[0]))
                x = function(
                    x, zeros, zeros, tf.constant(kernel), tf.constant(recurrent),
                    tf.constant(bias),
                )[1]
            return {"outputs": x}

    return Module()


def convert(module, quantize="none"):
    return convert_lib.convert(
        module, [module.run.get_concrete_function()], quantize=quantize
    )


def run(data, **inputs):
    """The outputs of one call on a fresh interpreter (the fused op keeps its
    states between invocations)."""
    with warnings.catch_warnings():
        # tf.lite.Interpreter warns that it is deprecated.
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=data, num_threads=1)
    return interpreter.get_signature_runner()(**inputs)["outputs"]


def fused_ops(data):
    """`(subgraph index, subgraph, op)` of every fused LSTM of a file."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    found = []
    for index, subgraph in enumerate(model.subgraphs):
        for op in subgraph.operators:
            name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
            if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
                found.append((index, subgraph, op))
    return found


def peephole_types(data):
    """The tensor types of inputs 9-11 of each fused op (None: absent)."""
    return [
        [subgraph.tensors[op.inputs[i]].type if op.inputs[i] >= 0 else None
         for i in PEEPHOLE_INPUTS]
        for _, subgraph, op in fused_ops(data)
    ]


def inputs(rng, length, features=FEATURES):
    return rng.normal(0.0, 1.0, (1, length, features)).astype(np.float32)


@pytest.fixture(scope="module")
def single():
    """One converted float LSTM: `(data, layer, peepholes)`."""
    rng = np.random.RandomState(0)
    layer = random_layer(rng, FEATURES, 5)
    return convert(lstm_module([layer])), layer, random_peepholes(rng, 5)


def test_float_peepholes_equal_the_numpy_reference(single):
    data, layer, peepholes = single
    result = add_peepholes(data, [(layer[1], peepholes)])
    assert peephole_types(data) == [[None] * 3]
    assert peephole_types(result) == [[schema.TensorType.FLOAT32] * 3]
    rng = np.random.RandomState(1)
    for length in (7, 2, 9):  # dynamic time
        x = inputs(rng, length)
        expected = peephole_lstm(x, *layer, peepholes)
        plain = run(data, x=x)
        # Without the peepholes the file is the plain LSTM, not the reference.
        np.testing.assert_allclose(plain, peephole_lstm(x, *layer), atol=1e-5)
        assert np.max(np.abs(plain - expected)) > 1e-2
        np.testing.assert_allclose(run(result, x=x), expected, atol=1e-5)


def test_only_the_matched_lstm_gets_peepholes():
    rng = np.random.RandomState(2)
    first, second = random_layer(rng, FEATURES, 4), random_layer(rng, 4, 6)
    first_peepholes = random_peepholes(rng, 4)
    second_peepholes = random_peepholes(rng, 6)
    data = convert(lstm_module([first, second]))
    x = inputs(rng, 6)

    def reference(first_p, second_p):
        return peephole_lstm(peephole_lstm(x, *first, first_p), *second, second_p)

    result = add_peepholes(data, [(second[1], second_peepholes)])
    (_, _, before), _ = fused_ops(data)
    (_, _, after), _ = fused_ops(result)
    np.testing.assert_array_equal(after.inputs, before.inputs)  # left as it was
    assert sorted(map(str, peephole_types(result))) == sorted(
        map(str, [[None] * 3, [schema.TensorType.FLOAT32] * 3])
    )
    np.testing.assert_allclose(
        run(result, x=x), reference(None, second_peepholes), atol=1e-5
    )
    assert np.max(np.abs(run(result, x=x) - reference(None, None))) > 1e-2

    # Both, listed in the other order than the ops.
    both = add_peepholes(
        data, [(second[1], second_peepholes), (first[1], first_peepholes)]
    )
    np.testing.assert_allclose(
        run(both, x=x), reference(first_peepholes, second_peepholes), atol=1e-5
    )


def test_lstms_in_a_loop_body_get_peepholes():
    # A fused LSTM in a tf.while_loop sits in the WHILE body's subgraph.
    rng = np.random.RandomState(3)
    layer = random_layer(rng, 4, 4)
    peepholes = random_peepholes(rng, 4)
    function = fused_lstm_function(1, 4)

    class Module(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([1, None, 4], tf.float32), tf.TensorSpec([], tf.int32)
        ])
        def run(self, x, n):
            # Two equal zero constants as h0 and c0 become ONE variable tensor
            # in a loop body (the op's two states then alias, and its outputs
            # are wrong with or without peepholes); -0.0 keeps them apart.
            h0 = tf.zeros((1, 4))
            c0 = tf.fill((1, 4), -0.0)

            def body(i, y):
                return i + 1, function(y, h0, c0, *map(tf.constant, layer))[1]

            _, y = tf.while_loop(lambda i, y: i < n, body, (tf.constant(0), x))
            return {"outputs": y}

    data = convert(Module())
    [(subgraph_index, subgraph, op)] = fused_ops(data)
    assert subgraph_index > 0
    assert op.inputs[18] != op.inputs[19]
    result = add_peepholes(data, [(layer[1], peepholes)])
    assert peephole_types(result) == [[schema.TensorType.FLOAT32] * 3]
    x = inputs(rng, 5, features=4)
    expected = peephole_lstm(x, *layer, peepholes)
    n = np.array(1, np.int32)
    np.testing.assert_allclose(run(result, x=x, n=n), expected, atol=1e-5)
    assert np.max(np.abs(run(data, x=x, n=n) - expected)) > 1e-2


def test_unknown_ambiguous_or_malformed_peepholes_are_refused(single):
    data, layer, peepholes = single
    rng = np.random.RandomState(5)
    wrong = rng.normal(0.0, 0.5, layer[1].shape).astype(np.float32)
    with pytest.raises(ValueError, match="no UNIDIRECTIONAL_SEQUENCE_LSTM.*closest"):
        add_peepholes(data, [(wrong, peepholes)])
    # A small change of one weight already tells layers apart.
    close = layer[1].copy()
    close[0, 0] += 0.1
    with pytest.raises(ValueError, match="no UNIDIRECTIONAL_SEQUENCE_LSTM"):
        add_peepholes(data, [(close, peepholes)])
    with pytest.raises(ValueError, match="none has 6 units"):
        add_peepholes(data, [(np.zeros((6, 24), np.float32), np.zeros((3, 6)))])
    with pytest.raises(ValueError, match=r"shape \(3, units\)"):
        add_peepholes(data, [(layer[1], peepholes[:2])])
    with pytest.raises(ValueError, match=r"shape \(units, 4 \* units\)"):
        add_peepholes(data, [(layer[1][:, :8], peepholes)])
    with pytest.raises(ValueError, match="both match"):
        add_peepholes(data, [(layer[1], peepholes), (layer[1], peepholes)])
    once = add_peepholes(data, [(layer[1], peepholes)])
    with pytest.raises(ValueError, match="already has peephole weights"):
        add_peepholes(once, [(layer[1], peepholes)])

    # Two ops with the same recurrent kernel cannot be told apart.
    kernel, recurrent, bias = layer
    shared = convert(lstm_module([
        layer, (rng.normal(0.0, 0.5, (5, 20)).astype(np.float32), recurrent, bias)
    ]))
    with pytest.raises(ValueError, match="matches 2 fused LSTMs"):
        add_peepholes(shared, [(recurrent, peepholes)])


# Max abs errors against the NumPy reference, measured over seeds 6-10 and
# 3 to 20 steps: float16 1.4e-3 (9e-5 on this test's inputs); dynamic-int8
# (hybrid kernel: int8 weights and peepholes, activations quantized on the
# fly) 1.8e-2. Without the peepholes the outputs are off by 2.5e-2 or more.
@pytest.mark.parametrize(
    "quantize, units, features, scale, peephole_type, tolerance",
    [
        ("float16", 5, FEATURES, 0.5, schema.TensorType.FLOAT32, 3e-3),
        # Each gate's weight matrices have >= 1024 elements: quantized.
        ("dynamic-int8", 32, 32, 0.2, schema.TensorType.INT8, 4e-2),
        # Smaller LSTMs keep float32 weights in a dynamic-int8 file.
        ("dynamic-int8", 5, FEATURES, 0.5, schema.TensorType.FLOAT32, 1e-5),
    ],
)
def test_quantized_files_take_peepholes(
    quantize, units, features, scale, peephole_type, tolerance
):
    rng = np.random.RandomState(6)
    layer = random_layer(rng, features, units, scale)
    peepholes = random_peepholes(rng, units)
    data = convert(lstm_module([layer], features), quantize)
    result = add_peepholes(data, [(layer[1], peepholes)])
    assert peephole_types(result) == [[peephole_type] * 3]
    if peephole_type == schema.TensorType.INT8:
        [(_, subgraph, op)] = fused_ops(result)
        for index, row in zip(PEEPHOLE_INPUTS, peepholes):
            quantization = subgraph.tensors[op.inputs[index]].quantization
            assert list(quantization.zeroPoint) == [0]
            np.testing.assert_allclose(quantization.scale, [np.abs(row).max() / 127])
    for length in (6, 3):
        x = inputs(rng, length, features)
        expected = peephole_lstm(x, *layer, peepholes)
        np.testing.assert_allclose(run(result, x=x), expected, atol=tolerance)
        assert np.max(np.abs(run(data, x=x) - expected)) > 2 * tolerance
