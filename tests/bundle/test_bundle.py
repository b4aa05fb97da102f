"""Bundle files: what a bundle records, and the errors that name what is
missing. (Whole runs that lose their corpus and still load and re-export:
the last test of tests/pipelines/test_translation.py and the entity pipeline
test of tests/pipelines/test_tagging.py.)"""

import dataclasses
import inspect
import json
import os
import shutil

import numpy as np
import pytest

import nlp_lstm
from nlp_lstm import config as config_lib
from nlp_lstm.bundle import BundleError, TranslatorBundle, load_bundle, read_bundle
from nlp_lstm.decoding.translate import TextTranslator
from nlp_lstm.export.bundles import bundle_of
from nlp_lstm.export.tflite.translator import TranslatorTFLite
from nlp_lstm.export.translator import TranslatorModule
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp

SENTENCES = ["a man rides a horse", "two dogs play", "the cat sleeps"]


@pytest.fixture(scope="module")
def saved_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    corpus = root / "pairs.tsv"
    corpus.write_text("".join(f"{s}\t{s}\n" for s in SENTENCES * 30), "utf-8")
    tokenizer = sp.train_sentencepiece(SENTENCES * 30, vocab_size=300)
    config = config_lib.from_dict(
        config_lib.TranslationConfig,
        {"name": "tiny", "data": {"path": str(corpus)},
         "model": {"embedding_dim": 8, "encoder": {"units": 4},
                   "decoder": {"units": 8, "num_layers": 1}}},
    )
    vocab = sp.processor(tokenizer).vocab_size()
    model = build_translator(config.model, vocab, vocab)
    bundle = TranslatorBundle(
        config, model, {"source": tokenizer, "target": tokenizer},
        metadata={"samples": SENTENCES[:2]},
    )
    bundle.save(str(root / "run"))
    return root, bundle


def test_a_bundle_records_versions_data_and_samples(saved_bundle):
    root, bundle = saved_bundle
    files = read_bundle(str(root / "run"))
    metadata = files.metadata
    assert metadata["task"] == "translation" and metadata["name"] == "tiny"
    assert set(metadata["versions"]) == {"nlp_lstm", "tensorflow", "keras"}
    (data,) = metadata["data"]
    assert data["path"] == str(root / "pairs.tsv")
    assert data["bytes"] == os.path.getsize(root / "pairs.tsv")
    assert len(data["sha256"]) == 64
    assert metadata["samples"] == SENTENCES[:2]
    assert files.tokenizers["source"] == bundle.tokenizers["source"]
    on_disk = json.loads((root / "run" / "config.json").read_text())
    assert on_disk == config_lib.to_dict(bundle.config)


def test_a_bundle_reloads_the_same_model_without_its_data(saved_bundle, tmp_path):
    root, bundle = saved_bundle
    moved = tmp_path / "moved"
    shutil.copytree(root / "run", moved)
    # The data file is gone for the copy's config: it still loads.
    config = json.loads((moved / "config.json").read_text())
    config["data"]["path"] = str(tmp_path / "nowhere.tsv")
    (moved / "config.json").write_text(json.dumps(config))
    loaded = nlp_lstm.load(str(moved))
    assert loaded.path == str(moved)
    for expected, actual in zip(bundle.model.weights, loaded.model.weights):
        np.testing.assert_array_equal(np.asarray(expected), np.asarray(actual))
    assert loaded.translate(SENTENCES, beam_size=1) == bundle.translate(
        SENTENCES, beam_size=1
    )


def test_a_bundle_names_what_is_missing(saved_bundle, tmp_path):
    root, _ = saved_bundle
    copy = tmp_path / "copy"
    shutil.copytree(root / "run", copy)
    os.remove(copy / "model.weights.h5")
    with pytest.raises(BundleError, match="lacks model.weights.h5"):
        load_bundle(str(copy))
    os.remove(copy / "bundle.json")
    with pytest.raises(FileNotFoundError, match="neither a run folder"):
        bundle_of(str(copy))
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        nlp_lstm.load(str(tmp_path / "missing"))


def test_a_savedmodel_without_a_bundle_says_how_to_get_one(tmp_path):
    version = tmp_path / "old" / "1"
    (version / "assets.extra").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="nlp-lstm serving export RUN"):
        bundle_of(str(tmp_path / "old"))


def test_translate_reuses_its_traced_search(saved_bundle):
    _, bundle = saved_bundle
    first = bundle.text_translator(1)
    bundle.translate(SENTENCES, beam_size=1)
    bundle.translate(SENTENCES[:1], beam_size=1)
    assert bundle.text_translator(1) is first
    assert first._translate.experimental_get_tracing_count() == 1


def test_every_search_runs_with_the_configs_search_settings(saved_bundle):
    """Python, the SavedModel and TFLite take `DecodingConfig.search_settings`
    (what `_translator` of `export.tflite.export` passes too), and a bundle's
    searches run with its config's values, not the defaults."""
    _, bundle = saved_bundle
    decoding = dataclasses.replace(
        bundle.config.decoding, length_penalty=0.9, max_length_ratio=2.0,
        max_length_offset=3, max_source_tokens=7,
    )
    settings = decoding.search_settings()
    assert settings != config_lib.DecodingConfig().search_settings()
    for search in (TextTranslator, TranslatorModule, TranslatorTFLite):
        assert set(settings) <= set(inspect.signature(search).parameters), search
    other = TranslatorBundle(
        dataclasses.replace(bundle.config, decoding=decoding), bundle.model,
        bundle.tokenizers,
    )
    module = TranslatorModule.from_bundle(other)
    assert {name: getattr(module, name) for name in settings} == settings
    assert other.text_translator().max_source_tokens == 7
