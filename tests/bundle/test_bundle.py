"""A run folder describes itself: train a tiny translator and tagger on a
copy of their corpus, move the corpus away, then, from another working
directory, load the run and re-export it (SavedModel and TFLite, from the run
folder or from the SavedModel's own bundle); every output equals the original
export's (SavedModels reloaded in a fresh process)."""

import gzip
import json
import os
import shutil

import pytest

import nlp_lstm
from nlp_lstm import config as config_lib
from nlp_lstm.bundle import BundleError, read_bundle
from nlp_lstm.export.bundles import bundle_of
from nlp_lstm.export.serving.reexport import export_run
from nlp_lstm.export.tflite.export import export_tflite
from nlp_lstm.export.tflite.runtime import TFLiteTagger, TFLiteTranslator
from tests.helpers import REPO_ROOT, run_in_fresh_process

TRANSLATION_SOURCES = ["Hola, ¿cómo estás?", "", "Tengo un perro.", "¡Buenos días!"]
TAGGING_SENTENCES = ["Paris is the capital of France .", "", "Bob went to Madrid"]

# Prints the outputs of SavedModel version folders as JSON; only TF and
# tf-text are imported. ARGS (inputs, paths) is prepended.
FRESH_PROCESS = """
import json
import tensorflow as tf
import tensorflow_text  # noqa: F401
inputs, paths = ARGS
outputs = []
for path in paths:
    signature = tf.saved_model.load(path).signatures["serving_default"]
    result = signature(**{inputs["name"]: tf.constant(inputs["values"])})
    row = {}
    for key, value in result.items():
        value = value.numpy()
        if value.dtype == object:
            value = [[t.decode() for t in r] if value.ndim == 2 else r.decode()
                     for r in value]
        else:
            value = value.tolist()
        row[key] = value
    outputs.append(row)
print(json.dumps(outputs))
"""


def saved_model_outputs(inputs: dict, paths: list[str]) -> list[dict]:
    args = json.dumps([inputs, [str(path) for path in paths]])
    output = run_in_fresh_process(f"ARGS = {args}\n" + FRESH_PROCESS)
    return json.loads(output.strip().splitlines()[-1])


def copy_lines(source: str, destination, count: int, opener=open) -> str:
    with opener(source, "rt", encoding="utf-8") as stream:
        lines = [next(stream) for _ in range(count)]
    with opener(destination, "wt", encoding="utf-8") as stream:
        stream.writelines(lines)
    return str(destination)


@pytest.fixture(scope="module")
def translator_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle_translator")
    corpus = root / "corpus"
    corpus.mkdir()
    path = copy_lines(
        os.path.join(REPO_ROOT, "data/tatoeba_spa_eng/spa.txt.gz"),
        corpus / "pairs.tsv.gz", 400, gzip.open,
    )
    config = config_lib.load(
        config_lib.TranslationConfig,
        os.path.join(REPO_ROOT, "pipelines/configs/translation_tatoeba_es_en.yaml"),
        [
            f"data.path={path}", "data.dev_size=50", "data.test_size=50",
            "training.steps=20", "training.eval_every=20", "tokenizer.vocab_size=400",
            "decoding.beam_size=2", "model.embedding_dim=16", "model.encoder.units=8",
            "model.decoder.units=16", "model.decoder.num_layers=1",
            f"run_dir={root / 'run'}", f"export.directory={root / 'saved_models'}",
            f"tokenizer.directory={root / 'tokenizers'}",
        ],
    )
    from nlp_lstm.pipelines.translation import run

    report = run(config, verbose=0)
    tflite = export_tflite(str(root / "run"), str(root / "before.tflite"))
    shutil.move(str(corpus), str(root / "moved_away"))
    return root, report, tflite


@pytest.fixture(scope="module")
def tagger_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle_tagger")
    corpus = root / "corpus"
    corpus.mkdir()
    paths = {
        split: copy_lines(
            os.path.join(REPO_ROOT, f"data/ud_english_ewt/en_ewt-ud-{split}.conllu"),
            corpus / f"{split}.conllu", 600,
        )
        for split in ("dev", "test")
    }
    config = config_lib.load(
        config_lib.TaggingConfig,
        os.path.join(REPO_ROOT, "pipelines/configs/tagging_ud_ewt_upos.yaml"),
        [
            f"data.train={paths['dev']}", f"data.dev={paths['test']}",
            f"data.test={paths['test']}", "training.steps=10", "training.eval_every=10",
            "data.batch_size=8", "model.embedder.word_dim=8",
            "model.embedder.char_dim=4", "model.embedder.char_units=4",
            "model.encoder.units=8", "model.encoder.num_layers=1",
            f"run_dir={root / 'run'}", f"export.directory={root / 'saved_models'}",
        ],
    )
    from nlp_lstm.pipelines.tagging import run

    report = run(config, verbose=0)
    tflite = export_tflite(str(root / "run"), str(root / "before.tflite"))
    shutil.move(str(corpus), str(root / "moved_away"))
    return root, report, tflite


def test_translator_run_folder_works_without_its_corpus(
    translator_run, tmp_path, monkeypatch
):
    root, report, tflite_before = translator_run
    monkeypatch.chdir(tmp_path)  # nothing is found relative to the training cwd
    files = read_bundle(str(root / "run"))
    assert files.task == "translation" and files.metadata["data"]
    assert not os.path.exists(files.metadata["data"][0]["path"])  # moved away
    assert len(files.metadata["data"][0]["sha256"]) == 64

    loaded = nlp_lstm.load(str(root / "run"))
    # Re-exported from the bundle the SavedModel carries.
    again = export_run(os.path.abspath(report["export_path"]))
    assert os.path.basename(again) == "2"
    outputs = saved_model_outputs(
        {"name": "sources", "values": TRANSLATION_SOURCES},
        [report["export_path"], again],
    )
    assert outputs[1] == outputs[0]
    assert loaded.translate(TRANSLATION_SOURCES) == outputs[0]["translations"]
    served = nlp_lstm.load(os.path.dirname(again))  # the runner of version 2
    assert served.translate(TRANSLATION_SOURCES) == outputs[0]["translations"]

    tflite = export_tflite(str(root / "run"), str(tmp_path / "run.tflite"))
    expected = TFLiteTranslator(tflite_before).translate(TRANSLATION_SOURCES)
    assert TFLiteTranslator(tflite).translate(TRANSLATION_SOURCES) == expected


def test_tagger_run_folder_works_without_its_corpus(tagger_run, tmp_path, monkeypatch):
    root, report, tflite_before = tagger_run
    monkeypatch.chdir(tmp_path)
    loaded = nlp_lstm.load(str(root / "run"))
    again = export_run(str(root / "run"))  # from the run folder
    outputs = saved_model_outputs(
        {"name": "sentences", "values": TAGGING_SENTENCES},
        [report["export_path"], again],
    )
    assert outputs[1] == outputs[0]
    tagged = loaded.tag(TAGGING_SENTENCES)
    for row, tags, length in zip(
        tagged, outputs[0]["tags"], outputs[0]["lengths"], strict=True
    ):
        assert row["tags"] == tags[:length]

    # From the SavedModel's own bundle, from another working directory.
    tflite = export_tflite(
        os.path.abspath(report["export_path"]), str(tmp_path / "saved.tflite")
    )
    expected = TFLiteTagger(tflite_before).tag(TAGGING_SENTENCES)
    assert TFLiteTagger(tflite).tag(TAGGING_SENTENCES) == expected


def test_a_bundle_names_what_is_missing(translator_run, tmp_path):
    root, _, _ = translator_run
    copy = tmp_path / "copy"
    shutil.copytree(root / "run", copy)
    os.remove(copy / "model.weights.h5")
    with pytest.raises(BundleError, match="lacks model.weights.h5"):
        bundle_of(str(copy))
    with pytest.raises(FileNotFoundError, match="neither a run folder"):
        bundle_of(str(tmp_path))
