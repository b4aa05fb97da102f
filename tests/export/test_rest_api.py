"""The REST client and the loopback server against the TF Serving REST API
documentation: the request and response bodies of
https://www.tensorflow.org/tfx/serving/api_rest (`tensorflow/serving`,
`tensorflow_serving/g3doc/api_rest.md`), kept in
`tests/fixtures/tf_serving_rest/predict_examples.json`.

No SavedModel is exported: the server's REST handling runs on small fake
signatures (`Servable.run` and its checks are the real ones)."""

import base64
import json
import math
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.export.serving.client import (
    RestClient,
    RetryPolicy,
    ServingError,
    _from_json,
    _json_value,
)
from tests.helpers import REPO_ROOT
from tests.serving_server import (
    HTTP_STATUS,
    PREDICT_PATH,
    LoopbackServer,
    RequestError,
    Servable,
    _array_to_json,
    _json_to_array,
)

FIXTURES = os.path.join(
    REPO_ROOT, "tests", "fixtures", "tf_serving_rest", "predict_examples.json"
)
with open(FIXTURES, encoding="utf-8") as stream:
    DOC = json.load(stream)
EXAMPLES = {example["name"]: example for example in DOC["examples"]}
NO_RETRY = RetryPolicy(timeout=10.0, retries=0, backoff=0.0)
# The decoded values of the documentation's b64 example.
IMAGES = [b"image bytes", b"awesome image bytes"]


def example(name: str) -> dict:
    return EXAMPLES[name]


def test_fixture_file_holds_the_documented_examples():
    assert DOC["source"]["repo"] == "tensorflow/serving"
    assert DOC["source"]["path"] == "tensorflow_serving/g3doc/api_rest.md"
    for entry in DOC["examples"]:
        assert entry["source"].startswith("https://www.tensorflow.org/tfx/serving")
        assert "request" in entry or "response" in entry or "response_text" in entry
    b64 = example("classify_b64_example")["request"]["examples"]
    assert [base64.b64decode(item["image"]["b64"]) for item in b64] == IMAGES


# --- The fake servables -----------------------------------------------------


class FakeSignature:
    """What `Servable` uses of a loaded signature; records the inputs."""

    def __init__(self, specs: dict, function):
        self.structured_input_signature = ((), specs)
        self.function = function
        self.calls = []

    def __call__(self, **tensors):
        self.calls.append({name: value.numpy() for name, value in tensors.items()})
        return self.function(**tensors)


class FakeLoaded:
    def __init__(self, signatures: dict):
        self.signatures = signatures


def fake_servable(signatures: dict) -> Servable:
    servable = Servable.__new__(Servable)  # no SavedModel to load
    servable.path = "<fake>"
    servable.loaded = FakeLoaded(signatures)
    return servable


def spec(dtype, rank: int) -> tf.TensorSpec:
    return tf.TensorSpec([None] * rank, dtype)


SIGNATURES = {
    # y = 0.5 * x + 3, the documentation's example model.
    "saved_model_half_plus_three": lambda: FakeSignature(
        {"x": spec(tf.float32, 1)}, lambda x: {"y": 0.5 * x + 3.0}
    ),
    "strings": lambda: FakeSignature(
        {"text": spec(tf.string, 1)}, lambda text: {"echo": tf.identity(text)}
    ),
    "matrices": lambda: FakeSignature(
        {"x": spec(tf.int32, 3)}, lambda x: {"total": tf.reduce_sum(x, axis=[1, 2])}
    ),
    "tag_signal_sensor": lambda: FakeSignature(
        {
            "tag": spec(tf.string, 1),
            "signal": spec(tf.int32, 2),
            "sensor": spec(tf.int32, 3),
        },
        lambda tag, signal, sensor: {
            "tag": tf.identity(tag),
            "sensor_sum": tf.reduce_sum(sensor, axis=[1, 2]),
        },
    ),
    "images": lambda: FakeSignature(
        {"image": spec(tf.string, 1)},
        lambda image: {"image_bytes": tf.identity(image)},
    ),
}


@pytest.fixture
def server():
    """A `LoopbackServer` of fake models (version 123), not started."""
    loopback = LoopbackServer({})
    for name, make in SIGNATURES.items():
        signatures = {"serving_default": make()}
        if name == "images":
            signatures["classify_objects"] = FakeSignature(
                {"image": spec(tf.string, 1), "caption": spec(tf.string, 1)},
                lambda image, caption: {
                    "image_bytes": tf.identity(image),
                    "caption": tf.identity(caption),
                },
            )
        loopback.servables[name] = {123: fake_servable(signatures)}
    return loopback


def post(server, model: str, request) -> dict:
    body = request if isinstance(request, bytes) else json.dumps(request).encode()
    return server.handle_rest_predict(model, None, body)


def received(server, model: str, signature: str = "serving_default") -> dict:
    signature = server.servables[model][123].loaded.signatures[signature]
    assert len(signature.calls) == 1
    return signature.calls[0]


# --- URLs -------------------------------------------------------------------


def test_client_and_server_use_the_documented_predict_urls():
    unversioned, versioned = DOC["url_forms"]["examples"]
    client = RestClient("http://localhost:8501/", "saved_model_half_plus_three")
    assert client.endpoint == "http://localhost:8501" + unversioned
    client = RestClient("http://localhost:8501", "half_plus_three", version=123)
    assert client.endpoint == "http://localhost:8501" + versioned
    assert PREDICT_PATH.match(unversioned).groups() == (
        "saved_model_half_plus_three",
        None,
    )
    assert PREDICT_PATH.match(versioned).groups() == ("half_plus_three", "123")
    assert PREDICT_PATH.match("/v1/models/half_plus_three:regress") is None


# --- Request bodies: the client ---------------------------------------------


def test_client_row_body_is_the_documented_instances_form():
    documented = example("row_single_input_scalars")["request"]
    client = RestClient("http://h:8501", "strings")
    body = json.loads(client.body([b"foo", b"bar", b"baz"]))
    # signature_name is the documented optional key; the rest is verbatim.
    assert body == {"signature_name": "serving_default", **documented}


def test_client_columnar_body_is_the_documented_inputs_form():
    documented = example("columnar_single_input")["request"]
    client = RestClient("http://h:8501", "strings", request_format="inputs")
    body = json.loads(client.body([b"foo", b"bar", b"baz"]))
    assert body == {"signature_name": "serving_default", **documented}
    assert "instances" not in body  # either of them, NOT both


def test_client_sends_non_utf8_values_as_documented_b64_objects():
    values = [b"\x89PNG\r\n\x1a\n", b"seaside", b"\xfb\xff"]
    body = json.loads(RestClient("http://h:8501", "images").body(values))
    assert body["instances"] == [{"b64": "iVBORw0KGgo="}, "seaside", {"b64": "+/8="}]
    # The shape of the documented b64 value: an object with the one key b64,
    # standard (not URL-safe) base64 with padding.
    documented = example("row_b64_single_input")["request"]["instances"][0]
    assert set(documented) == {"b64"} == set(body["instances"][0])
    assert _json_value(IMAGES[0]) == "image bytes"
    assert _json_value(b"\xff" + IMAGES[0]) == {
        "b64": base64.b64encode(b"\xff" + IMAGES[0]).decode("ascii")
    }


@pytest.mark.parametrize("request_format", ["instances", "inputs"])
def test_server_reads_client_bodies_back_to_the_same_bytes(server, request_format):
    values = [b"\x89PNG\r\n\x1a\n", "mañana".encode(), b"", b"\xff\xfe"]
    client = RestClient("http://h:8501", "strings", request_format=request_format)
    reply = post(server, "strings", client.body(values))
    assert list(received(server, "strings")["text"]) == values
    key = "predictions" if request_format == "instances" else "outputs"
    assert reply == {key: [{"b64": "iVBORw0KGgo="}, "mañana", "", {"b64": "//4="}]}


# --- Request bodies: the server accepts every documented form ---------------


def test_server_row_scalars(server):
    reply = post(server, "strings", example("row_single_input_scalars")["request"])
    text = received(server, "strings")["text"]
    assert text.dtype == object and list(text) == [b"foo", b"bar", b"baz"]
    assert reply == {"predictions": ["foo", "bar", "baz"]}


def test_server_columnar_single_input(server):
    reply = post(server, "strings", example("columnar_single_input")["request"])
    assert list(received(server, "strings")["text"]) == [b"foo", b"bar", b"baz"]
    assert reply == {"outputs": ["foo", "bar", "baz"]}


def test_server_row_tensors(server):
    reply = post(server, "matrices", example("row_single_input_tensors")["request"])
    x = received(server, "matrices")["x"]
    assert x.dtype == np.int32 and x.shape == (2, 1, 2)
    assert x.tolist() == [[[1, 2]], [[3, 4]]]
    assert reply == {"predictions": [3, 7]}


DOCUMENTED_TENSORS = {
    "tag": [b"foo", b"bar"],
    "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
    "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]],
}


@pytest.mark.parametrize(
    "request_name, response_name",
    [
        ("row_named_inputs", "row_response_named_outputs"),
        ("columnar_named_inputs", "columnar_response_named_outputs"),
    ],
)
def test_server_named_inputs_row_and_columnar(server, request_name, response_name):
    reply = post(server, "tag_signal_sensor", example(request_name)["request"])
    inputs = received(server, "tag_signal_sensor")
    assert {name: value.tolist() for name, value in inputs.items()} == (
        DOCUMENTED_TENSORS
    )
    assert inputs["signal"].shape == (2, 5) and inputs["sensor"].shape == (2, 2, 2)
    assert reply == example(response_name)["response"]


def test_server_b64_single_input_and_bytes_output(server):
    reply = post(server, "images", example("row_b64_single_input")["request"])
    assert list(received(server, "images")["image"]) == IMAGES
    # The one output ends in _bytes: b64 values, the name omitted.
    assert reply == example("row_response_bytes_output")["response"]


def test_server_b64_named_inputs(server):
    reply = post(server, "images", example("row_named_inputs_b64")["request"])
    inputs = received(server, "images", "classify_objects")
    assert list(inputs["image"]) == IMAGES
    assert list(inputs["caption"]) == [b"seaside", b"mountains"]
    assert reply == example("row_response_named_outputs_b64")["response"]


@pytest.mark.parametrize(
    "name", ["half_plus_three_predict", "half_plus_three_predict_columnar"]
)
def test_server_answers_the_documented_predict_call(server, name):
    entry = example(name)
    reply = post(server, entry["model"], entry["request"])
    x = received(server, entry["model"])["x"]
    assert x.dtype == np.float32 and x.tolist() == [1.0, 2.0, 5.0]
    assert reply == entry["response"]


def test_server_json_mapping_of_float_special_values(server):
    entry = example("float_special_values")
    reply = post(server, "saved_model_half_plus_three", entry["request_text"].encode())
    x = received(server, "saved_model_half_plus_three")["x"]
    assert math.isnan(x[0]) and x[1] == math.inf and x[2] == -math.inf
    assert json.dumps(reply) == entry["response_text"]


def test_server_rejects_instances_and_inputs_together(server):
    request = {
        "instances": example("row_single_input_scalars")["request"]["instances"],
        "inputs": example("columnar_single_input")["request"]["inputs"],
    }
    with pytest.raises(RequestError) as error:
        post(server, "strings", request)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert HTTP_STATUS[error.value.code] == 400


def test_json_to_array_and_back_follow_the_json_mapping():
    b64 = example("row_b64_single_input")["request"]["instances"]
    array = _json_to_array(b64 + ["seaside"], tf.string, "image")
    assert array.dtype == object and list(array) == IMAGES + [b"seaside"]
    sensor = example("columnar_named_inputs")["request"]["inputs"]["sensor"]
    array = _json_to_array(sensor, tf.int32, "sensor")
    assert array.dtype == np.int32 and array.shape == (2, 2, 2)
    with pytest.raises(RequestError, match="must be int32"):
        _json_to_array([1.5], tf.int32, "sensor")
    # Output names ending in _bytes are b64 (documented); other strings are
    # plain, b64 only where they are not UTF-8 (JSON has no other way).
    images = np.array(IMAGES, dtype=object)
    assert _array_to_json("image_bytes", images) == b64
    assert _array_to_json("caption", images) == ["image bytes", "awesome image bytes"]
    assert _array_to_json("caption", np.array([b"\xff"], dtype=object)) == [
        {"b64": "/w=="}
    ]
    assert _array_to_json("y", np.array([3.5, 4.0], np.float32)) == [3.5, 4.0]


# --- Responses: the client reads every documented form into rows -------------


def client_rows(monkeypatch, reply: dict, count: int, request_format="instances"):
    client = RestClient(
        "http://h:8501", "m", request_format=request_format, policy=NO_RETRY
    )
    monkeypatch.setattr(client, "_post", lambda body: reply)
    return client.predict([b"x"] * count)


@pytest.mark.parametrize(
    "name, rows",
    [
        (
            "half_plus_three_predict",
            [{"output": 3.5}, {"output": 4.0}, {"output": 5.5}],
        ),
        (
            "half_plus_three_predict_columnar",
            [{"output": 3.5}, {"output": 4.0}, {"output": 5.5}],
        ),
        (
            "row_response_named_outputs",
            [{"tag": "foo", "sensor_sum": 10}, {"tag": "bar", "sensor_sum": 23}],
        ),
        (
            "columnar_response_named_outputs",
            [{"tag": "foo", "sensor_sum": 10}, {"tag": "bar", "sensor_sum": 23}],
        ),
        ("row_response_bytes_output", [{"output": IMAGES[0]}, {"output": IMAGES[1]}]),
        (
            "row_response_named_outputs_b64",
            [
                {"image_bytes": IMAGES[0], "caption": "seaside"},
                {"image_bytes": IMAGES[1], "caption": "mountains"},
            ],
        ),
    ],
)
def test_client_reads_documented_responses(monkeypatch, name, rows):
    reply = example(name)["response"]
    assert client_rows(monkeypatch, reply, len(rows)) == rows


def test_client_reads_columnar_bytes_output(monkeypatch):
    # The columnar form of row_response_bytes_output.
    column = example("row_response_bytes_output")["response"]["predictions"]
    rows = client_rows(monkeypatch, {"outputs": column}, 2, "inputs")
    assert rows == [{"output": IMAGES[0]}, {"output": IMAGES[1]}]
    assert _from_json({"b64": "aW1hZ2UgYnl0ZXM="}) == IMAGES[0]


def test_client_rejects_replies_without_a_row_per_input(monkeypatch):
    reply = example("half_plus_three_predict")["response"]
    with pytest.raises(ServingError, match="4 inputs"):
        client_rows(monkeypatch, reply, 4)
    with pytest.raises(ServingError, match="unexpected reply"):
        client_rows(monkeypatch, example("error_not_found")["response"], 2)


# --- Over HTTP: the documented error body and JSON tokens --------------------


class CannedServer:
    """Answers each path with a fixed status and body text."""

    def __init__(self, replies: dict):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, text = replies[self.path]
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.http.shutdown()
        self.http.server_close()


def test_client_over_http_reads_documented_error_and_special_floats():
    error = example("error_not_found")
    floats = example("float_special_values")
    replies = {
        error["path"]: (error["status"], json.dumps(error["response"])),
        "/v1/models/floats:predict": (200, floats["response_text"]),
    }
    with CannedServer(replies) as canned:
        client = RestClient(canned.url, "half", policy=NO_RETRY)
        with pytest.raises(ServingError) as raised:
            client.predict([b"1.0", b"5.0"])
        assert str(raised.value) == (
            "HTTP 404: Servable not found for request: Latest(half)"
        )
        assert not raised.value.retryable
        rows = RestClient(canned.url, "floats", policy=NO_RETRY).predict([b"a"] * 3)
    assert math.isnan(rows[0]["output"])
    assert [row["output"] for row in rows[1:]] == [math.inf, -math.inf]


def test_server_over_http_answers_errors_in_the_documented_form(server):
    entry = example("error_not_found")
    with server:
        request = urllib.request.Request(
            server.rest_url + entry["path"],
            data=json.dumps(entry["request"]).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        status = raised.value.code
        reply = json.loads(raised.value.read())
        documented = example("half_plus_three_predict")
        client = RestClient(
            server.rest_url,
            documented["model"],
            request_format="inputs",
            policy=NO_RETRY,
        )
        with pytest.raises(ServingError, match="HTTP 400: input 'x' must be float"):
            client.predict([b"1.0"])  # the client sends strings only
    assert status == entry["status"]
    assert set(reply) == {"error"} and isinstance(reply["error"], str)
    # TF Serving says "Latest(half)"; the loopback server names the model.
    assert reply["error"].startswith("Servable not found for request:")
    assert "half" in reply["error"]
