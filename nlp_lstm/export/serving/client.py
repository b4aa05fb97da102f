"""Client of a TF Serving model server: REST predict API and gRPC PredictionService.

    printf 'Hola.\\n' | nlp-lstm serving client --url http://localhost:8501 \\
        --model tatoeba_es_en [--version N] [--grpc localhost:8500]

REST requests follow the documented predict API
(`POST /v1/models/<name>[/versions/<n>]:predict`) in its row (`instances`)
or columnar (`inputs`) form; strings that are not valid UTF-8 are sent as
`{"b64": ...}`. gRPC requests use `tensorflow_serving.apis`
(`PredictionService/Predict`, and `GetModelMetadata` to learn the input name).
Both retry a request that failed because the server was unavailable (HTTP 503,
connection refused or reset, gRPC `UNAVAILABLE`) with exponential backoff, and
give up on a request after `timeout` seconds.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import time
import urllib.error
import urllib.request

import numpy as np

from nlp_lstm.utils.iterables import batches


class ServingError(Exception):
    """A failed request: `retryable` when the server was unavailable."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclasses.dataclass
class RetryPolicy:
    """Retries of a request that failed with an unavailable server.

    Args:
        timeout: float. Seconds one attempt may take.
        retries: int. Attempts after the first one.
        backoff: float. Seconds before the first retry; doubled each time.
    """

    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5

    def call(self, attempt):
        delay = self.backoff
        for remaining in range(self.retries, -1, -1):
            try:
                return attempt()
            except ServingError as error:
                if not error.retryable or remaining == 0:
                    raise
            time.sleep(delay)
            delay *= 2


def _json_value(value: bytes):
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}


def _is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _named(value) -> bool:
    """A JSON object of named outputs (a `{"b64": ...}` object is one value)."""
    return isinstance(value, dict) and not _is_b64(value)


def _from_json(value):
    """JSON output values -> Python values; `{"b64": ...}` -> bytes."""
    if _is_b64(value):
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


class RestClient:
    """Calls `:predict` of the REST API.

    Args:
        url: str. The server, `http://HOST:8501`.
        model: str. Model name.
        version: int. Model version; the server's choice (latest) when None.
        signature: str. Signature name.
        request_format: str. `"instances"` (row) or `"inputs"` (columnar).
        policy: `RetryPolicy`.
    """

    def __init__(
        self,
        url: str,
        model: str,
        version: int | None = None,
        signature: str = "serving_default",
        request_format: str = "instances",
        policy: RetryPolicy | None = None,
    ):
        if request_format not in ("instances", "inputs"):
            raise ValueError(
                f"request_format must be instances or inputs, got {request_format!r}"
            )
        path = f"/v1/models/{model}"
        if version is not None:
            path += f"/versions/{version}"
        self.endpoint = url.rstrip("/") + path + ":predict"
        self.signature = signature
        self.request_format = request_format
        self.policy = policy or RetryPolicy()

    def body(self, values: list[bytes]) -> bytes:
        payload = {
            "signature_name": self.signature,
            self.request_format: [_json_value(value) for value in values],
        }
        return json.dumps(payload).encode("utf-8")

    def _post(self, body: bytes) -> dict:
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.policy.timeout) as reply:
                text = reply.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except (ValueError, AttributeError):
                message = text
            raise ServingError(
                f"HTTP {error.code}: {message}", retryable=error.code == 503
            ) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise ServingError(
                    f"no answer within {self.policy.timeout} s from {self.endpoint}"
                ) from None
            raise ServingError(
                f"cannot reach {self.endpoint}: {reason}",
                retryable=isinstance(reason, (ConnectionError, OSError)),
            ) from None
        except (TimeoutError, socket.timeout):
            raise ServingError(
                f"no answer within {self.policy.timeout} s from {self.endpoint}"
            ) from None
        except ConnectionError as error:
            raise ServingError(
                f"connection to {self.endpoint} failed: {error}", retryable=True
            ) from None
        try:
            reply = json.loads(text.decode("utf-8"))
        except ValueError:  # not UTF-8, or not JSON
            raise ServingError(
                f"the reply of {self.endpoint} is not JSON: {text[:100]!r}; is "
                "--url the REST port of a TF Serving (8501 by default)?"
            ) from None
        if not isinstance(reply, dict):
            raise ServingError(
                f"the reply of {self.endpoint} is not a JSON object: {text[:100]!r}"
            )
        return reply

    def predict(self, values: list[bytes]) -> list[dict]:
        """One dict of outputs (name -> Python value) per input value."""
        body = self.body(values)
        reply = self.policy.call(lambda: self._post(body))
        if "predictions" in reply:
            rows = reply["predictions"]
            if not isinstance(rows, list):
                raise ServingError(f"unexpected reply: {str(reply)[:200]}")
            rows = [row if _named(row) else {"output": row} for row in rows]
        elif "outputs" in reply:
            columns = reply["outputs"]
            if not _named(columns):
                columns = {"output": columns}
            try:
                rows = [
                    {name: column[i] for name, column in columns.items()}
                    for i in range(len(values))
                ]
            except (IndexError, KeyError, TypeError):
                raise ServingError(
                    f"{len(values)} inputs but this reply: {str(reply)[:200]}"
                ) from None
        else:
            raise ServingError(f"unexpected reply: {str(reply)[:200]}")
        if not isinstance(rows, list) or len(rows) != len(values):
            raise ServingError(
                f"{len(values)} inputs but this reply: {str(reply)[:200]}"
            )
        return [
            {name: _from_json(value) for name, value in row.items()} for row in rows
        ]


class GrpcClient:
    """Calls `PredictionService/Predict` over gRPC.

    Args:
        target: str. `HOST:8500`.
        model, version, signature, policy: as for `RestClient`.
        input_name: str. The signature's string input; asked from the server
            (`GetModelMetadata`) when None.
    """

    def __init__(
        self,
        target: str,
        model: str,
        version: int | None = None,
        signature: str = "serving_default",
        policy: RetryPolicy | None = None,
        input_name: str | None = None,
    ):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.grpc = grpc
        self.target = target
        self.channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", 64 << 20),
                ("grpc.max_receive_message_length", 64 << 20),
            ],
        )
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model = model
        self.version = version
        self.signature = signature
        self.policy = policy or RetryPolicy()
        self._input_name = input_name

    def close(self):
        self.channel.close()

    def _model_spec(self, spec):
        spec.name = self.model
        spec.signature_name = self.signature
        if self.version is not None:
            spec.version.value = self.version

    def _call(self, method, request):
        try:
            return method(request, timeout=self.policy.timeout)
        except self.grpc.RpcError as error:
            code = error.code()
            raise ServingError(
                f"gRPC {code.name}: {error.details()}",
                retryable=code == self.grpc.StatusCode.UNAVAILABLE,
            ) from None

    def input_name(self) -> str:
        """The one input of the signature, from the server's model metadata."""
        if self._input_name is None:
            from tensorflow_serving.apis import get_model_metadata_pb2

            request = get_model_metadata_pb2.GetModelMetadataRequest()
            self._model_spec(request.model_spec)
            request.metadata_field.append("signature_def")
            reply = self.policy.call(
                lambda: self._call(self.stub.GetModelMetadata, request)
            )
            signatures = get_model_metadata_pb2.SignatureDefMap()
            reply.metadata["signature_def"].Unpack(signatures)
            if self.signature not in signatures.signature_def:
                raise ServingError(
                    f"model {self.model!r} has no signature {self.signature!r}; "
                    f"it has {sorted(signatures.signature_def)}"
                )
            inputs = list(signatures.signature_def[self.signature].inputs)
            if len(inputs) != 1:
                raise ServingError(
                    f"signature {self.signature!r} takes {sorted(inputs)}; "
                    "the client sends one string input"
                )
            self._input_name = inputs[0]
        return self._input_name

    def predict(self, values: list[bytes]) -> list[dict]:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._model_spec(request.model_spec)
        request.inputs[self.input_name()].CopyFrom(
            tf.make_tensor_proto(np.array(values, dtype=object))
        )
        reply = self.policy.call(lambda: self._call(self.stub.Predict, request))
        columns = {
            name: tf.make_ndarray(proto).tolist()
            for name, proto in reply.outputs.items()
        }
        for name, column in columns.items():
            if not isinstance(column, list) or len(column) != len(values):
                raise ServingError(f"output {name!r} has no row per input")
        return [
            {name: column[i] for name, column in columns.items()}
            for i in range(len(values))
        ]


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def format_result(outputs: dict, output_format: str = "text") -> str:
    """One output line: the translation, `token/TAG` pairs, or JSON."""

    def plain(value):
        if isinstance(value, list):
            return [plain(item) for item in value]
        return _text(value) if isinstance(value, bytes) else value

    if output_format == "text":
        translation = outputs.get("translations")
        if isinstance(translation, (str, bytes)):
            return _text(translation)
        if "tags" in outputs and "tokens" in outputs:
            length = outputs.get("lengths", len(outputs["tags"]))
            pairs = zip(outputs["tokens"][:length], outputs["tags"][:length])
            return " ".join(f"{_text(token)}/{_text(tag)}" for token, tag in pairs)
    return json.dumps(
        {name: plain(value) for name, value in sorted(outputs.items())},
        ensure_ascii=False,
    )


def run_lines(
    client, lines, batch_size: int, write, report, output_format: str = "text"
) -> int:
    """Sends `lines` (bytes) in batches; writes one result line per input.

    A batch the server rejects is sent again line by line, so that only the
    bad lines fail; a failed line gets an empty output line and a message
    `line N: ...` to `report`. Returns the number of failed lines.
    """
    failed = 0
    number = 0
    for batch in batches(lines, batch_size):
        first = number + 1
        number += len(batch)
        try:
            results = client.predict(batch)
        except ServingError as error:
            if len(batch) == 1 or error.retryable:
                for offset in range(len(batch)):
                    report(f"line {first + offset}: {error}")
                    write("")
                failed += len(batch)
                continue
            results = []
            for offset, line in enumerate(batch):
                try:
                    results.append(client.predict([line])[0])
                except ServingError as single:
                    report(f"line {first + offset}: {single}")
                    results.append(None)
                    failed += 1
        for result in results:
            write("" if result is None else format_result(result, output_format))
    return failed
