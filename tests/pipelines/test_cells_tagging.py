"""Every cell end to end: a tiny tagger with a peephole LSTM or GRU encoder is
trained by the pipeline on the fast path, exported, and the SavedModel and the
`.tflite` (builtin ops only) tag as the trained model does. (The GRU run,
whose encoder path the translator's test also covers, is `slow`.)"""

import os

import pytest

import nlp_lstm
from nlp_lstm.export.tflite import convert as convert_lib
from nlp_lstm.export.tflite.export import export_tflite
from nlp_lstm.export.tflite.runtime import TFLiteTagger
from tests.helpers import REPO_ROOT
from tests.pipelines.test_tagging import tiny_config

VARIANTS = ["peephole_lstm", pytest.param("gru", marks=pytest.mark.slow)]
SENTENCES = ["Barack Obama visited Madrid .", "the cat sat on the mat", "USA"]


def ops_of(path) -> dict:
    """How often each op occurs in the file; builtin ops only."""
    ops = convert_lib.op_counts(path)
    assert not [op for op in ops if op.startswith("Flex") or not op.isupper()], ops
    return ops


@pytest.mark.parametrize("cell", VARIANTS)
def test_tagger_trains_exports_and_converts_with_each_cell(cell, tmp_path):
    from nlp_lstm.pipelines import tagging

    os.chdir(REPO_ROOT)
    config = tiny_config(
        tmp_path,
        "tagging_wnut17.yaml",
        [
            "training.steps=10",
            "training.eval_every=10",
            "card.plots=false",
            "training.checkpoint_every=10",
            "model.encoder.num_layers=2",
            f"model.encoder.cell={cell}",
        ],
    )
    report = tagging.run(config, verbose=0)
    bundle = nlp_lstm.load(str(tmp_path / "run"))
    assert bundle.model.encoder.cell == cell and bundle.model.encoder.uses_loops
    expected = [row["tags"] for row in bundle.tag(SENTENCES)]
    served = [
        row["tags"] for row in nlp_lstm.load(report["export_path"]).tag(SENTENCES)
    ]
    assert served == expected
    # Its card's quality check is tested in test_tagging.py.
    path = export_tflite(str(tmp_path / "run"), str(tmp_path / f"{cell}.tflite"),
                         measure_quality=False)
    ops = ops_of(path)
    # The char BiLSTM is an LSTM whatever the encoder's cell.
    fused = 2 + (4 if cell == "peephole_lstm" else 0)
    assert ops["UNIDIRECTIONAL_SEQUENCE_LSTM"] == fused
    assert [row["tags"] for row in TFLiteTagger(path).tag(SENTENCES)] == expected
