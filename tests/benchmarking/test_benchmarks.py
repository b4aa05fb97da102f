"""The benchmark harness: FLOP counts against hand computations, and a tiny
suite run end to end (`benchmarks/run.py --suite smoke`) whose results file
has the promised schema and positive figures. No timing assertions."""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys

import pytest

from nlp_lstm import config as config_lib
from nlp_lstm.benchmarking import flops, measure, runner
from nlp_lstm.benchmarking.measure import summarize
from nlp_lstm.bundle import TaggerBundle
from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from nlp_lstm.layers.word_embedding import WordEmbedder
from nlp_lstm.models.tagger import Tagger, build_tagger
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text.tags import TagVocabulary
from nlp_lstm.text.words import CharVocabulary, TokenFeaturizer, WordVocabulary
from tests.helpers import REPO_ROOT


def tiny_translator(**decoder):
    model_config = config_lib.TranslatorModelConfig(
        embedding_dim=4,
        share_embeddings=True,
        tie_output=True,
        encoder=config_lib.EncoderConfig(num_layers=1, units=3, dropout=0.0),
        decoder=config_lib.DecoderConfig(
            **{"num_layers": 1, "units": 5, "dropout": 0.0, **decoder}
        ),
    )
    return build_translator(model_config, 11, 11)


def test_translator_flops_match_a_hand_computation():
    # B=2, S=6, T=3; embedding 4, encoder 1 x 3 per direction (memory 6),
    # decoder 1 x 5 with input feeding, luong_general, dense bridge, tied
    # output over 11 words with a pre-projection 5 -> 4.
    parts = flops.translator_forward_flops(tiny_translator(), (2, 6), (2, 3))
    expected = {
        "encoder": 2 * (2 * 2 * 6 * (4 + 3) * 4 * 3),  # two directions
        "bridge": 2 * (2 * 2 * 6 * 5),  # h and c: (2, 6) x (6, 5)
        "decoder_rnn": 2 * 2 * 3 * ((4 + 5) + 5) * 4 * 5,
        "attention_keys": 2 * 2 * 6 * 6 * 5,
        "attention_scores": 3 * (2 * 2 * 6 * 5),
        "attention_context": 3 * (2 * 2 * 6 * 6),
        "attention_projection": 3 * (2 * 2 * (6 + 5) * 5),
        "output_projection": 2 * 6 * 5 * 4 + 2 * 6 * 4 * 11,
    }
    assert {k: v for k, v in parts.items() if k != "total"} == expected
    assert parts["total"] == 10572 == sum(expected.values())
    assert flops.translator_training_flops(tiny_translator(), (2, 6), (2, 3)) == (
        3 * 10572
    )


def test_translator_flops_follow_the_attention_and_decoder_layers():
    base = flops.translator_forward_flops(tiny_translator(), (2, 6), (2, 3))
    no_feeding = flops.translator_forward_flops(
        tiny_translator(input_feeding=False), (2, 6), (2, 3)
    )
    assert base["decoder_rnn"] - no_feeding["decoder_rnn"] == 2 * 2 * 3 * 5 * 4 * 5
    bahdanau = flops.translator_forward_flops(
        tiny_translator(attention="bahdanau"), (2, 6), (2, 3)
    )
    assert bahdanau["attention_scores"] == 3 * (2 * 2 * 5 * 5 + 2 * 2 * 6 * 5)
    two_layers = flops.translator_forward_flops(
        tiny_translator(num_layers=2), (2, 6), (2, 3)
    )
    assert two_layers["decoder_rnn"] - base["decoder_rnn"] == 2 * 2 * 3 * 10 * 4 * 5
    assert two_layers["bridge"] == 2 * base["bridge"]


def test_tagger_flops_match_a_hand_computation():
    embedder = WordEmbedder(
        10, 4, char_vocabulary_size=6, char_encoder="cnn", char_dim=3,
        char_units=2, char_kernel_size=3, num_casing=8, casing_dim=2,
    )
    tagger = Tagger(embedder, StackedBidirectionalEncoder(2, 3), num_tags=5)
    tagger.build()
    # B=2, T=4, 7 characters a word; features 4 + 2 + 2 = 8.
    parts = flops.tagger_forward_flops(tagger, (2, 4), max_word_chars=7)
    assert parts["char_encoder"] == 2 * 8 * 7 * 3 * 3 * 2
    assert parts["encoder"] == 2 * (2 * 2 * 4 * (8 + 3) * 12) + 2 * (
        2 * 2 * 4 * (6 + 3) * 12
    )
    assert parts["projection"] == 2 * 8 * 6 * 5
    assert parts["total"] == 10176
    assert flops.tagger_training_flops(tagger, (2, 4), 7) == 3 * 10176
    with pytest.raises(ValueError, match="max_word_chars"):
        flops.tagger_forward_flops(tagger, (2, 4))


def test_matmul_chain_flops():
    assert flops.matmul_chain_flops(2048, 10) == 10 * 2 * 2048**3


def test_summarize_percentiles():
    stats = summarize([float(i) for i in range(1, 12)])
    assert (stats["median"], stats["p10"], stats["p90"]) == (6.0, 2.0, 10.0)
    with pytest.raises(ValueError):
        summarize([])


def test_peak_memory_is_the_process_own():
    # This process holds TensorFlow and Keras (hundreds of MB); a small child
    # it starts must report its own peak, not the parent's that getrusage's
    # ru_maxrss carries across exec.
    parent = measure.peak_rss_mb()
    code = (
        "import resource, sys\n" + inspect.getsource(measure.peak_rss_mb)
        + "print(peak_rss_mb())\n"
    )
    child = float(subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout)
    assert parent > 200 and 0 < child < 100, (parent, child)
    with open("/proc/self/status", encoding="ascii") as stream:
        resident = int(stream.read().split("VmRSS:")[1].split()[0]) / 1024
    block = bytearray(300 * 2**20)  # written (zero-filled), so resident
    assert measure.peak_rss_mb() >= resident + 250
    del block


def test_trained_models_come_from_their_bundle(tmp_path):
    # A tiny tagger saved as a run folder: the runner loads it with its own
    # vocabularies (none rebuilt from the corpus) and reads only the test
    # split; a missing run is a reason, not an error.
    config = config_lib.load(
        config_lib.TaggingConfig,
        os.path.join(REPO_ROOT, "pipelines/configs/tagging_ud_ewt_upos.yaml"),
        ["model.embedder.word_dim=4", "model.embedder.char_dim=3",
         "model.embedder.char_units=2", "model.encoder.num_layers=1",
         "model.encoder.units=3"],
    )
    sentences = [["Bob", "runs", "."], ["Alice", "sleeps", "well", "."]]
    tags = TagVocabulary.build([["PROPN", "VERB", "PUNCT", "ADV"]], "none")
    featurizer = TokenFeaturizer(
        WordVocabulary.build(sentences, min_frequency=1),
        CharVocabulary.build(sentences),
    )
    model = build_tagger(
        config.model, tags, featurizer.words.size, featurizer.chars.size
    )
    TaggerBundle(config, model, featurizer, tags).save(str(tmp_path / "run"))

    bundle, saved_model_dir = runner.trained_bundle(
        str(tmp_path / "run"), str(tmp_path / "no_export")
    )
    assert saved_model_dir is None
    assert bundle.tag_vocabulary.tags == tags.tags
    assert bundle.featurizer.words.all_words == featurizer.words.all_words
    assert bundle.tag_tokens(sentences) == TaggerBundle(
        config, model, featurizer, tags
    ).tag_tokens(sentences)
    missing = runner.trained_bundle(str(tmp_path / "none"), str(tmp_path / "none"))
    assert isinstance(missing, str) and missing.startswith("no trained model")


# Figures that must be positive numbers, by section.
TRAINING_FIGURES = (
    ("step_seconds", "median"),
    ("step_seconds", "p10"),
    ("step_seconds", "p90"),
    ("timed_seconds",),
    ("sentences_per_second",),
    ("flops_per_step_mean",),
    ("achieved_gflops",),
    ("percent_of_peak",),
    ("peak_rss_mb",),
)
ROW_FIGURES = (
    ("latency_ms", "median"),
    ("latency_ms", "p90"),
    ("throughput", "sentences_per_second"),
    ("size_mb",),
    ("peak_rss_mb",),
)


def _get(mapping, path):
    for key in path:
        mapping = mapping[key]
    return mapping


def _positive(value) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def check_results(results: dict, suite: str) -> None:
    """The schema of `results.json` and the positivity of its figures."""
    assert results["schema_version"] == 1
    assert results["suite"]["name"] == suite
    environment = results["environment"]
    for key in ("date", "command", "cpu_model", "cpu_affinity", "versions",
                "tf_intra_op_threads", "tf_inter_op_threads"):
        assert key in environment, key
    assert environment["versions"]["tensorflow"] and environment["versions"]["keras"]
    assert _positive(results["matmul_peak"]["gflops"])
    assert _positive(results["wall_seconds"]) and _positive(results["peak_rss_mb"])
    assert _positive(results["matmul_peak_bfloat16"]["gflops"])
    for section, tokens in (
        ("translator_training", ("source", "target", "source_target")),
        ("tagger_training", ("tokens",)),
        ("translator_training_bfloat16", ("source", "target", "source_target")),
        ("tagger_training_bfloat16", ("tokens",)),
    ):
        data = results[section]
        assert "error" not in data, data.get("traceback")
        for path in TRAINING_FIGURES:
            assert _positive(_get(data, path)), (section, path)
        for name in tokens:
            assert _positive(data["tokens_per_second"][name]), (section, name)
            assert _positive(data["padded_tokens_per_second"][name]), (section, name)
            assert 0.0 <= data["padding_fraction"][name] < 1.0
    for section in ("translator_training", "tagger_training"):
        assert _positive(results[section]["bfloat16_speedup"]), section
    rows = results["inference"]
    formats = {(row["task"], row["format"], row["search"]) for row in rows}
    for task in ("translation", "tagging"):
        assert {f for t, f, _ in formats if t == task} >= {
            "keras_eager", "keras_function"
        }
    for row in rows:
        if "skipped" in row:
            assert row["format"].startswith("tflite_") and row["skipped"]
            continue
        assert "error" not in row, (row["format"], row.get("traceback"))
        for path in ROW_FIGURES:
            assert _positive(_get(row, path)), (row["format"], path)
        assert row["model"] in ("trained", "untrained")
        quality = row["quality"]
        assert quality["sentences"] > 0
        for key in ("bleu", "chrf", "accuracy", "f1"):
            if key in quality:
                assert 0.0 <= quality[key] <= 100.0


def run_suite(suite: str, output, timeout: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--suite", suite, "--output",
         str(output)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "## Inference" in result.stdout
    for name in ("results.json", "results.md", "training.png",
                 "inference_latency.png", "speed_quality.png"):
        assert (output / name).is_file(), name
    return json.loads((output / "results.json").read_text())


@pytest.mark.slow  # about a minute: over the default run's budget
def test_smoke_suite_writes_the_results_schema(tmp_path):
    results = run_suite("smoke", tmp_path, timeout=600)
    check_results(results, "smoke")
    assert all(row["model"] == "untrained" for row in results["inference"]
               if "model" in row)
    assert "no trained model" in (tmp_path / "results.md").read_text()


@pytest.mark.slow
def test_quick_suite_writes_the_results_schema(tmp_path):
    results = run_suite("quick", tmp_path, timeout=1800)
    check_results(results, "quick")
    training = results["translator_training"]
    assert training["model"]["embedding_dim"] == 256
    assert training["data"]["vocab_size"] == 8000
