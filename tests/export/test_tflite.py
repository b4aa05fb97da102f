"""TFLite export: fused LSTMs, builtin-only files, parity with Keras and the
SavedModel, quantized variants, the LiteRT runners and the CLI."""

import errno
import io
import json
import os
import pathlib
import shutil
import sys
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm import cli
from nlp_lstm import config as config_lib
from nlp_lstm.bundle import TaggerBundle, TranslatorBundle
from nlp_lstm.config import TranslationConfig
from nlp_lstm.decoding.translate import translate_ids
from nlp_lstm.export.tflite import convert as convert_lib
from nlp_lstm.export.tflite.encoder import FusedEncoderLayers
from nlp_lstm.export.tflite.export import export_tflite
from nlp_lstm.export.tflite.runtime import (
    TFLiteTagger,
    TFLiteTranslator,
    TruncationWarning,
)
from nlp_lstm.export.translator import TranslatorModule
from nlp_lstm.layers.crf import CRF
from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from nlp_lstm.layers.word_embedding import WordEmbedder
from nlp_lstm.models.tagger import Tagger
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.text.tags import TagVocabulary
from nlp_lstm.text.words import CASING, CharVocabulary, TokenFeaturizer, WordVocabulary
from nlp_lstm.utils import files as files_lib
from nlp_lstm.utils import heap

SENTENCES = [
    "a man is riding a horse",
    "two dogs play in the snow",
    "the woman reads a book",
    "children are running on the beach",
    "a cat sleeps on the red sofa",
]


def interpreter(data):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=data, num_threads=1)


def assert_builtin_fused(path_or_bytes, allowed_custom=()):
    ops = convert_lib.op_list(path_or_bytes)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops
    assert not [op for op in ops if op.startswith("Flex")], ops
    assert [op for op in ops if not op.isupper()] == list(allowed_custom), ops


def test_fused_encoder_matches_keras_on_padded_and_unpadded_inputs():
    keras.utils.set_random_seed(3)
    encoder = StackedBidirectionalEncoder(num_layers=2, units=6)
    encoder.build((1, None, 5))
    layer_fn = FusedEncoderLayers(encoder)

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, 5], tf.float32)])
        def encode(self, x):
            mask = tf.reduce_any(x != 0, -1)
            outputs, states = encoder(x, mask=mask, layer_fn=layer_fn)
            return {"outputs": outputs, "h": states[1][0], "c": states[1][1]}

    module = Module()
    data = convert_lib.convert(module, [module.encode.get_concrete_function()])
    assert convert_lib.op_counts(data)["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 4
    assert_builtin_fused(data)
    runner = interpreter(data).get_signature_runner()
    x = np.random.RandomState(0).normal(size=(1, 7, 5)).astype(np.float32)
    # Unpadded, short, padded; then the same shapes again (LiteRT keeps the
    # fused op's states between invocations of one shape: each call must
    # still start from zeros).
    for length, width in ((7, 7), (4, 4), (4, 7), (7, 7), (4, 7), (4, 7)):
        inputs = x[:, :width].copy()
        inputs[:, length:] = 0.0
        mask = np.arange(width)[None] < length
        expected, states = encoder(inputs, mask=mask)
        result = runner(x=inputs)
        np.testing.assert_allclose(
            result["outputs"][:, :length], np.asarray(expected)[:, :length], atol=1e-5
        )
        np.testing.assert_allclose(result["h"], np.asarray(states[1][0]), atol=1e-5)
        np.testing.assert_allclose(result["c"], np.asarray(states[1][1]), atol=1e-5)


@pytest.fixture(scope="module")
def translator_source(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model_bytes = sp.train_sentencepiece(SENTENCES * 20, vocab_size=300)
    config = TranslationConfig(name="tiny_translator")
    config.model.embedding_dim = 16
    config.model.encoder.units = 8
    config.model.decoder.units = 16
    config.decoding.beam_size = 3
    vocab = sp.processor(model_bytes).vocab_size()
    model = build_translator(config.model, vocab, vocab)
    # Larger weights than the initializers give: confident, tie-free argmaxes.
    for variable in model.weights:
        variable.assign(variable.numpy() * 3.0)
    return TranslatorBundle(
        config, model, {"source": model_bytes, "target": model_bytes},
        path=str(tmp_path_factory.mktemp("run")),
    )


@pytest.fixture(scope="module")
def translator_files(translator_source, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tflite")
    # float32 through the CLI, from a run folder (a saved bundle).
    run_dir = directory / "run"
    translator_source.save(str(run_dir))
    files = {"none": str(directory / "tiny.none.tflite")}
    # With a greedy signature for batches of 4 (the other files have none).
    assert cli.main(["export-tflite", "--model", str(run_dir), "--output",
                     files["none"], "--batch-size", "4"]) == 0
    for quantize in ("float16", "dynamic-int8"):
        files[quantize] = export_tflite(
            translator_source, str(directory / f"tiny.{quantize}.tflite"),
            quantize=quantize,
        )
    files["in-graph"] = export_tflite(
        translator_source, str(directory / "tiny.text.tflite"), tokenizer="in-graph"
    )
    return files


def test_translator_files_are_builtin_with_fused_lstms(translator_files):
    for name, path in translator_files.items():
        custom = [convert_lib.TFTEXT_TOKENIZE_OP] if name == "in-graph" else []
        assert_builtin_fused(path, custom)
        metadata = convert_lib.read_metadata(path)
        assert metadata["quantization"] == ("none" if name == "in-graph" else name)
        assert metadata["beam_size"] == 3
        assert metadata["special_ids"]["eos"] == sp.EOS_ID
        batched = (
            {"translate_greedy_batch", "translate_beam_batch"} if name == "none"
            else set()
        )
        assert set(metadata["signatures"]) == {
            "translate_greedy", "translate_beam", *batched
        }
    sizes = {name: len(open(path, "rb").read()) for name, path in
             translator_files.items()}
    # Tiny tensors stay float32 (the converter skips them), so only less.
    assert sizes["dynamic-int8"] < sizes["float16"] < sizes["none"]


def test_translator_matches_keras_on_padded_and_unpadded_sources(
    translator_source, translator_files
):
    model = translator_source.model
    runner = TFLiteTranslator(translator_files["none"])
    for text in SENTENCES[:3]:
        ids = runner.encode(text)
        padded = np.pad(ids, [[0, 0], [0, 4]])
        for source in (ids, padded):
            for beam, name in ((1, "translate_greedy"), (3, "translate_beam")):
                expected = translate_ids(model, tf.constant(ids), beam_size=beam)
                result = runner.signature(name)(
                    source_ids=source,
                    max_length=np.array([0], np.int32),
                    eos_id=np.array([sp.EOS_ID], np.int32),
                )
                length = int(expected["lengths"][0])
                assert int(result["length"][0]) == length
                np.testing.assert_array_equal(
                    result["ids"][0, : length + 1],
                    expected["ids"].numpy()[0, : length + 1],
                )
                np.testing.assert_allclose(
                    result["score"], expected["scores"].numpy(), atol=1e-4
                )


def test_greedy_tflite_equals_the_savedmodel_token_for_token(
    translator_source, translator_files, tmp_path
):
    import tensorflow_text  # noqa: F401

    spm = translator_source.tokenizers["source"]
    module = TranslatorModule(translator_source.model, spm, spm, beam_size=3)
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.signatures())
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    sources = SENTENCES + ["", "a horse"]
    expected = [
        text.decode("utf-8") for text in loaded.signatures["translate_greedy"](
            sources=tf.constant(sources)
        )["translations"].numpy()
    ]
    for name in ("none", "in-graph"):
        runner = TFLiteTranslator(translator_files[name])
        assert runner.translate(sources) == expected
    # Token for token: the SavedModel's batch computation, run on the model.
    runner = TFLiteTranslator(translator_files["none"])
    texts = [text for text in sources if text]
    encoded = [runner.encode(text)[0].tolist() for text in texts]
    width = max(len(ids) for ids in encoded)
    batch = np.array([ids + [0] * (width - len(ids)) for ids in encoded], np.int32)
    result = translate_ids(translator_source.model, tf.constant(batch))
    for row, text in enumerate(texts):
        expected_ids = result["ids"].numpy()[row, : int(result["lengths"][row])]
        assert runner.translate_ids(text)[0] == expected_ids.tolist()
    beam = [
        text.decode("utf-8") for text in loaded.signatures["serving_default"](
            sources=tf.constant(sources)
        )["translations"].numpy()
    ]
    assert runner.translate(sources, beam=True) == beam


def test_conversion_traces_no_keras_forward_pass(translator_source, tmp_path,
                                                monkeypatch):
    # The converter saves what it is given as a SavedModel first: given the
    # module with its Keras model, that save traced the model's training
    # forward pass and its custom gradients (a third of an export's time),
    # none of which is in the file. The encoder's loop counts the traces.
    from nlp_lstm.layers import rnn_loops

    calls = []
    real = rnn_loops._forward_loop  # what training and inference loops both run

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(rnn_loops, "_forward_loop", counted)
    path = export_tflite(translator_source, str(tmp_path / "t.tflite"),
                         measure_quality=False)
    assert calls == []
    assert_builtin_fused(path)
    translator_source.model(
        (tf.constant([[5, 6, 2]]), tf.constant([[1, 7]])), training=False
    )
    assert calls  # the count sees the Keras forward pass


def test_quantized_translators_load_and_run(translator_files):
    for name in ("float16", "dynamic-int8"):
        runner = TFLiteTranslator(translator_files[name])
        for text in SENTENCES[:2]:
            for beam in (False, True):
                ids, score = runner.translate_ids(text, beam=beam)
                source_tokens = len(runner.encode(text)[0]) - 1
                assert 0 < len(ids) <= int(np.ceil(1.5 * source_tokens)) + 10
                assert all(0 <= i < 300 for i in ids) and np.isfinite(score)


@pytest.fixture(scope="module")
def tagger_parts():
    keras.utils.set_random_seed(1)
    train = [s.split() for s in SENTENCES] + [["Madrid", "3,5", "É", "USA"]]
    words = WordVocabulary.build(train, min_frequency=1)
    chars = CharVocabulary.build(train, max_word_chars=6)
    tags = TagVocabulary(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "iob2")
    embedder = WordEmbedder(
        words.size, 8, char_vocabulary_size=chars.size, char_encoder="lstm",
        char_dim=4, char_units=3, num_casing=len(CASING), casing_dim=2,
    )
    model = Tagger(embedder, StackedBidirectionalEncoder(2, 6), num_tags=len(tags),
                   crf=CRF(len(tags)))
    model.build()
    for variable in model.weights:
        variable.assign(variable.numpy() * 3.0)
    featurizer = TokenFeaturizer(words, chars)
    config = config_lib.TaggingConfig(name="tiny_tagger")
    config.data.tokenizer = "unicode_script"
    source = TaggerBundle(config, model, featurizer, tags)
    return source, featurizer


TAGGER_TOKENS = [
    ["a", "man", "Madrid", "USA", "3,5", "Ünïcödé", "x-ray", "abc1", "É"],
    ["two", "dogs"],
    ["Cats"],
    # Three blocks of the char BiLSTM loop (16 words each).
    (["Madrid", "USA", "dogs", "É", "play", "3,5", "x"] * 5)[:35],
]


def test_tagger_tflite_matches_keras_and_the_featurizer(tagger_parts, tmp_path):
    source, featurizer = tagger_parts
    path = export_tflite(source, str(tmp_path / "tagger.tflite"), max_tokens=40)
    assert_builtin_fused(path)
    metadata = convert_lib.read_metadata(path)
    assert metadata["head"] == "crf" and metadata["max_tokens"] == 40
    runner = TFLiteTagger(path)
    for tokens in TAGGER_TOKENS:
        expected = featurizer(tf.constant([tokens]))
        features = runner.features(tokens)
        for name, value in features.items():
            np.testing.assert_array_equal(value, expected[name].numpy(), err_msg=name)
        ids = source.model.decode(expected).numpy()[0]
        assert runner.tag_tokens(tokens) == [source.tag_vocabulary.tags[i] for i in ids]
    # Padded input (a batch of two, right-padded) gives the same tags.
    padded = featurizer(tf.constant([TAGGER_TOKENS[1] + [""] * 3]))
    result = runner.runner(**{name: padded[name].numpy() for name in runner.inputs})
    ids = source.model.decode(padded).numpy()
    np.testing.assert_array_equal(result["tags"], ids)
    assert runner.tag(["Cats, dogs."])[0]["tokens"] == ["Cats", ",", "dogs", "."]
    with pytest.warns(TruncationWarning, match="45 tokens was cut to .* 40"):
        long_tags = runner.tag_tokens(["a"] * 45)  # cut at max_tokens
    assert long_tags[40:] == [""] * 5 and "" not in long_tags[:40]
    quantized = export_tflite(
        source, str(tmp_path / "tagger.int8.tflite"), quantize="dynamic-int8"
    )
    assert_builtin_fused(quantized)
    assert len(TFLiteTagger(quantized).tag_tokens(TAGGER_TOKENS[0])) == 9


def test_tagger_rejects_the_in_graph_tokenizer(tagger_parts, tmp_path):
    with pytest.raises(ValueError, match="--tokenizer app"):
        export_tflite(tagger_parts[0], str(tmp_path / "t.tflite"), tokenizer="in-graph")


def test_cli_inspect_and_tflite_run(translator_files, monkeypatch, capsys):
    path = translator_files["none"]
    assert cli.main(["inspect", path]) == 0
    printed = capsys.readouterr().out
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in printed and "Flex ops: 0" in printed
    lines = "\n".join(SENTENCES[:2] + [""]) + "\n"
    stdin = io.TextIOWrapper(io.BytesIO(lines.encode("utf-8")), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert cli.main(["tflite-run", "--model", path, "--format", "json"]) == 0
    outputs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = TFLiteTranslator(path).translate(SENTENCES[:2] + [""])
    assert [o["translation"] for o in outputs] == expected


def test_batched_searches_equal_a_sentence_a_call(translator_files, monkeypatch,
                                                 capsys):
    path = translator_files["none"]
    inputs = convert_lib.read_metadata(path)["signatures"]["translate_greedy_batch"]
    assert inputs["inputs"]["source_ids"]["shape"] == [4, -1]
    # 7 texts with 2 empty ones: a full batch of 4, then one of 1 padded to 4.
    texts = SENTENCES + ["", "   "]
    texts = [texts[i] for i in (0, 5, 1, 2, 6, 3, 4)]
    runner = TFLiteTranslator(path, workers=2)
    assert runner.batched and len(runner.workers) == 2
    for beam in (False, True):
        batched = runner.translate_ids_batched(texts, beam)
        single = [runner.translate_ids(text, beam) for text in texts]
        assert [ids for ids, _ in batched] == [ids for ids, _ in single], beam
        assert batched[1] == ([], 0.0) and batched[4] == ([], 0.0)
        assert any(ids for ids, _ in batched)
        np.testing.assert_allclose([s for _, s in batched], [s for _, s in single],
                                   rtol=1e-4, atol=1e-5)
    single = [runner.translate_ids(text) for text in texts]
    # The LiteRT commands keep large freed blocks off the C heap (utils.heap).
    heap_fixes = []
    monkeypatch.setattr(heap, "keep_large_blocks_off_the_heap",
                        lambda: heap_fixes.append(True))
    # `tflite-run` takes the batch signature for greedy lines.
    stdin = io.TextIOWrapper(io.BytesIO(("\n".join(texts) + "\n").encode("utf-8")),
                             encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert cli.main(["tflite-run", "--model", path, "--workers", "2", "--format",
                     "json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.split("\n")[:-1]]
    decode = runner.target_processor.decode
    assert [row["translation"] for row in printed] == [
        decode(ids) for ids, _ in single
    ]
    # So does `nlp-lstm translate` of a .tflite (LiteRT, no TensorFlow needed).
    for beam_size, expected in (("1", single),
                                ("3", [runner.translate_ids(t, True) for t in texts])):
        stdin = io.TextIOWrapper(
            io.BytesIO(("\n".join(texts) + "\n").encode("utf-8")), encoding="utf-8"
        )
        monkeypatch.setattr(sys, "stdin", stdin)
        assert cli.main(["translate", "--model", path, "--beam-size", beam_size,
                         "--threads", "2"]) == 0
        assert capsys.readouterr().out.split("\n")[:-1] == [
            decode(ids) for ids, _ in expected
        ]
    assert len(heap_fixes) == 3  # tflite-run, then translate twice
    with pytest.raises(SystemExit, match="exported with beam size 3"):
        cli.main(["translate", "--model", path, "--beam-size", "5"])
    # A file without the signature says how to get it.
    with pytest.raises(ValueError, match="no batch signatures.*--batch-size"):
        TFLiteTranslator(translator_files["float16"]).translate_ids_batched(texts)


def test_cli_card_of_a_tflite_says_what_was_not_measured(
    translator_files, tmp_path, capsys
):
    path = translator_files["none"]
    card_path = convert_lib.sidecar_paths(path)["card"]
    card = json.loads(pathlib.Path(card_path).read_text())
    assert card["export"]["format"] == "tflite"
    assert card["export"]["quantization"] == "none"
    # A bundle saved without a pipeline has no evaluation to compare with.
    assert card["export"]["quality_change"] == {
        "measured": False,
        "reason": "the bundle has no test-set evaluation to compare with",
    }
    assert convert_lib.read_metadata(path)["files"]["card"].endswith(".card.json")
    capsys.readouterr()
    assert cli.main(["card", path]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Model card: tiny_translator")
    assert "- This copy: tflite, quantization none" in printed
    assert "Quality change: not measured (the bundle has no test-set" in printed
    lonely = tmp_path / "lonely.tflite"
    shutil.copyfile(path, lonely)
    with pytest.raises(SystemExit, match="has no model card beside it"):
        cli.main(["card", str(lonely)])


def _copy_set(path: str, destination) -> str:
    """Copies the files of the export set of `path` under another stem."""
    target = str(destination / "renamed.tflite")
    for role, file in convert_lib.sidecar_paths(path).items():
        if os.path.exists(file):
            shutil.copyfile(file, convert_lib.sidecar_paths(target)[role])
    return target


def test_a_set_that_was_not_written_together_is_refused(translator_files, tmp_path):
    """An export killed (or out of disk) between two files of a set leaves a
    new tokenizer beside the old model: the runner must refuse the pair, and
    a set renamed as a whole must still load."""
    renamed = _copy_set(translator_files["none"], tmp_path)
    expected = TFLiteTranslator(translator_files["none"]).translate(SENTENCES[:2])
    assert TFLiteTranslator(renamed).translate(SENTENCES[:2]) == expected
    paths = convert_lib.sidecar_paths(renamed)
    # Another export of a different model into the same name, stopped after
    # its first file.
    other = sp.train_sentencepiece(SENTENCES * 20 + ["zebra quagga okapi"] * 5, 310)

    def fail_on_model(path, data):
        if path == renamed:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        write_bytes(path, data)

    write_bytes = files_lib.atomic_write_bytes
    with mock.patch.object(convert_lib, "atomic_write_bytes", fail_on_model):
        with pytest.raises(OSError, match="No space left"):
            convert_lib.write_files(
                renamed, pathlib.Path(renamed).read_bytes(), {"task": "translation"},
                {"sentencepiece": other},
            )
    assert pathlib.Path(paths["sentencepiece"]).read_bytes() == other
    with pytest.raises(convert_lib.MismatchedFilesError, match="renamed.spm.model"):
        TFLiteTranslator(renamed)
    with pytest.raises(SystemExit, match="error: .*renamed.spm.model does not belong"):
        cli.main(["tflite-run", "--model", renamed])
    os.remove(paths["sentencepiece"])
    with pytest.raises(convert_lib.MismatchedFilesError, match="is missing"):
        TFLiteTranslator(renamed)


def test_inspect_of_a_damaged_file_is_one_error(translator_files, tmp_path):
    data = pathlib.Path(translator_files["none"]).read_bytes()
    for name, damaged in [("cut", data[:1000]), ("noise", os.urandom(5000))]:
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(damaged)
        with pytest.raises(SystemExit, match=f"error: .*{name}.tflite is not a whole"):
            cli.main(["inspect", str(path)])


def test_fused_lstms_do_not_clip_the_cell_state():
    """A cell state that grows past 10 and then halves: the converter's cell
    clip of 10 would change the outputs; the exported ops have none."""
    from nlp_lstm.export.tflite.peepholes import remove_cell_clip

    encoder = StackedBidirectionalEncoder(num_layers=1, units=1)
    encoder.build((1, None, 2))
    layer = encoder.rnn_layers[0]
    for direction in (layer.forward_layer, layer.backward_layer):
        cell = direction.cell
        # Gates i, f, g, o from x = (grow, halve): "grow" opens i, f and g
        # (c += 1 a step), "halve" closes i and leaves f at 1/2.
        cell.kernel.assign(np.array([[9.0, 9.0, 9.0, 0.0], [-20.0, 0.0, 0.0, 0.0]]))
        cell.recurrent_kernel.assign(np.zeros((1, 4)))
        cell.bias.assign(np.zeros(4))
    layer_fn = FusedEncoderLayers(encoder)

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, 2], tf.float32)])
        def encode(self, x):
            return {"outputs": encoder(x, layer_fn=layer_fn)[0]}

    module = Module()
    clipped = convert_lib.convert(module, [module.encode.get_concrete_function()])
    x = np.array([[[1.0, 0.0]] * 20 + [[0.0, 1.0]] * 4], np.float32)
    expected = np.asarray(encoder(x)[0])[0, :, 0]  # forward direction
    results = {}
    for name, data in (("clipped", clipped), ("exported", remove_cell_clip(clipped))):
        runner = interpreter(data).get_signature_runner()
        results[name] = runner(x=x)["outputs"][0, :, 0]
    np.testing.assert_allclose(results["exported"], expected, atol=1e-5)
    assert np.max(np.abs(results["clipped"] - expected)) > 1e-3


def test_speed_benchmark_row_of_a_tflite_file(translator_files, tmp_path):
    from nlp_lstm.benchmarking import translation_speed as speed

    path = translator_files["none"]
    sources = tmp_path / "sources.txt"
    sources.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    row = speed.tflite_row("tiny file", path, str(sources), list(SENTENCES),
                           str(tmp_path), threads=2)
    runner = TFLiteTranslator(path)
    for mode, beam in (("greedy", False), ("beam", True)):
        measured = row[mode]
        # What `nlp-lstm translate` printed, measured as a whole process.
        assert speed.read_lines(measured["output"]) == runner.translate(
            SENTENCES, beam=beam
        )
        assert measured["rss_mb"] > 10 and measured["process_s"] > 0
        assert measured["sentences_per_s_process"] == pytest.approx(
            len(SENTENCES) / measured["process_s"]
        )
        assert "bleu" in measured
    assert speed.equal_lines(row["greedy"]["output"], row["greedy"]["output"]) == len(
        SENTENCES
    )
