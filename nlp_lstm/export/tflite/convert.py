"""TFLite conversion, quantization, the op list of a file, and its metadata."""

from __future__ import annotations

import collections
import json
import os

from ai_edge_litert import schema_py_generated as schema

from nlp_lstm.utils.files import atomic_write_bytes, atomic_write_json

QUANTIZATIONS = ("none", "float16", "dynamic-int8")
TOKENIZERS = ("app", "in-graph")
FUSED_LSTM_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"
TFTEXT_TOKENIZE_OP = "TFText>FastSentencepieceTokenize"


def convert(module, functions: list, quantize: str = "none",
            custom_ops: bool = False) -> bytes:
    """Converts concrete functions of `module` to a builtin-only `.tflite`.

    Args:
        module: tf.Module. Owner of the functions (their variables get frozen).
        functions: list of concrete functions; each becomes a signature named
            after its function.
        quantize: str. `"none"`, `"float16"` (float16 weights) or
            `"dynamic-int8"` (int8 weights, float activations).
        custom_ops: bool. Allow custom ops (the TFText tokenizer).

    Returns:
        The file's bytes.
    """
    # Here, not at the top: reading a file's ops (`nlp-lstm inspect`, the
    # LiteRT runners) must not pay for importing TensorFlow.
    import tensorflow as tf  # noqa: PLC0415

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions(functions, module)
    # Builtins only: no SELECT_TF_OPS (Flex), whose runtime adds megabytes.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = custom_ops
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "dynamic-int8":
        # One scale per tensor: the tied embedding matrix then quantizes the
        # same way for its GATHER and its FULLY_CONNECTED use, and is stored
        # once (per-channel scales would give the FC its own int8 copy).
        converter._experimental_disable_per_channel = True
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _builtin_names() -> dict:

    return {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_")
    }


def op_counts(path_or_bytes) -> collections.Counter:
    """How often each op occurs in a `.tflite`, over all subgraphs (loop
    bodies included); custom ops by their custom name."""

    if isinstance(path_or_bytes, bytes | bytearray):
        data = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as stream:
            data = stream.read()
    model = schema.Model.GetRootAs(data, 0)
    names = _builtin_names()
    codes = []
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            codes.append(code.CustomCode().decode("utf-8"))
        else:
            codes.append(names.get(builtin, str(builtin)))
    counts = collections.Counter()
    for index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(index)
        for op_index in range(subgraph.OperatorsLength()):
            counts[codes[subgraph.Operators(op_index).OpcodeIndex()]] += 1
    return counts


def op_list(path_or_bytes) -> list[str]:
    """The sorted distinct op names of a `.tflite` (all subgraphs)."""
    return sorted(op_counts(path_or_bytes))


def check_ops(ops, allowed_custom=()) -> None:
    """Raises if `ops` has a Flex (Select TF) op or an unexpected custom op, or
    no fused LSTM."""
    flex = [op for op in ops if op.startswith("Flex") or op == "DELEGATE"]
    custom = [op for op in ops if not op.isupper() and op not in allowed_custom]
    custom = [op for op in custom if op not in flex]
    if flex or custom:
        raise RuntimeError(f"non-builtin ops in the TFLite file: {flex + custom}")
    if FUSED_LSTM_OP not in ops:
        raise RuntimeError(f"the LSTMs were not fused: no {FUSED_LSTM_OP} in {ops}")


def sidecar_paths(output: str) -> dict:
    """Files written beside `FILE.tflite`: `FILE.json` (metadata) and, for
    translators, `FILE.spm.model`; for taggers `FILE.vocab.json`."""
    stem = output[: -len(".tflite")] if output.endswith(".tflite") else output
    return {
        "metadata": stem + ".json",
        "sentencepiece": stem + ".spm.model",
        "vocabulary": stem + ".vocab.json",
    }


def write_files(output: str, data: bytes, metadata: dict,
                extra: dict | None = None) -> str:
    """Writes the `.tflite`, then the files beside it, each atomically.

    Args:
        output: str. Path of the `.tflite`.
        data: bytes. The converted model.
        metadata: dict. Written to `FILE.json`, with `ops` and `size_bytes`.
        extra: dict. `{path: bytes or JSON value}` of other files.

    Returns:
        `output`.
    """
    ops = op_counts(data)
    metadata = dict(metadata, ops=dict(sorted(ops.items())), size_bytes=len(data))
    for path, value in (extra or {}).items():
        if isinstance(value, bytes):
            atomic_write_bytes(path, value)
        else:
            atomic_write_json(path, value)
    atomic_write_bytes(output, data)
    atomic_write_json(sidecar_paths(output)["metadata"], metadata)
    # The temporary files are private (0600); an app bundle needs readable ones.
    umask = os.umask(0)
    os.umask(umask)
    for path in [output, sidecar_paths(output)["metadata"], *(extra or {})]:
        os.chmod(path, 0o666 & ~umask)
    return output


def read_metadata(path: str) -> dict:

    metadata_path = sidecar_paths(path)["metadata"]
    if not os.path.isfile(metadata_path):
        raise FileNotFoundError(
            f"{metadata_path} not found: export the model with nlp-lstm export-tflite"
        )
    with open(metadata_path, encoding="utf-8") as stream:
        return json.load(stream)
