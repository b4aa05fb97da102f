"""Edits of the fused LSTMs of a converted `.tflite`: peephole weights, and
no cell clip.

The converter gives every `UNIDIRECTIONAL_SEQUENCE_LSTM` a cell clip of 10
(`cell_clip` in its options), which Keras does not have: a cell state past
10 that later shrinks would then give other outputs than the SavedModel.
`remove_cell_clip` sets it to 0 (no clipping in `lstm_eval.cc`).

`UNIDIRECTIONAL_SEQUENCE_LSTM` has optional peephole inputs (9
`cell_to_input`, 10 `cell_to_forget`, 11 `cell_to_output`, each `[units]`, a
diagonal matrix) and computes, in `tensorflow/lite/kernels/lstm_eval.cc`,

    i = sigmoid(z_i + p_i * c_{t-1});  f = sigmoid(z_f + p_f * c_{t-1})
    c_t = f * c_{t-1} + i * tanh(z_g);  o = sigmoid(z_o + p_o * c_t)
    h_t = o * tanh(c_t)

but the converter cannot produce them: its Keras-LSTM composite
(`fused_lstm.fused_lstm_function`) takes exactly six arguments and leaves the
peephole inputs empty. So a peephole LSTM is converted without them and they
are written into the flatbuffer afterwards: one new buffer and tensor per
vector, set as the op's inputs 9, 10 and 11.

The kernel reads the peepholes in the type of the op's weights
(`unidirectional_sequence_lstm.cc` dispatches on the type of
`input_to_output_weights`, and its `Prepare` refuses peepholes whose type is
not that of `input_to_forget_weights`):

- float32 weights (`quantize="none"`, and `"float16"`, whose float16 weights
  reach the op through `DEQUANTIZE` ops as float32 tensors): float32
  peepholes.
- int8 weights with float activations (the hybrid kernel of
  `"dynamic-int8"`): int8 peepholes with one per-tensor scale
  (`params.scale`, multiplied in by `VectorScalarMultiply`) and zero point 0.
  The converter quantizes a fused LSTM's weights only when each gate's
  matrices have at least 1024 elements; smaller LSTMs of such a file stay
  float32 and get float32 peepholes.

Fully integer LSTMs (int8 activations, int16 peepholes with effective
scales) are refused; the package does not produce them.
"""

from __future__ import annotations

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

# Inputs of UNIDIRECTIONAL_SEQUENCE_LSTM (`lstm_shared.h`).
_INPUT = 0
_INPUT_TO_FORGET = 2
_INPUT_TO_OUTPUT = 4
_RECURRENT = (5, 6, 7, 8)  # recurrent_to_{input, forget, cell, output}
PEEPHOLE_INPUTS = (9, 10, 11)  # cell_to_{input, forget, output}
_PEEPHOLE_NAMES = ("cell_to_input", "cell_to_forget", "cell_to_output")

# A fused op matches a recurrent kernel when its recurrent weights differ from
# it by at most this fraction of the kernel's largest magnitude: int8 weights
# are off by at most half a step (1/254 of their gate's largest magnitude),
# float16 ones by 2^-11 relatively; different layers' kernels by far more.
MATCH_TOLERANCE = 1e-2

_TYPE_NAMES = {
    value: name for name, value in vars(schema.TensorType).items()
    if not name.startswith("_")
}


def add_peepholes(model_bytes: bytes, peepholes) -> bytes:
    """Adds peephole weights to fused LSTMs of a converted `.tflite`.

    Each entry names its ops by the Keras recurrent kernel of the layer they
    were converted from: the ops whose `recurrent_to_*` weights (dequantized
    where they are quantized) equal that kernel within `MATCH_TOLERANCE`, at
    most one per subgraph (each signature of a file is a subgraph with its
    own copy of the layer). Ops that get no peepholes are left as they are.

    Args:
        model_bytes: bytes. A `.tflite` from `convert.convert`.
        peepholes: list of `(recurrent_kernel, weights)`: the float32
            `(units, 4 * units)` Keras recurrent kernel of the op's layer
            (gate order i, f, g, o), and the float32 `(3, units)` peephole
            rows `p_i`, `p_f`, `p_o`.

    Returns:
        The new file's bytes.

    Raises:
        ValueError: an entry has the wrong shape, matches no fused op or
            several in one subgraph (same recurrent weights), two entries
            match one op, the
            op already has peepholes, or its weight type takes no peepholes
            here (float16 weights fed to the op directly, a fully integer
            LSTM).
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    fused = _fused_ops(model)
    chosen = {}  # (subgraph, op) -> entry number
    additions = []
    for number, (recurrent_kernel, weights) in enumerate(peepholes):
        recurrent_kernel = np.asarray(recurrent_kernel, np.float32)
        weights = np.asarray(weights, np.float32)
        units = recurrent_kernel.shape[0] if recurrent_kernel.ndim == 2 else -1
        if recurrent_kernel.shape != (units, 4 * units) or units < 1:
            raise ValueError(
                f"peepholes[{number}]: the recurrent kernel must have shape "
                f"(units, 4 * units), got {recurrent_kernel.shape}"
            )
        if weights.shape != (3, units):
            raise ValueError(
                f"peepholes[{number}]: the peephole weights must have shape "
                f"(3, units) = (3, {units}) (rows p_i, p_f, p_o), got "
                f"{weights.shape}"
            )
        if not np.all(np.isfinite(weights)):
            raise ValueError(f"peepholes[{number}]: non-finite peephole weights")
        for key in _match(fused, recurrent_kernel, number):
            if key in chosen:
                raise ValueError(
                    f"peepholes[{chosen[key]}] and peepholes[{number}] both match "
                    f"the fused LSTM {_where(key)}"
                )
            chosen[key] = number
            additions.append((key, weights))
    for (subgraph_index, op_index), weights in additions:
        _attach(model, subgraph_index, op_index, weights)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def remove_cell_clip(model_bytes: bytes) -> bytes:
    """The file with every fused LSTM's `cell_clip` set to 0 (none), as Keras
    computes."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    for _, op, _ in _fused_ops(model):
        op.builtinOptions.cellClip = 0.0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _fused_ops(model) -> list:
    """`((subgraph, op), op, recurrent weights or None)` of every fused LSTM
    in every subgraph (loop bodies included). The recurrent weights are
    `(4, units, units)` float32, `[gate, cell, output]` as the kernel stores
    them; None where they are not constants of the file."""
    codes = [
        max(code.builtinCode, code.deprecatedBuiltinCode)
        for code in model.operatorCodes
    ]
    lstm = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    fused = []
    for subgraph_index, subgraph in enumerate(model.subgraphs):
        producers = {
            int(output): op for op in subgraph.operators for output in op.outputs
        }
        for op_index, op in enumerate(subgraph.operators):
            if codes[op.opcodeIndex] != lstm:
                continue
            gates = [
                _constant(model, subgraph, producers, int(op.inputs[index]), codes)
                for index in _RECURRENT
            ]
            recurrent = None
            if all(gate is not None for gate in gates) and len(
                {gate.shape for gate in gates}
            ) == 1:
                recurrent = np.stack(gates)
            fused.append(((subgraph_index, op_index), op, recurrent))
    return fused


def _constant(model, subgraph, producers, tensor_index, codes):
    """The float32 value of a constant tensor: its buffer, dequantized if it
    is int8 or float16, or the input of the `DEQUANTIZE` op that makes it.
    None if it is no such constant."""
    if tensor_index < 0:
        return None
    tensor = subgraph.tensors[tensor_index]
    data = model.buffers[tensor.buffer].data if tensor.buffer > 0 else None
    if data is None or len(data) == 0:
        producer = producers.get(tensor_index)
        if (
            producer is not None
            and codes[producer.opcodeIndex] == schema.BuiltinOperator.DEQUANTIZE
        ):
            return _constant(model, subgraph, producers, int(producer.inputs[0]), codes)
        return None
    raw = np.asarray(data, np.uint8).tobytes()
    shape = [int(size) for size in tensor.shape]
    if tensor.type == schema.TensorType.FLOAT32:
        return np.frombuffer(raw, np.float32).reshape(shape)
    if tensor.type == schema.TensorType.FLOAT16:
        return np.frombuffer(raw, np.float16).astype(np.float32).reshape(shape)
    if tensor.type == schema.TensorType.INT8 and tensor.quantization is not None:
        scale = np.asarray(tensor.quantization.scale, np.float32)
        zero = np.asarray(
            tensor.quantization.zeroPoint
            if tensor.quantization.zeroPoint is not None
            else np.zeros_like(scale),
            np.float32,
        )
        values = np.frombuffer(raw, np.int8).astype(np.float32).reshape(shape)
        if scale.size > 1:  # per channel
            axis = tensor.quantization.quantizedDimension
            broadcast = [1] * len(shape)
            broadcast[axis] = scale.size
            scale, zero = scale.reshape(broadcast), zero.reshape(broadcast)
        return (values - zero) * scale
    return None


def _match(fused, recurrent_kernel, number) -> list:
    """The `(subgraph, op)` of each fused LSTM whose recurrent weights are
    `recurrent_kernel`; raises if none is, or several in one subgraph."""
    units = recurrent_kernel.shape[0]
    # Keras `(output, gate * units + cell)` -> the kernel's `[gate, cell, output]`.
    expected = recurrent_kernel.reshape(units, 4, units).transpose(1, 2, 0)
    magnitude = max(float(np.max(np.abs(expected))), 1e-12)
    distances = []
    for key, _, recurrent in fused:
        if recurrent is not None and recurrent.shape == expected.shape:
            distances.append(
                (float(np.max(np.abs(recurrent - expected))) / magnitude, key)
            )
    distances.sort()
    matches = [key for distance, key in distances if distance <= MATCH_TOLERANCE]
    if not matches:
        closest = (
            f"; the closest with {units} units is {_where(distances[0][1])}, "
            f"off by {distances[0][0]:.3g} of the kernel's largest weight"
            if distances else f"; none has {units} units"
        )
        raise ValueError(
            f"peepholes[{number}]: no UNIDIRECTIONAL_SEQUENCE_LSTM of the model "
            f"({len(fused)} fused ops) has this recurrent kernel{closest}; pass "
            "the recurrent kernel of the layer that was converted"
        )
    subgraphs = [key[0] for key in matches]
    if len(set(subgraphs)) < len(subgraphs):
        raise ValueError(
            f"peepholes[{number}]: the recurrent kernel matches {len(matches)} "
            f"fused LSTMs ({', '.join(_where(key) for key in matches)}), which "
            "share their recurrent weights; cannot tell which one gets the "
            "peepholes"
        )
    return matches


def _where(key) -> str:
    return f"(subgraph {key[0]}, op {key[1]})"


def _attach(model, subgraph_index, op_index, weights) -> None:
    """Adds the three peephole tensors to one fused op, in the type its
    weights need."""
    subgraph = model.subgraphs[subgraph_index]
    op = subgraph.operators[op_index]
    where = _where((subgraph_index, op_index))
    inputs = [int(index) for index in op.inputs]
    if any(inputs[index] >= 0 for index in PEEPHOLE_INPUTS):
        raise ValueError(f"the fused LSTM {where} already has peephole weights")
    input_type = subgraph.tensors[inputs[_INPUT]].type
    weight_type = subgraph.tensors[inputs[_INPUT_TO_FORGET]].type
    if subgraph.tensors[inputs[_INPUT_TO_OUTPUT]].type != weight_type:
        raise ValueError(f"the fused LSTM {where} mixes weight types")
    if input_type != schema.TensorType.FLOAT32:
        raise ValueError(
            f"the fused LSTM {where} is fully integer ({_TYPE_NAMES.get(input_type)} "
            "activations, whose kernel takes int16 peepholes with effective "
            "scales): adding peepholes is supported for float32 weights "
            '(quantize "none" and "float16") and int8 weights with float '
            'activations ("dynamic-int8") only'
        )
    if weight_type not in (schema.TensorType.FLOAT32, schema.TensorType.INT8):
        raise ValueError(
            f"the fused LSTM {where} has {_TYPE_NAMES.get(weight_type)} weights; "
            "its kernel reads float32 or int8 (dynamic-int8 hybrid) weights, and "
            "peepholes of the same type"
        )
    output_name = subgraph.tensors[int(op.outputs[0])].name
    if isinstance(output_name, bytes):
        output_name = output_name.decode()
    for row, (index, name) in enumerate(zip(PEEPHOLE_INPUTS, _PEEPHOLE_NAMES)):
        values = weights[row]
        tensor = schema.TensorT()
        tensor.shape = np.array([values.size], np.int32)
        tensor.name = f"{output_name}/peephole_{name}"
        tensor.isVariable = False
        tensor.hasRank = True
        if weight_type == schema.TensorType.INT8:
            # Symmetric, one scale: the hybrid kernel multiplies the int8
            # values by `params.scale` and ignores zero points.
            peak = float(np.max(np.abs(values)))
            scale = peak / 127.0 if peak > 0 else 1.0
            data = np.clip(np.round(values / scale), -127, 127).astype(np.int8)
            tensor.type = schema.TensorType.INT8
            tensor.quantization = schema.QuantizationParametersT()
            tensor.quantization.scale = [scale]
            tensor.quantization.zeroPoint = [0]
            tensor.quantization.quantizedDimension = 0
        else:
            data = values.astype(np.float32)
            tensor.type = schema.TensorType.FLOAT32
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data.tobytes(), np.uint8)
        tensor.buffer = len(model.buffers)
        model.buffers.append(buffer)
        inputs[index] = len(subgraph.tensors)
        subgraph.tensors.append(tensor)
    op.inputs = np.array(inputs, np.int32)
