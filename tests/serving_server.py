"""A loopback stand-in for `tensorflow_model_server`, for tests only.

It loads each version of each model the way TF Serving does (tag `serve`,
warmup requests replayed at load, signatures by name) and answers the REST
predict API (`/v1/models/<name>[/versions/<n>]:predict`, row and columnar
forms, `{"b64": ...}` strings, `{"error": ...}` replies with the HTTP status
of the error code) and the gRPC `PredictionService` (`Predict`,
`GetModelMetadata`) on 127.0.0.1. Bad requests (unknown model, signature or
input, wrong dtype, a batch over `max_batch_size`, a body that is not
UTF-8 JSON) get an error reply; nothing a client sends stops the server. Like
TF Serving, it does not check an input's shape against the signature: the
graph gets whatever the request holds, and the model's own checks must
reject a wrong rank (`nlp_lstm.export.signature`).

    with LoopbackServer({"tiny": "/tmp/saved_models/tiny"}) as server:
        server.rest_url, server.grpc_target
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from nlp_lstm.export.serving import warmup

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.INTERNAL: 500,
}
PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")


class RequestError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


class Servable:
    """One loaded model version."""

    def __init__(self, path: str):
        self.path = path
        self.loaded = tf.saved_model.load(path, tags=["serve"])
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as stream:
            proto.ParseFromString(stream.read())
        self.signature_defs = dict(proto.meta_graphs[0].signature_def)
        self.signature_defs.pop("__saved_model_init_op", None)
        if os.path.isfile(warmup.warmup_path(path)):
            self.warmup_results = warmup.replay(path, self.loaded)

    def inputs(self, signature: str) -> dict:
        if signature not in self.loaded.signatures:
            raise invalid(
                f'Serving signature name: "{signature}" not found in signature def'
            )
        return self.loaded.signatures[signature].structured_input_signature[1]

    def run(self, signature: str, inputs: dict, max_batch_size: int) -> dict:
        specs = self.inputs(signature)
        unknown = sorted(set(inputs) - set(specs))
        missing = sorted(set(specs) - set(inputs))
        if unknown or missing:
            raise invalid(
                f"input names do not match the signature {signature!r}: "
                f"unknown {unknown}, missing {missing}; it takes {sorted(specs)}"
            )
        tensors = {}
        for name, value in inputs.items():
            spec = specs[name]
            if value.dtype != spec.dtype.as_numpy_dtype and not (
                spec.dtype == tf.string and value.dtype == object
            ):
                raise invalid(
                    f"input {name!r} must be {spec.dtype.name}, got {value.dtype}"
                )
            if value.ndim and value.shape[0] > max_batch_size:
                raise invalid(
                    f"batch size {value.shape[0]} of input {name!r} is over the "
                    f"maximum of {max_batch_size}"
                )
            tensors[name] = tf.constant(value, spec.dtype)
        try:
            outputs = self.loaded.signatures[signature](**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise invalid(error.message) from None
        except tf.errors.OpError as error:
            raise RequestError(grpc.StatusCode.INTERNAL, error.message) from None
        return {name: value.numpy() for name, value in outputs.items()}


def _json_to_array(value, dtype: tf.DType, name: str) -> np.ndarray:
    """The JSON mapping of the REST API: strings, `{"b64": ...}`, numbers."""

    def convert(item):
        if isinstance(item, list):
            return [convert(element) for element in item]
        if dtype == tf.string:
            if isinstance(item, str):
                return item.encode("utf-8")
            if isinstance(item, dict) and set(item) == {"b64"}:
                try:
                    return base64.b64decode(item["b64"], validate=True)
                except (ValueError, TypeError):
                    raise invalid(f"input {name!r}: bad base64 in b64 value") from None
            raise invalid(f"input {name!r} is a string tensor, got {item!r:.50}")
        if isinstance(item, bool) != (dtype == tf.bool):
            raise invalid(f"input {name!r} must be {dtype.name}, got {item!r:.50}")
        if dtype.is_integer and not isinstance(item, int):
            raise invalid(f"input {name!r} must be {dtype.name}, got {item!r:.50}")
        if dtype.is_floating and not isinstance(item, (int, float)):
            raise invalid(f"input {name!r} must be {dtype.name}, got {item!r:.50}")
        return item

    converted = convert(value)
    try:
        numpy_dtype = object if dtype == tf.string else dtype.as_numpy_dtype
        array = np.array(converted, dtype=numpy_dtype)
    except (ValueError, OverflowError) as error:
        raise invalid(f"input {name!r} is not a dense tensor: {error}") from None
    if dtype == tf.string and array.dtype == object:
        flat = array.reshape(-1)
        if any(not isinstance(item, bytes) for item in flat):
            raise invalid(f"input {name!r} is not a dense tensor (ragged lists)")
    return array


def _array_to_json(name: str, array: np.ndarray):
    def convert(item):
        if isinstance(item, bytes):
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(item).decode("ascii")}
            try:
                return item.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(item).decode("ascii")}
        return item

    def walk(value):
        if isinstance(value, list):
            return [walk(item) for item in value]
        return convert(value)

    return walk(array.tolist())


class LoopbackServer:
    """REST and gRPC on 127.0.0.1, ephemeral ports.

    Args:
        models: dict. Model name -> model folder (`saved_models/<name>`);
            every numeric version is loaded.
        max_batch_size: int. Largest batch accepted.
    """

    def __init__(self, models: dict, max_batch_size: int = 32):
        self.max_batch_size = max_batch_size
        self.servables = {}
        for name, base in models.items():
            versions = sorted(int(v) for v in os.listdir(base) if v.isdigit())
            self.servables[name] = {
                version: Servable(os.path.join(base, str(version)))
                for version in versions
            }
        # Test knobs: answer the next N requests UNAVAILABLE; delay answers.
        self.unavailable_next = 0
        self.delay_seconds = 0.0
        self.requests = 0
        self._lock = threading.Lock()

    # The shared core of both protocols.
    def servable(self, name: str, version: int | None) -> tuple[int, Servable]:
        with self._lock:
            self.requests += 1
            if self.unavailable_next > 0:
                self.unavailable_next -= 1
                raise RequestError(grpc.StatusCode.UNAVAILABLE, "server is loading")
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if name not in self.servables:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: Latest({name})",
            )
        versions = self.servables[name]
        chosen = max(versions) if version is None else version
        if chosen not in versions:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: Specific({name}, {version})",
            )
        return chosen, versions[chosen]

    # REST
    def handle_rest_predict(self, name, version, body: bytes) -> dict:
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise invalid(f"request body is not UTF-8 JSON: {error}") from None
        if not isinstance(request, dict):
            raise invalid("request body must be a JSON object")
        _, servable = self.servable(name, version)
        signature = request.get("signature_name", "serving_default")
        if not isinstance(signature, str):
            raise invalid("signature_name must be a string")
        specs = servable.inputs(signature)
        if ("instances" in request) == ("inputs" in request):
            raise invalid("request must have exactly one of instances or inputs")
        if "instances" in request:
            instances = request["instances"]
            if not isinstance(instances, list) or not instances:
                raise invalid("instances must be a non-empty list")
            named = all(
                isinstance(row, dict) and set(row) != {"b64"} for row in instances
            )
            if named:
                keys = set(instances[0])
                if any(set(row) != keys for row in instances):
                    raise invalid("every instance must have the same named inputs")
                columns = {key: [row[key] for row in instances] for key in keys}
            else:
                if len(specs) != 1:
                    raise invalid(
                        f"signature {signature!r} takes {sorted(specs)}: "
                        "instances must be objects naming them"
                    )
                columns = {next(iter(specs)): instances}
            row_format = True
        else:
            inputs = request["inputs"]
            if isinstance(inputs, dict) and set(inputs) != {"b64"}:
                columns = inputs
            else:
                if len(specs) != 1:
                    raise invalid(f"signature {signature!r} takes {sorted(specs)}")
                columns = {next(iter(specs)): inputs}
            row_format = False
        arrays = {}
        for key, value in columns.items():
            if key not in specs:
                raise invalid(
                    f"input {key!r} is not in signature {signature!r}; "
                    f"it takes {sorted(specs)}"
                )
            arrays[key] = _json_to_array(value, specs[key].dtype, key)
        outputs = servable.run(signature, arrays, self.max_batch_size)
        converted = {key: _array_to_json(key, value) for key, value in outputs.items()}
        if not row_format:
            if len(converted) == 1:
                return {"outputs": next(iter(converted.values()))}
            return {"outputs": converted}
        if len(converted) == 1:
            return {"predictions": next(iter(converted.values()))}
        rows = len(next(iter(converted.values())))
        return {
            "predictions": [
                {key: value[i] for key, value in converted.items()} for i in range(rows)
            ]
        }

    def _http_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status: int, payload: dict):
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                match = PREDICT_PATH.match(self.path)
                try:
                    if not match:
                        raise RequestError(
                            grpc.StatusCode.NOT_FOUND, f"Malformed request: {self.path}"
                        )
                    version = int(match.group(2)) if match.group(2) else None
                    reply = server.handle_rest_predict(match.group(1), version, body)
                    self._reply(200, reply)
                except RequestError as error:
                    self._reply(HTTP_STATUS.get(error.code, 500), {"error": str(error)})
                except Exception as error:  # never let a request stop the server
                    self._reply(500, {"error": f"{type(error).__name__}: {error}"})

            def do_GET(self):
                match = re.match(r"^/v1/models/([^/]+)(?:/versions/(\d+))?$", self.path)
                try:
                    if not match:
                        raise RequestError(grpc.StatusCode.NOT_FOUND, self.path)
                    version = int(match.group(2)) if match.group(2) else None
                    chosen, _ = server.servable(match.group(1), version)
                    status = {"error_code": "OK", "error_message": ""}
                    self._reply(
                        200,
                        {
                            "model_version_status": [
                                {
                                    "version": str(chosen),
                                    "state": "AVAILABLE",
                                    "status": status,
                                }
                            ]
                        },
                    )
                except RequestError as error:
                    self._reply(HTTP_STATUS.get(error.code, 500), {"error": str(error)})

        return Handler

    # gRPC
    def _grpc_servicer(self):
        server = self

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def _servable(self, spec, context):
                version = spec.version.value if spec.HasField("version") else None
                try:
                    return server.servable(spec.name, version)
                except RequestError as error:
                    context.abort(error.code, str(error))

            def Predict(self, request, context):
                chosen, servable = self._servable(request.model_spec, context)
                signature = request.model_spec.signature_name or "serving_default"
                try:
                    specs = servable.inputs(signature)
                    inputs = {}
                    for key, proto in request.inputs.items():
                        if (
                            key in specs
                            and proto.dtype != specs[key].dtype.as_datatype_enum
                        ):
                            raise invalid(
                                f"input {key!r} must be {specs[key].dtype.name}, got "
                                f"{tf.dtypes.as_dtype(proto.dtype).name}"
                            )
                        inputs[key] = tf.make_ndarray(proto)
                    outputs = servable.run(signature, inputs, server.max_batch_size)
                except RequestError as error:
                    context.abort(error.code, str(error))
                except Exception as error:  # never let a request stop the server
                    context.abort(grpc.StatusCode.INTERNAL, f"{error}")
                response = predict_pb2.PredictResponse()
                response.model_spec.name = request.model_spec.name
                response.model_spec.version.value = chosen
                response.model_spec.signature_name = signature
                for key, value in outputs.items():
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
                return response

            def GetModelMetadata(self, request, context):
                chosen, servable = self._servable(request.model_spec, context)
                if list(request.metadata_field) != ["signature_def"]:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "Metadata field signature_def is the only one supported",
                    )
                signatures = get_model_metadata_pb2.SignatureDefMap()
                for key, value in servable.signature_defs.items():
                    signatures.signature_def[key].CopyFrom(value)
                response = get_model_metadata_pb2.GetModelMetadataResponse()
                response.model_spec.name = request.model_spec.name
                response.model_spec.version.value = chosen
                response.metadata["signature_def"].Pack(signatures)
                return response

        return Servicer()

    def start(self) -> LoopbackServer:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.rest_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            self._grpc_servicer(), self._grpc
        )
        port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        self.grpc_target = f"127.0.0.1:{port}"
        return self

    def stop(self):
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=None)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
