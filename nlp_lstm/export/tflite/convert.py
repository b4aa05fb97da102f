"""TFLite conversion, quantization, the op list of a file, and its metadata."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import struct

from ai_edge_litert import schema_py_generated as schema

from nlp_lstm.utils.files import (
    atomic_write_bytes,
    atomic_write_json,
    json_bytes,
    sha256_file,
)

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

    from nlp_lstm.export.saved_model import saved_root  # noqa: PLC0415

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    # The converter saves the functions as a SavedModel with the object it is
    # given: the module's variables only, not its Keras model (whose forward
    # pass and custom gradients the save would trace for nothing).
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        functions, saved_root(module)
    )
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
        data, name = bytes(path_or_bytes), "the model"
    else:
        with open(path_or_bytes, "rb") as stream:
            data, name = stream.read(), path_or_bytes
    try:
        return _op_counts(data)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as error:
        raise NotTFLiteError(
            f"{name} is not a whole .tflite file ({len(data):,} bytes that do not "
            f"parse as a TFLite model: {error}); export it again with "
            "`nlp-lstm export-tflite`"
        ) from None


class NotTFLiteError(ValueError):
    """Bytes that are not a (complete) TFLite flatbuffer."""


def _op_counts(data: bytes) -> collections.Counter:
    if len(data) < 8 or not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise ValueError("no TFL3 identifier")
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


def check_ops(ops, allowed_custom=(), fused: bool = True) -> None:
    """Raises if `ops` has a Flex (Select TF) op or an unexpected custom op, or
    (with `fused`, a model with LSTM layers) no fused LSTM."""
    flex = [op for op in ops if op.startswith("Flex") or op == "DELEGATE"]
    custom = [op for op in ops if not op.isupper() and op not in allowed_custom]
    custom = [op for op in custom if op not in flex]
    if flex or custom:
        raise RuntimeError(f"non-builtin ops in the TFLite file: {flex + custom}")
    if fused and FUSED_LSTM_OP not in ops:
        raise RuntimeError(f"the LSTMs were not fused: no {FUSED_LSTM_OP} in {ops}")


def sidecar_paths(output: str) -> dict:
    """The files of one export, by role, named after `FILE.tflite`: `model`
    (the `.tflite`), `metadata` (`FILE.json`), translators' `sentencepiece`
    (`FILE.spm.model`, the target's or the shared one) and
    `source_sentencepiece` (`FILE.source.spm.model`), taggers' `vocabulary`
    (`FILE.vocab.json`), the model card (`FILE.card.json`, `FILE.card.md`).
    A set is found from its `.tflite` name alone, so it
    can be renamed as a whole."""
    stem = output[: -len(".tflite")] if output.endswith(".tflite") else output
    return {
        "model": output,
        "metadata": stem + ".json",
        "sentencepiece": stem + ".spm.model",
        "source_sentencepiece": stem + ".source.spm.model",
        "vocabulary": stem + ".vocab.json",
        "card": stem + ".card.json",
        "card_markdown": stem + ".card.md",
    }


class MismatchedFilesError(ValueError):
    """Files of an export set that were not written together."""


def write_files(output: str, data: bytes, metadata: dict,
                extra: dict | None = None) -> str:
    """Writes an export set: the files beside the `.tflite`, the `.tflite`,
    then `FILE.json` last, each atomically. `FILE.json` records the SHA-256
    of every other file, and `read_metadata` refuses a set whose files do
    not match it (an export killed or out of disk between two files leaves
    such a set), rather than pair a new tokenizer with an old model.

    Args:
        output: str. Path of the `.tflite`.
        data: bytes. The converted model.
        metadata: dict. Written to `FILE.json`, with `ops`, `size_bytes`,
            `files` and `sha256` added.
        extra: dict. `{role: bytes or JSON value}` of the other files (roles
            of `sidecar_paths`).

    Returns:
        `output`.
    """
    paths = sidecar_paths(output)
    contents = {
        role: value if isinstance(value, bytes) else json_bytes(value)
        for role, value in (extra or {}).items()
    }
    contents["model"] = data
    metadata = dict(
        metadata,
        ops=dict(sorted(op_counts(data).items())),
        size_bytes=len(data),
        files={role: os.path.basename(paths[role]) for role in sorted(contents)},
        sha256={
            role: hashlib.sha256(value).hexdigest()
            for role, value in sorted(contents.items())
        },
    )
    for role, value in contents.items():
        if role != "model":
            atomic_write_bytes(paths[role], value)
    atomic_write_bytes(output, data)
    atomic_write_json(paths["metadata"], metadata)
    return output


def read_metadata(path: str, verify: bool = True) -> dict:
    """The `FILE.json` of `FILE.tflite`; with `verify`, checks that every
    file of the set is there with the SHA-256 recorded in it."""
    paths = sidecar_paths(path)
    if not os.path.isfile(paths["metadata"]):
        raise FileNotFoundError(
            f"{paths['metadata']} not found: it is written beside {path} by "
            "`nlp-lstm export-tflite`; export the model again, or pass the "
            ".tflite that has it"
        )
    try:
        with open(paths["metadata"], encoding="utf-8") as stream:
            metadata = json.load(stream)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MismatchedFilesError(
            f"{paths['metadata']} is not the JSON that export-tflite writes "
            f"({error}); export the model again"
        ) from None
    if not isinstance(metadata, dict):
        raise MismatchedFilesError(
            f"{paths['metadata']} is not the JSON that export-tflite writes; "
            "export the model again"
        )
    if verify:
        for role, digest in metadata.get("sha256", {}).items():
            if role not in paths:
                continue
            file = paths[role]
            if not os.path.isfile(file):
                raise MismatchedFilesError(
                    f"{file} is missing: {path} needs it beside it; copy the "
                    "whole set or export the model again"
                )
            if sha256_file(file) != digest:
                raise MismatchedFilesError(
                    f"{file} does not belong with {paths['metadata']} (its "
                    "SHA-256 differs from the one recorded there: an export was "
                    "interrupted, or the files come from different exports); "
                    "export the model again with `nlp-lstm export-tflite`"
                )
    return metadata
