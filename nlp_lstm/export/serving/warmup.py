"""SavedModel warmup: `assets.extra/tf_serving_warmup_requests`.

TF Serving replays the requests in this file when it loads a version, before
it serves it, so that the first real request does not pay for graph
initialization. The file is a TFRecord file of `tensorflow.serving.PredictionLog`
protos (each a `PredictLog` holding a `PredictRequest`); the server reads at
most 1000 records.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from nlp_lstm.export import runtime

WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000


def warmup_path(saved_model_dir: str) -> str:
    return os.path.join(saved_model_dir, "assets.extra", WARMUP_FILE)


def predict_request(model_name: str, signature_name: str, inputs: dict):
    """A `PredictRequest` with each input converted by `tf.make_tensor_proto`."""

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def write_warmup(saved_model_dir: str, model_name: str, requests) -> str:
    """Writes the warmup file of a SavedModel folder.

    Args:
        saved_model_dir: str. The version folder (or its temporary twin).
        model_name: str. The model name set in each request's `model_spec`.
        requests: list of `(signature_name, {input_name: array})`.

    Returns:
        The file's path.
    """

    requests = list(requests)
    if not requests:
        raise ValueError("a warmup file needs at least one request, got none")
    if len(requests) > MAX_RECORDS:
        raise ValueError(
            f"TF Serving reads at most {MAX_RECORDS} warmup records, "
            f"got {len(requests)}"
        )
    path = warmup_path(saved_model_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(
                predict_request(model_name, signature_name, inputs)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup(saved_model_dir: str) -> list:
    """The `PredictionLog` protos of a SavedModel's warmup file."""

    path = warmup_path(saved_model_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no warmup file at {path}")
    logs = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        logs.append(log)
    return logs


def replay(saved_model_dir: str, loaded=None) -> list[tuple[str, dict]]:
    """Runs every warmup request on the SavedModel, as the server does at load
    (tag `serve`, signature by name); returns `(signature, outputs)` pairs of
    numpy arrays. Raises if a request names an unknown signature or input."""
    if loaded is None:
        loaded = runtime.load_saved_model(saved_model_dir, tags=["serve"])
    results = []
    logs = read_warmup(saved_model_dir)
    if len(logs) > MAX_RECORDS:
        raise ValueError(f"{len(logs)} warmup records, over the {MAX_RECORDS} allowed")
    for log in logs:
        request = log.predict_log.request
        name = request.model_spec.signature_name or "serving_default"
        if name not in loaded.signatures:
            raise KeyError(f"warmup request for unknown signature {name!r}")
        function = loaded.signatures[name]
        inputs = {
            key: tf.constant(tf.make_ndarray(value))
            for key, value in request.inputs.items()
        }
        expected = set(function.structured_input_signature[1])
        if set(inputs) != expected:
            raise KeyError(
                f"warmup request for {name!r} has inputs {sorted(inputs)}, "
                f"the signature takes {sorted(expected)}"
            )
        outputs = function(**inputs)
        results.append((name, {k: np.asarray(v) for k, v in outputs.items()}))
    return results
