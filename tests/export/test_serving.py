"""TF Serving deployment, checked from the server's side: the op check against
the 2.19, 2.20 and 2.21 op sets, warmup files parsed back and replayed,
models.config, the REST and gRPC client against a loopback server that runs the
real SavedModels (`tests/serving_server.py`), bad requests, and an export killed
midway with SIGKILL."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from nlp_lstm import cli
from nlp_lstm.export import layout, saved_model
from nlp_lstm.export.serving import opcheck, warmup
from nlp_lstm.export.serving.client import (
    GrpcClient,
    RestClient,
    RetryPolicy,
    ServingError,
)
from nlp_lstm.export.tagger import TaggerServing, export_tagger
from nlp_lstm.export.translator import TranslatorModule, export_translator
from tests.helpers import REPO_ROOT
from tests.serving_server import LoopbackServer

SOURCES = ["the cat sat on the mat", "", "hello world", "a dog runs in the park"]
SENTENCES = ["Paris is nice .", "", "the cat sat on the mat", "unknown 😀 words"]
TRAINING_TEXT = [
    "the cat sat on the mat",
    "a dog runs in the park",
    "hello world",
    "i like green apples",
] * 25
FAST = RetryPolicy(timeout=60.0, retries=3, backoff=0.01)


def tiny_translator_module(beam_size: int = 3) -> TranslatorModule:
    from nlp_lstm.config import TranslatorModelConfig
    from nlp_lstm.models.translator import build, build_translator
    from nlp_lstm.text import sentencepiece as sp

    tf.keras.utils.set_random_seed(1)
    model_bytes = sp.train_sentencepiece(TRAINING_TEXT, vocab_size=300)
    size = sp.processor(model_bytes).vocab_size()
    config = TranslatorModelConfig(embedding_dim=8)
    config.encoder.units = 4
    config.decoder.units = 8
    model = build(build_translator(config, size, size))
    return TranslatorModule(model, model_bytes, model_bytes, beam_size=beam_size)


def tiny_tagger_module() -> TaggerServing:
    from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
    from nlp_lstm.layers.word_embedding import WordEmbedder
    from nlp_lstm.models.tagger import Tagger
    from nlp_lstm.text import words

    tf.keras.utils.set_random_seed(1)
    tokens = [sentence.split() for sentence in TRAINING_TEXT]
    vocabulary = words.WordVocabulary.build(tokens, min_frequency=1)
    chars = words.CharVocabulary.build(tokens, max_word_chars=6)
    model = Tagger(
        WordEmbedder(vocabulary.size, 4, char_vocabulary_size=chars.size,
                     char_units=3, num_casing=len(words.CASING), casing_dim=2),
        StackedBidirectionalEncoder(1, 3),
        num_tags=3,
    )
    serving = TaggerServing(model, words.TokenFeaturizer(vocabulary, chars),
                            ["O", "B-X", "I-X"], max_tokens=16)
    serving.serve(tf.constant(["build the model"]))
    return serving


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving") / "saved_models"
    translator = tiny_translator_module()
    tagger = tiny_tagger_module()
    paths = {
        "tiny_translator": export_translator(
            translator, str(root), "tiny_translator", {}, SOURCES
        ),
        "tiny_tagger": export_tagger(tagger, str(root), "tiny_tagger", {}, SENTENCES),
    }
    # The modules' own resources are not usable after saving: tests call the
    # reloaded SavedModels, as the server does.
    loaded = {name: tf.saved_model.load(path) for name, path in paths.items()}
    return {
        "root": root,
        "paths": paths,
        "translator": loaded["tiny_translator"].signatures,
        "tagger": loaded["tiny_tagger"].signatures,
        "source_processor": translator._source_processor,
    }


@pytest.fixture(scope="module")
def server(exported):
    models = {name: os.path.dirname(path) for name, path in exported["paths"].items()}
    with LoopbackServer(models, max_batch_size=8) as running:
        yield running


def decoded(values):
    return [value.decode("utf-8") for value in np.asarray(values).reshape(-1)]


def test_exports_pass_the_op_check_of_every_server(exported, capsys):
    for name, path in exported["paths"].items():
        assert cli.main(["serving", "check", path]) == 0
        out = capsys.readouterr().out
        assert "ok: every op and attr is registered in TF Serving 2.19" in out
        assert "ok: every op and attr is registered in TF Serving 2.20" in out
        assert "ok: every op and attr is registered in TF Serving 2.21" in out
        metadata = layout.read_metadata(path)
        assert metadata["serving_op_check"] == ["2.19", "2.20", "2.21"]
    ops = opcheck.signature_ops(exported["paths"]["tiny_translator"])
    assert {"serving_default", "translate_greedy", "translate_nbest",
            "translate_ids", opcheck.OTHER} <= set(ops)
    assert "SentencepieceTokenizeOp" in ops["serving_default"]
    assert "SentencepieceTokenizeOp" not in ops["translate_ids"]
    assert "While" in ops["translate_greedy"]  # found inside called functions
    tagger_ops = opcheck.signature_ops(exported["paths"]["tiny_tagger"])
    assert "TFText>WhitespaceTokenizeWithOffsetsV2" in tagger_ops["serving_default"]


def test_each_signature_is_saved_once(exported):
    """The export tracks the module's variables and resources, not its
    `tf.function` attributes: one traced function per serving method, and
    none of the Keras model's own (which a server would load for nothing)."""
    for path in exported["paths"].values():
        library = opcheck.read_meta_graph(path).graph_def.library.function
        names = [function.signature.name for function in library]
        traced = [re.sub(r"_\d+$", "", name) for name in names
                  if name.startswith("__inference_serve")]
        assert traced and len(traced) == len(set(traced)), sorted(traced)
        assert not any("serving_default" in name for name in names), names


def test_exports_hold_no_custom_gradients(exported):
    """The encoder's inference loop has no hand-written gradient: a graph
    with one (`_gradient_op_type`) makes `tf.saved_model.load` warn that a
    gradient would fail, and its loop kept per-step tensors for it."""
    for path in exported["paths"].values():
        library = opcheck.read_meta_graph(path).graph_def.library.function
        marked = [
            (function.signature.name, node.name)
            for function in library
            for node in function.node_def
            if "_gradient_op_type" in node.attr
        ]
        assert not marked, marked


class Trimmer(tf.Module):
    """Uses `TFText>RoundRobinTrim`, which tf-text 2.12 (servers 2.16-2.19) lacks."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def trim(self, text):
        import tensorflow_text as tf_text

        words = tf.strings.split(text)
        (trimmed,) = tf_text.RoundRobinTrimmer(max_seq_length=2).trim([words])
        return {"words": trimmed.to_tensor("")}


def test_op_check_names_the_missing_op_and_its_signature(
    tmp_path, capsys, monkeypatch
):
    module = Trimmer()
    path = str(tmp_path / "trimmer")
    tf.saved_model.save(module, path, signatures={"trim": module.trim})
    assert cli.main(["serving", "check", path, "--server-version", "2.19"]) == 1
    out = capsys.readouterr().out
    assert "error: op 'TFText>RoundRobinTrim' used by signature 'trim'" in out
    assert "TF Serving 2.19 (tensorflow 2.19.0, tensorflow-text 2.12.0)" in out
    assert cli.main(["serving", "check", path, "--server-version", "2.20"]) == 0

    # A node attr that the server's OpDef lacks (as when a later TF adds one).
    older = dict(opcheck.server_ops("2.20"))
    older["Cast"] = older["Cast"] - {"DstT"}
    monkeypatch.setattr(opcheck, "server_ops", lambda version: older)
    result = opcheck.check(path, "2.20")
    assert not result.ok and not result.missing
    assert result.errors() == [
        "op 'Cast' has attr 'DstT' (signature 'trim') that TF Serving "
        "2.20 (tensorflow 2.20.0, tensorflow-text 2.20.0) does not declare"
    ]
    monkeypatch.undo()

    base = str(tmp_path / "models" / "trimmer")
    with pytest.raises(opcheck.OpCompatibilityError, match="RoundRobinTrim"):
        saved_model.write_version(
            module, {"trim": module.trim}, base, {}, server_versions=("2.19",)
        )
    assert os.listdir(base) == []  # nothing published, no temporary left


def test_warmup_files_parse_back_and_replay(exported):
    expected_signatures = {
        "tiny_translator": {"serving_default", "translate_greedy", "translate_nbest",
                            "translate_ids"},
        "tiny_tagger": {"serving_default", "tag_tokens"},
    }
    for name, path in exported["paths"].items():
        logs = warmup.read_warmup(path)
        assert 0 < len(logs) <= warmup.MAX_RECORDS
        requests = [log.predict_log.request for log in logs]
        assert {r.model_spec.signature_name for r in requests} == (
            expected_signatures[name]
        )
        assert {r.model_spec.name for r in requests} == {name}
        results = warmup.replay(path)
        assert len(results) == len(logs)
    requests = [
        log.predict_log.request
        for log in warmup.read_warmup(exported["paths"]["tiny_translator"])
    ]
    largest = tf.make_ndarray(requests[-4].inputs["sources"])
    assert decoded(largest) == SOURCES  # real sample inputs, not placeholders
    results = dict(warmup.replay(exported["paths"]["tiny_translator"])[-4:])
    assert results["translate_nbest"]["translations"].shape == (len(SOURCES), 3)
    np.testing.assert_allclose(
        results["translate_nbest"]["scores"][:, 0],
        results["serving_default"]["scores"], atol=1e-5,
    )


def test_translator_signatures_agree(exported):
    signatures = exported["translator"]
    sources = tf.constant(SOURCES)
    best = signatures["serving_default"](sources=sources)
    nbest = signatures["translate_nbest"](sources=sources)
    assert decoded(nbest["translations"][:, 0]) == decoded(best["translations"])
    scores = nbest["scores"].numpy()
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    rows = exported["source_processor"].encode(SOURCES)
    width = max(len(row) for row in rows)
    ids = tf.constant([row + [0] * (width - len(row)) for row in rows], tf.int32)
    by_ids = signatures["translate_ids"](source_ids=ids)
    assert decoded(by_ids["translations"]) == decoded(best["translations"])
    assert by_ids["lengths"].numpy()[1] == 0
    np.testing.assert_allclose(by_ids["scores"], best["scores"], atol=1e-5)
    # Ids outside the vocabulary and empty batches do not fail.
    signatures["translate_ids"](source_ids=tf.constant([[10**6, -5, 7]], tf.int32))
    empty = tf.constant([], tf.string)
    assert signatures["serving_default"](sources=empty)["translations"].shape == (0,)
    assert signatures["translate_nbest"](sources=empty)["scores"].shape == (0, 3)


def test_models_config_for_every_model(exported, tmp_path, capsys):
    root = str(exported["root"])
    output = str(tmp_path / "models.config")
    args = ["serving", "config", root, "--output", output]
    assert cli.main(args + ["--policy", "all", "--base-path", "/models"]) == 0
    config = text_format.Parse(
        open(output).read(), model_server_config_pb2.ModelServerConfig()
    )
    entries = config.model_config_list.config
    assert [e.name for e in entries] == ["tiny_tagger", "tiny_translator"]
    assert entries[0].base_path == "/models/tiny_tagger"
    assert entries[0].model_platform == "tensorflow"
    assert entries[0].model_version_policy.HasField("all")
    assert cli.main(args + ["--policy", "specific:1,4"]) == 0
    config = text_format.Parse(
        open(output).read(), model_server_config_pb2.ModelServerConfig()
    )
    entry = config.model_config_list.config[1]
    assert entry.base_path == os.path.join(root, "tiny_translator")
    assert list(entry.model_version_policy.specific.versions) == [1]
    assert "has no version [4]" in capsys.readouterr().err
    assert cli.main(args) == 0
    text = open(output).read()
    assert text.count("latest {\n        num_versions: 1") == 2
    for bad in ("specific:9", "newest", "specific:"):
        with pytest.raises(SystemExit):
            cli.main(args + ["--policy", bad])


def test_rest_and_grpc_round_trips(server, exported):
    translator, tagger = exported["translator"], exported["tagger"]
    values = [text.encode("utf-8") for text in SOURCES] + [b"\xff\xfe bad utf-8"]
    expected = translator["serving_default"](sources=tf.constant(values))
    for request_format in ("instances", "inputs"):
        client = RestClient(server.rest_url, "tiny_translator",
                            request_format=request_format, policy=FAST)
        rows = client.predict(values)
        assert [row["translations"] for row in rows] == decoded(
            expected["translations"]
        )
        np.testing.assert_allclose(
            [row["scores"] for row in rows], expected["scores"], atol=1e-5
        )
    client = GrpcClient(server.grpc_target, "tiny_translator", version=1, policy=FAST)
    rows = client.predict(values)
    client.close()
    assert [row["translations"].decode() for row in rows] == decoded(
        expected["translations"]
    )
    nbest = RestClient(server.rest_url, "tiny_translator", version=1,
                       signature="translate_nbest", policy=FAST).predict(values[:2])
    assert len(nbest[0]["translations"]) == 3 and nbest[1]["translations"] == [""] * 3

    sentences = [text.encode("utf-8") for text in SENTENCES]
    tags = tagger["serving_default"](sentences=tf.constant(sentences))
    for client in (
        RestClient(server.rest_url, "tiny_tagger", policy=FAST),
        GrpcClient(server.grpc_target, "tiny_tagger", policy=FAST),
    ):
        rows = client.predict(sentences)
        for row, expected_tags, length in zip(
            rows, tags["tags"].numpy(), tags["lengths"].numpy(), strict=True
        ):
            got = [t.decode() if isinstance(t, bytes) else t for t in row["tags"]]
            assert got == decoded(expected_tags) and row["lengths"] == length
    with pytest.raises(ServingError, match="HTTP 404"):
        RestClient(server.rest_url, "tiny_tagger", version=9, policy=FAST).predict(
            sentences
        )


def run_cli_client(monkeypatch, capsys, args, lines: bytes):
    stdin = io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    code = cli.main(["serving", "client", *args])
    captured = capsys.readouterr()
    return code, captured.out.split("\n")[:-1], captured.err


def test_cli_client_over_rest_and_grpc(server, exported, monkeypatch, capsys):
    lines = SOURCES + ["x"]
    serve = exported["translator"]["serving_default"]
    expected = decoded(serve(sources=tf.constant(lines))["translations"])
    data = ("\n".join(lines) + "\n").encode("utf-8")
    endpoints = [
        ["--url", server.rest_url],
        ["--url", server.rest_url, "--request-format", "inputs"],
        ["--grpc", server.grpc_target],
    ]
    for endpoint in endpoints:
        code, out, err = run_cli_client(
            monkeypatch, capsys,
            [*endpoint, "--model", "tiny_translator", "--batch-size", "2"], data,
        )
        assert code == 0, err
        assert out == expected
    # A batch over the server's maximum (8) is sent again line by line.
    code, out, err = run_cli_client(
        monkeypatch, capsys,
        ["--url", server.rest_url, "--model", "tiny_tagger", "--batch-size", "10",
         "--output", "json"],
        ("\n".join(SENTENCES * 3) + "\n").encode("utf-8"),
    )
    assert code == 0 and len(out) == 12
    assert json.loads(out[0])["tokens"][:3] == ["Paris", "is", "nice"]


def test_client_reports_failed_lines_and_goes_on(server, monkeypatch, capsys):
    # The gRPC server takes messages up to 4 MiB (the gRPC default): the big
    # line fails alone, the others are translated.
    lines = b"hello world\n" + b"x " * 2_500_000 + b"\nthe cat\n"
    code, out, err = run_cli_client(
        monkeypatch, capsys,
        ["--grpc", server.grpc_target, "--model", "tiny_translator",
         "--batch-size", "3"], lines,
    )
    assert code == 1 and len(out) == 3
    assert out[1] == "" and "line 2: gRPC RESOURCE_EXHAUSTED" in err
    assert "line 1" not in err and "line 3" not in err
    code, out, err = run_cli_client(
        monkeypatch, capsys,
        ["--url", server.rest_url, "--model", "no_such_model"], b"a\nb\n",
    )
    assert code == 1 and out == ["", ""]
    assert "line 1: HTTP 404" in err and "line 2: HTTP 404" in err


def test_client_retries_when_unavailable_and_times_out(server):
    client = RestClient(server.rest_url, "tiny_translator", policy=FAST)
    server.unavailable_next = 2
    before = server.requests
    assert client.predict([b"hello world"])[0]["translations"] is not None
    assert server.requests - before == 3
    server.unavailable_next = 2
    grpc_client = GrpcClient(server.grpc_target, "tiny_translator", policy=FAST,
                             input_name="sources")
    assert len(grpc_client.predict([b"hello world"])) == 1
    server.unavailable_next = 10
    with pytest.raises(ServingError, match="gRPC UNAVAILABLE") as error:
        grpc_client.predict([b"hello"])
    assert error.value.retryable
    server.unavailable_next = 0
    grpc_client.close()
    server.delay_seconds = 1.0
    try:
        slow = RestClient(server.rest_url, "tiny_translator",
                          policy=RetryPolicy(timeout=0.2, retries=0))
        with pytest.raises(ServingError, match="no answer within 0.2 s"):
            slow.predict([b"hello"])
    finally:
        server.delay_seconds = 0.0
    unreachable = RestClient("http://127.0.0.1:9", "m",
                             policy=RetryPolicy(timeout=1, retries=1, backoff=0.01))
    with pytest.raises(ServingError, match="cannot reach") as error:
        unreachable.predict([b"a"])
    assert error.value.retryable


def post(url: str, body: bytes):
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_bad_requests_get_errors_and_the_server_keeps_serving(server):
    url = f"{server.rest_url}/v1/models/tiny_translator:predict"
    cases = [
        (b'{"inputs": {"texts": ["a"]}}', 400, "'texts' is not in signature"),
        (b'{"instances": [1, 2]}', 400, "is a string tensor"),
        (b'{"instances": [["a"], "b"]}', 400, "dense"),
        (json.dumps({"instances": ["a"] * 9}).encode(), 400, "over the maximum of 8"),
        (b'{"instances": ["\xff\xfe"]}', 400, "not UTF-8 JSON"),
        (b'{"instances": [{"b64": "!!"}]}', 400, "bad base64"),
        (b'{"instances": ["a"', 400, "not UTF-8 JSON"),
        (b'{"instances": ["a"], "inputs": ["a"]}', 400, "exactly one"),
        (b'{"signature_name": "nope", "instances": ["a"]}', 400, "not found"),
        (b'{"signature_name": "translate_ids", "instances": [[1.5]]}', 400,
         "must be int32"),
    ]
    for body, status, message in cases:
        code, reply = post(url, body)
        assert code == status and message in reply["error"], (body, reply)
    code, reply = post(f"{server.rest_url}/v1/models/nope:predict", b'{"inputs": []}')
    assert code == 404 and "nope" in reply["error"]
    code, reply = post(url.replace(":predict", ":regress"), b"{}")
    assert code == 404

    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(server.grpc_target)
    )
    for inputs, message in [
        ({"texts": np.array([b"a"], object)}, "unknown ['texts']"),
        ({"sources": np.array([1, 2], np.int32)}, "must be string"),
        ({"sources": np.array([b"a"] * 9, object)}, "over the maximum"),
        # Shapes reach the model unchecked, as in TF Serving: the model refuses.
        ({"sources": np.array([[b"a"]], object)}, "tensor sources [1,1] is not"),
        ({"sources": np.array(b"hola mundo", object)}, "tensor sources [] is not"),
    ]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "tiny_translator"
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(request, timeout=60)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in error.value.details()
    # Still serving: invalid UTF-8 sent as b64 is translated (replaced).
    code, reply = post(url, b'{"instances": [{"b64": "/w=="}, "hello world"]}')
    assert code == 200 and len(reply["predictions"]) == 2


KILLED_EXPORT = """
import sys, time
from nlp_lstm.export.serving import opcheck
from nlp_lstm.export.tagger import export_tagger
from tests.export.test_serving import tiny_tagger_module

def stall(path, server_versions):
    print("saved", path, flush=True)
    time.sleep(600)

opcheck.require_compatible = stall
export_tagger(tiny_tagger_module(), sys.argv[1], "killed", {})
"""


def test_export_killed_midway_publishes_nothing(tmp_path):
    root = tmp_path / "saved_models"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT, env=env,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("saved "), child.stderr.read()[-3000:]
        temporary = line.split(" ", 1)[1].strip()
        assert os.path.isfile(os.path.join(temporary, "saved_model.pb"))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    base = root / "killed"
    leftovers = os.listdir(base)
    assert layout.versions(str(base)) == []
    assert leftovers and all(name.startswith(".") for name in leftovers)

    path = export_tagger(tiny_tagger_module(), str(root), "killed", {})
    assert path == str(base / "1")
    assert os.listdir(base) == ["1"]  # the dead export's folder is gone
    assert os.path.isfile(os.path.join(path, "assets.extra", "nlp_lstm.json"))
    assert not os.path.exists(os.path.join(path, saved_model.OWNER_FILE))
