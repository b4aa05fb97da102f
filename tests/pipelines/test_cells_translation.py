"""Every cell end to end: a tiny translator with a peephole LSTM encoder and
a GRU decoder (and, `slow`, the other way round) is trained by the pipeline
on the fast paths, exported, and the SavedModel (reloaded in a fresh process)
and the `.tflite` (builtin ops only) translate as the trained model does. One
run covers two cells, to keep the default test run short. The tagger's:
test_cells_tagging.py."""

import gzip
import json
import os

import numpy as np
import pytest

import nlp_lstm
from nlp_lstm import config as config_lib
from nlp_lstm.export.tflite import convert as convert_lib
from nlp_lstm.export.tflite.export import export_tflite
from nlp_lstm.export.tflite.runtime import TFLiteTranslator
from nlp_lstm.text import sentencepiece as sp
from tests.helpers import REPO_ROOT, copy_lines, run_in_fresh_process

# (encoder cell, decoder cell)
VARIANTS = [
    ("peephole_lstm", "gru"),
    pytest.param(("gru", "peephole_lstm"), marks=pytest.mark.slow),
]
SOURCES = ["Hola, ¿cómo estás?", "Tengo un perro.", "¡Buenos días!", ""]
# The runs fold the source's case (`tokenizer.case_fold_source`): these read
# as SOURCES[:3] do, in every runtime.
RECASED = ["HOLA, ¿CÓMO ESTÁS?", "tengo un PERRO.", "¡buenos Días!"]


def ops_of(path) -> dict:
    """How often each op occurs in the file; builtin ops only."""
    ops = convert_lib.op_counts(path)
    assert not [op for op in ops if op.startswith("Flex") or not op.isupper()], ops
    return ops


@pytest.fixture(scope="module", params=VARIANTS)
def translator_run(request, tmp_path_factory):
    from nlp_lstm.pipelines.translation import run

    cells = request.param
    root = tmp_path_factory.mktemp(f"translation_{'_'.join(cells)}")
    os.chdir(REPO_ROOT)
    corpus = copy_lines(
        "data/tatoeba_spa_eng/spa.txt.gz", root / "pairs.tsv.gz", 600, gzip.open
    )
    config = config_lib.load(
        config_lib.TranslationConfig,
        "pipelines/configs/translation_tatoeba_es_en.yaml",
        [
            f"data.path={corpus}",
            "data.dev_size=40",
            "data.test_size=20",
            "data.max_examples=200",
            "training.steps=12",
            "training.eval_every=12",
            "card.plots=false",
            "tokenizer.vocab_size=400",
            "decoding.beam_size=3",
            f"run_dir={root / 'run'}",
            f"export.directory={root / 'saved_models'}",
            f"tokenizer.directory={root / 'tokenizers'}",
            "model.embedding_dim=16",
            "model.encoder.units=8",
            "model.decoder.units=16",
            f"model.encoder.cell={cells[0]}",
            f"model.decoder.cell={cells[1]}",
            "tokenizer.case_fold_source=true",
        ],
    )
    report = run(config, verbose=0)
    return cells, report, root


def test_translator_trains_exports_and_converts_with_each_cell(translator_run):
    (encoder_cell, decoder_cell), report, root = translator_run
    assert report["steps"] == 12 and np.isfinite(report["best_validation"])
    bundle = nlp_lstm.load(str(root / "run"))
    model = bundle.model
    assert (model.encoder.cell, model.decoder.cell) == (encoder_cell, decoder_cell)
    # The fast training paths ran this cell.
    assert model.encoder.uses_loops and model.decoder.uses_fused_loop
    expected = {beam: bundle.translate(SOURCES, beam_size=beam) for beam in (1, 3)}
    # The source model folds case, the target's keeps it.
    assert sp.folds_case(bundle.tokenizers["source"])
    assert not sp.folds_case(bundle.tokenizers["target"])
    assert bundle.translate(RECASED, beam_size=1) == expected[1][:3]
    output = run_in_fresh_process(
        f"""
        import json
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        loaded = tf.saved_model.load({report["export_path"]!r})
        # One batch each: a search's length limit is the batch's.
        print(json.dumps({{name: [[t.decode() for t in loaded.signatures[name](
            sources=tf.constant(batch))["translations"].numpy()]
            for batch in ({SOURCES!r}, {RECASED!r})]
            for name in ("serving_default", "translate_greedy")}}))
        """
    )
    served = json.loads(output.strip().splitlines()[-1])
    assert served["translate_greedy"] == [expected[1], expected[1][:3]]
    assert served["serving_default"] == [expected[3], expected[3][:3]]
    # Its card's quality check is tested in test_translation.py.
    path = export_tflite(str(root / "run"), str(root / "model.tflite"), beam_size=3,
                         measure_quality=False)
    ops = ops_of(path)
    # Each direction of each layer in each of the two signatures.
    fused = 4 * model.encoder.num_layers if encoder_cell == "peephole_lstm" else 0
    assert ops["UNIDIRECTIONAL_SEQUENCE_LSTM"] == fused and ops["WHILE"] > 0
    runner = TFLiteTranslator(path)
    assert runner.translate(SOURCES + RECASED) == expected[1] + expected[1][:3]
    assert runner.translate(SOURCES, beam=True) == expected[3]
