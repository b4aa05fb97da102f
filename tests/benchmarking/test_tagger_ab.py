"""`benchmarks/tagger_ab.py`: both SavedModels tag the config's test split,
each with its own quality (as the runner's `tag_tokens` scores it), and every
round and latency sample is recorded."""

import json
import os
import subprocess
import sys

import keras
import pytest
import yaml

from nlp_lstm import config as config_lib
from nlp_lstm.bundle import TaggerBundle
from nlp_lstm.evaluation.tagging import tagging_scores
from nlp_lstm.export.bundles import export_saved_model
from nlp_lstm.export.runners import SavedModelTagger
from nlp_lstm.models.tagger import build_tagger
from nlp_lstm.training.inputs import tagging_data
from tests.helpers import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "tagger_ab.py")


def test_two_exports_are_scored_and_timed_alternately(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the config's data paths are relative
    config = config_lib.load(
        config_lib.TaggingConfig,
        "pipelines/configs/tagging_ud_ewt_upos.yaml",
        ["data.max_examples=40", "model.embedder.word_dim=8",
         "model.embedder.char_units=4", "model.encoder.units=6",
         f"export.directory={tmp_path}/models"],
    )
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config_lib.to_dict(config)))
    data = tagging_data(config)
    paths = {}
    for label, seed in (("a", 1), ("b", 2)):  # two different untrained models
        keras.utils.set_random_seed(seed)
        model = build_tagger(config.model, data.tag_vocabulary,
                             data.featurizer.words.size, data.featurizer.chars.size)
        bundle = TaggerBundle(config, model, data.featurizer, data.tag_vocabulary)
        paths[label] = export_saved_model(bundle, name=f"tagger_{label}")

    output = tmp_path / "ab.json"
    subprocess.run(
        [sys.executable, SCRIPT, "--a", paths["a"], "--b", paths["b"],
         "--config", str(config_path), "--rounds", "2", "--latency-sentences", "3",
         "--output", str(output)],
        check=True, timeout=300, cwd=REPO_ROOT, capture_output=True, text=True,
    )
    results = json.loads(output.read_text())

    assert results["sentences"] == len(data.tokens["test"]) == 40
    for label, path in paths.items():
        tagged = SavedModelTagger(path).tag_tokens(data.tokens["test"])
        predicted = [row["tags"] for row in tagged]
        expected = tagging_scores(data.gold["test"], predicted, "none")
        row = results[label]
        assert row["quality"] == {"accuracy": expected["accuracy"]}, label
        assert len(row["sentences_per_second"]) == 2
        assert len(row["latency_ms"]) == 3
        assert min(row["sentences_per_second"] + row["latency_ms"]) > 0
    assert results["b_over_a"] == pytest.approx(
        results["b"]["sentences_per_second_median"]
        / results["a"]["sentences_per_second_median"]
    )
