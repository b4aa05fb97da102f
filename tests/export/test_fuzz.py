"""Property-based fuzzing (Hypothesis) of every exported SavedModel signature,
translator and tagger, with hostile inputs: empty strings, whitespace, 100,000
characters, invalid UTF-8, control characters, mixed scripts and emoji,
batches of 1 to 1,000. Longer runs: `python benchmarks/fuzz_exports.py`."""

import os
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.text.unicode import normalize_spaces
from tests import fuzzing

SENTENCES = fuzzing.SENTENCES
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 3))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return fuzzing.tiny_exports(str(tmp_path_factory.mktemp("fuzz")))


# Hypothesis batches go up to 64 rows here (1,000 in the long run and in
# test_extreme_batches), to keep the default run short.
def fuzz_signatures(path, max_batch=64):
    loaded = tf.saved_model.load(path)
    info = fuzzing.model_info(path)
    assert len(loaded.signatures) >= 1
    for name in sorted(loaded.signatures):
        function = loaded.signatures[name]

        @FUZZ
        @given(inputs=fuzzing.inputs_strategy(function, max_batch))
        def check(inputs):
            fuzzing.call_and_check(function, info, inputs)

        try:
            check()
        except Exception as error:
            raise AssertionError(f"signature {name} of {path}: {error}") from error
    return sorted(loaded.signatures)


def test_fuzz_every_translator_signature(exports):
    names = fuzz_signatures(exports["translator"])
    assert {"serving_default", "translate_greedy"} <= set(names)


def test_fuzz_every_tagger_signature(exports):
    names = fuzz_signatures(exports["tagger"])
    assert {"serving_default", "tag_tokens"} <= set(names)


@pytest.mark.parametrize("model", ["translator", "tagger"])
def test_extreme_batches(exports, model):
    """The corners, always: 1,000 rows, 100,000 characters, invalid UTF-8."""
    loaded = tf.saved_model.load(exports[model])
    info = fuzzing.model_info(exports[model])
    long = ("Mann 🙂 " * 20_000)[: fuzzing.LONG_LENGTH].encode()
    rows = [b"", b" \t\n", b"\xff\xfe\x00", "e\u0301 中文 🙂".encode(), b"a b"]
    for batch in (rows * 200, [long, b"", long[:5000]]):  # 1,000 rows; 100,000 chars
        batch = np.array(batch, object)
        for name, function in sorted(loaded.signatures.items()):
            ((key, spec),) = fuzzing.signature_inputs(function).items()
            if spec.dtype == tf.string and spec.shape.rank == 1:
                inputs = {key: batch}
            elif spec.dtype == tf.string:
                tokens = [row.split(b" ") for row in batch]
                inputs = {key: fuzzing._pad(tokens, b"", object)}
            else:
                inputs = {key: np.full((len(batch), 300), 7, spec.dtype.as_numpy_dtype)}
            outputs = fuzzing.call_and_check(function, info, inputs)
            translations = outputs.get("translations")
            if spec.dtype == tf.string and translations is not None:
                empty = np.array([row.strip() == b"" for row in batch])
                assert np.all(translations[empty] == b""), name  # empty sources


def test_every_signature_rejects_a_wrong_rank_or_dtype(exports):
    """A server feeds requests unchecked (TF Serving checks no shape): a
    wrong rank must be an InvalidArgument naming the input, never a crash
    (a rank-0 string to the tagger once ended the process with SIGSEGV)."""
    results = fuzzing.wrong_input_results([exports["translator"], exports["tagger"]])
    signatures = {result["probe"].split()[1] for result in results}
    assert signatures == {
        "serving_default", "translate_greedy", "translate_nbest", "translate_ids",
        "tag_tokens",
    }
    for result in results:
        key = result["probe"].split()[2].split("=")[0]
        if result["wrong"]:
            assert "error" in result, f"accepted: {result}"
            if result["wrong"] == "rank":
                assert f"tensor {key} " in result["error"], result
        else:
            assert "error" not in result, result
            assert set(result["rows"].values()) == {result["batch"]}, result


def test_sources_with_no_piece_translate_to_nothing(exports):
    """Whitespace of any kind and invisible characters leave SentencePiece no
    piece: every text signature returns the documented empty translation
    with score 0 (greedy once decoded garbage from them)."""
    loaded = tf.saved_model.load(exports["translator"])
    processor = fuzzing.model_info(exports["translator"]).source_processor
    sources = fuzzing.SPACES + fuzzing.IGNORABLE[:200]
    sources += ["\u3000\xa0\u200b\ufeff", "Zwei Männer"]
    empty = np.array([processor.encode(normalize_spaces(t)) == [] for t in sources])
    assert empty[: len(fuzzing.SPACES)].all() and not empty[-1]
    assert processor.encode("\u200b\ufeff") == []
    batch = tf.constant([text.encode("utf-8") for text in sources])
    for name in ("serving_default", "translate_greedy", "translate_nbest"):
        outputs = loaded.signatures[name](sources=batch)
        translations = outputs["translations"].numpy()
        scores = outputs["scores"].numpy()
        assert (translations[empty] == b"").all(), name
        assert (scores[empty] == 0.0).all(), name
        assert (translations[~empty] != b"").any(), name


# Text SentencePiece can represent: NFKC-normalized, no control or format
# characters, single spaces between words.
representable = st.text(
    st.characters(categories=["L", "M", "N", "P", "S"], exclude_characters="\u2581"),
    min_size=1,
    max_size=30,
).filter(lambda t: unicodedata.normalize("NFKC", t) == t)


@settings(FUZZ, max_examples=60)
@given(words=st.lists(representable, min_size=0, max_size=8))
def test_tokenizer_round_trip_keeps_representable_text(words):
    text = " ".join(words)
    model = tokenizer_model()
    processor = sp.processor(model)
    assert processor.decode(processor.encode(text)) == text
    graph = sp.in_graph_tokenizer(model)
    ids = graph.tokenize(tf.constant([text]))
    assert ids.to_list() == [processor.encode(text)]
    assert graph.detokenize(ids).numpy()[0].decode() == text


_MODEL = []


def tokenizer_model():
    if not _MODEL:
        _MODEL.append(sp.train_sentencepiece(SENTENCES, vocab_size=300))
    return _MODEL[0]


# Long runs, deselected by default (`slow`; the `fuzz` marker selects them):
# python -m pytest -m fuzz tests/export/test_fuzz.py
REAL_EXPORTS = ["saved_models/multi30k_en_de/1", "saved_models/tagger_ud_ewt_upos/1"]


@pytest.mark.slow
@pytest.mark.fuzz
def test_long_fuzz_of_tiny_and_real_exports(tmp_path, monkeypatch):
    from benchmarks import fuzz_exports

    monkeypatch.chdir(fuzzing.REPO_ROOT)
    models = [path for path in REAL_EXPORTS if os.path.isdir(path)]
    args = ["--tiny", "--examples", "10000", "--output", str(tmp_path / "fuzz.json")]
    for path in models:
        args += ["--model", path]
    assert fuzz_exports.main(args) == 0


@pytest.mark.slow
@pytest.mark.fuzz
def test_tflite_runners_survive_hostile_inputs():
    from nlp_lstm.export.tflite import load_runner

    directory = os.path.join(fuzzing.REPO_ROOT, "saved_models", "tflite")
    paths = sorted(
        os.path.join(directory, name)
        for name in (os.listdir(directory) if os.path.isdir(directory) else [])
        if name.endswith(".tflite")
    )
    if not paths:
        pytest.skip("no .tflite under saved_models/tflite (nlp-lstm export-tflite)")
    for path in paths:
        runner = load_runner(path)
        for signature in fuzzing.tflite_signatures(runner):

            @settings(FUZZ, max_examples=20)
            @given(rows=fuzzing.string_batches(16))
            def check(rows):
                if runner.metadata["task"] == "tagging":
                    fuzzing.check_tflite_tagger(runner, rows)
                else:
                    fuzzing.check_tflite_translator(runner, signature, rows)

            check()
