"""End to end on the bundled Tatoeba pairs: train briefly, evaluate, export, and
reload the SavedModel in a fresh process that imports only TF and tf-text."""

import gzip
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from tensorflow.core.protobuf import saved_model_pb2

from nlp_lstm import config as config_lib
from tests.helpers import (
    REPO_ROOT,
    copy_lines,
    load_benchmark,
    run_in_fresh_process,
    saved_model_outputs,
)

SENTENCES = ["Hola, ¿cómo estás?", "", "   ", "Tengo un perro.", "¡Buenos días!"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from nlp_lstm.pipelines.translation import run

    root = tmp_path_factory.mktemp("translation")
    os.chdir(REPO_ROOT)
    # A copy of the corpus's first lines: the last test moves it away.
    (root / "corpus").mkdir()
    corpus = copy_lines(
        "data/tatoeba_spa_eng/spa.txt.gz", root / "corpus" / "pairs.tsv.gz", 1000,
        gzip.open,
    )
    config = config_lib.load(
        config_lib.TranslationConfig,
        "pipelines/configs/translation_tatoeba_es_en.yaml",
        [
            f"data.path={corpus}",
            "data.dev_size=40",
            "data.test_size=20",
            "training.steps=30",
            "training.eval_every=15",
            "data.max_examples=300",
            "tokenizer.vocab_size=400",
            "decoding.beam_size=3",
            "decoding.length_penalties=[1.0, 0.0]",
            "data.sampling_alpha=0.3",
            "data.sampling_copies=2",
            f"run_dir={root / 'run'}",
            f"export.directory={root / 'saved_models'}",
            f"tokenizer.directory={root / 'tokenizers'}",
            "model.embedding_dim=32",
            "model.encoder.units=16",
            "model.decoder.units=32",
            # One SentencePiece model for both sides (the demo config folds
            # the source's case: test_cells_translation.py runs that).
            "tokenizer.case_fold_source=false",
        ],
    )
    report = run(config, verbose=0)
    return config, report, root


def test_report_has_the_promised_keys(tiny_run):
    config, report, root = tiny_run
    on_disk = json.loads((root / "run" / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    for key in ("bleu", "chrf", "export_path", "train_seconds"):
        assert key in report
    assert 0.0 <= report["bleu"] <= 100.0 and report["train_seconds"] > 0
    assert report["steps"] == 30
    assert report["export_path"].endswith(os.path.join(config.name, "1"))
    assert (root / "tokenizers" / f"{config.name}.model").is_file()
    assert [h["step"] for h in report["history"]] == [15, 30]


def test_length_penalty_is_chosen_on_the_dev_set(tiny_run):
    """The report's dev scores are the run's own, the best one's penalty is
    in the saved run (and so in its exports, built from it)."""
    import nlp_lstm
    from nlp_lstm.data.parallel import load_parallel_corpus
    from nlp_lstm.evaluation.translation import corpus_scores

    config, report, root = tiny_run
    tried = report["length_penalty"]["tried"]
    assert [row["length_penalty"] for row in tried] == [1.0, 0.0]
    best = max(tried, key=lambda row: (row["bleu"], -row["length_penalty"]))
    assert report["length_penalty"]["value"] == best["length_penalty"]
    bundle = nlp_lstm.load(str(root / "run"))
    assert bundle.config.decoding.length_penalty == best["length_penalty"]
    assert bundle.config.decoding.length_penalty != 0.6  # the config's own
    dev = load_parallel_corpus(config.data)[0]["dev"]
    for row in tried:
        bundle.set_decoding(length_penalty=row["length_penalty"])
        hypotheses = bundle.translate(list(dev["source"]))
        scores = corpus_scores(hypotheses, list(dev["target"]))
        assert (scores["bleu"], scores["chrf"]) == (row["bleu"], row["chrf"])



def test_length_penalty_benchmark_repeats_the_choice(tiny_run, tmp_path):
    """`benchmarks/length_penalty.py` on the finished run: the same dev scores
    and choice, and the run's own test score."""
    config, report, root = tiny_run
    script = load_benchmark("length_penalty")
    result = script.main(["--run", str(root / "run"), "--penalties", "1.0", "0.0",
                          "--output", str(tmp_path)])
    assert result["dev"] == report["length_penalty"]["tried"]
    assert result["chosen"] == report["length_penalty"]["value"]
    own = result["test"]["own"]
    assert own["length_penalty"] == report["length_penalty"]["value"]
    assert (own["bleu"], own["chrf"]) == (report["bleu"], report["chrf"])
    written = json.loads((tmp_path / "run.json").read_text())
    assert written == json.loads(json.dumps(result))
    assert "| chosen on dev |" in (tmp_path / "run.md").read_text()


def test_search_precision_benchmark_compares_both_searches(tiny_run, tmp_path):
    """`benchmarks/search_precision.py`: the module's float32 greedy search
    gives the bundle's translations (its file, line for line), and each
    bfloat16 row counts its translations equal to float32's."""
    import nlp_lstm

    config, report, root = tiny_run
    sources = [s for s in SENTENCES if s.strip()]
    expected = nlp_lstm.load(str(root / "run")).translate(sources, beam_size=1)
    (tmp_path / "src.txt").write_text("\n".join(sources) + "\n")
    (tmp_path / "ref.txt").write_text("\n".join(expected) + "\n")
    script = load_benchmark("search_precision")
    results = script.main([
        "--run", str(root / "run"), "--sources", str(tmp_path / "src.txt"),
        "--references", str(tmp_path / "ref.txt"), "--rounds", "1",
        "--output", str(tmp_path / "out"),
    ])
    rows = {(row["search"], row["precision"]): row for row in results["rows"]}
    assert set(rows) == {
        (search, precision)
        for search in ("greedy", "beam 3") for precision in ("float32", "bfloat16")
    }
    greedy = (tmp_path / "out" / "greedy_float32.txt").read_text().split("\n")
    assert greedy == [*expected, ""]
    for row in rows.values():
        assert row["sentences_per_second"] > 0
        assert 0 <= row["equal_to_float32"] <= len(sources)
    assert rows["beam 3", "float32"]["equal_to_float32"] == len(sources)
    assert "| greedy | bfloat16 |" in (tmp_path / "out" / "results.md").read_text()


def test_saved_model_in_fresh_process_matches_in_memory_model(tiny_run):
    from nlp_lstm.decoding.translate import TextTranslator
    from nlp_lstm.models.translator import build_translator
    from nlp_lstm.text import sentencepiece as sp

    config, report, root = tiny_run
    model_bytes = sp.load_model(str(root / "run" / "tokenizer.model"))
    processor = sp.processor(model_bytes)
    model = build_translator(
        config.model, processor.vocab_size(), processor.vocab_size()
    )
    model.load_weights(str(root / "run" / "best.weights.h5"))
    expected = {}
    for beam in (1, 3):
        translator = TextTranslator(model, processor, processor, beam_size=beam)
        expected[beam] = translator(SENTENCES)
    output = run_in_fresh_process(
        f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        loaded = tf.saved_model.load({report["export_path"]!r})
        sources = tf.constant({SENTENCES!r})
        beam = loaded.signatures["serving_default"](sources=sources)
        greedy = loaded.signatures["translate_greedy"](sources=sources)
        assert "nlp_lstm" not in sys.modules
        print(json.dumps({{
            "beam": [t.decode() for t in beam["translations"].numpy()],
            "greedy": [t.decode() for t in greedy["translations"].numpy()],
            "scores": beam["scores"].numpy().tolist(),
        }}))
        """
    )
    result = json.loads(output.strip().splitlines()[-1])
    assert result["greedy"] == expected[1]
    assert result["beam"] == expected[3]
    assert result["beam"][1] == "" and result["beam"][2] == ""
    assert result["scores"][1] == 0.0 and result["scores"][0] < 0.0


@pytest.fixture(scope="module")
def bfloat16_export(tiny_run, tmp_path_factory):
    """The tiny run exported with `--precision bfloat16`."""
    from nlp_lstm.export.serving.reexport import export_run

    _, _, root = tiny_run
    folder = tmp_path_factory.mktemp("bfloat16") / "saved_models"
    return export_run(str(root / "run"), str(folder), precision="bfloat16")


def test_bfloat16_export_matches_bfloat16_in_memory_translations(tiny_run,
                                                                 bfloat16_export):
    import nlp_lstm

    config, report, root = tiny_run
    bundle = nlp_lstm.load(str(root / "run"))
    bundle.set_decoding(precision="bfloat16")
    expected = {beam: bundle.translate(SENTENCES, beam_size=beam) for beam in (1, 3)}
    path = bfloat16_export
    # One fresh process reads the bfloat16 export and the run's own (float32).
    output = run_in_fresh_process(
        f"""
        import json
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        bfloat16 = tf.bfloat16.as_datatype_enum

        def bfloat16_matmuls(function):
            graph = function.graph.as_graph_def()
            functions = graph.library.function
            nodes = [*graph.node, *(n for f in functions for n in f.node_def)]
            return sum(n.op == "MatMul" and n.attr["T"].type == bfloat16 for n in nodes)

        loaded = tf.saved_model.load({path!r})
        sources = tf.constant({SENTENCES!r})
        result = {{}}
        for name in ("serving_default", "translate_greedy"):
            function = loaded.signatures[name]
            outputs = function(sources=sources)["translations"].numpy()
            result[name] = {{
                "translations": [t.decode() for t in outputs],
                "bfloat16_matmuls": bfloat16_matmuls(function),
            }}
        default = tf.saved_model.load({report["export_path"]!r})
        result["float32"] = bfloat16_matmuls(default.signatures["translate_greedy"])
        print(json.dumps(result))
        """
    )
    result = json.loads(output.strip().splitlines()[-1])
    assert result["translate_greedy"]["translations"] == expected[1]
    assert result["serving_default"]["translations"] == expected[3]
    # The cells' and the output projection's products, in both searches.
    assert result["translate_greedy"]["bfloat16_matmuls"] >= 3
    assert result["serving_default"]["bfloat16_matmuls"] >= 3
    assert result["float32"] == 0  # the run's own export
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as stream:
        saved.ParseFromString(stream.read())
    library = saved.meta_graphs[0].graph_def.library
    # Every product has both operands in one type (a mixed one runs as the
    # slow legacy SparseMatMul), and the training loops' custom gradients,
    # which serving never runs, are not saved.
    assert "SparseMatMul" not in {n.op for f in library.function for n in f.node_def}
    assert not library.registered_gradients


def test_a_bfloat16_export_warns_on_a_cpu_without_bfloat16(tiny_run, bfloat16_export,
                                                          monkeypatch):
    from nlp_lstm.export import runners
    from nlp_lstm.utils import cores

    _, report, _ = tiny_run
    path = bfloat16_export
    monkeypatch.setattr(cores, "has_bfloat16_instructions", lambda: False)
    with pytest.warns(RuntimeWarning, match="--precision float32"):
        runners.SavedModelTranslator(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        runners.SavedModelTranslator(report["export_path"])  # float32
        monkeypatch.setattr(cores, "has_bfloat16_instructions", lambda: True)
        runners.SavedModelTranslator(path)


def test_exported_signature_survives_hostile_inputs(tiny_run):
    import tensorflow as tf

    _, report, _ = tiny_run
    loaded = tf.saved_model.load(report["export_path"])
    sources = tf.constant(
        [b"\xff\xfe\x00 invalid", "x" * 5000, "\t\n", "emoji 🙂 中文"]
    )
    outputs = loaded.signatures["serving_default"](sources=sources)
    translations = outputs["translations"].numpy()
    assert translations.shape == (4,)
    assert translations[2] == b""
    for text in translations:
        text.decode("utf-8")  # valid UTF-8 out


def test_cli_translate_and_evaluate(tiny_run, tmp_path):
    _, report, _ = tiny_run
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    model_dir = os.path.dirname(report["export_path"])  # highest version is picked
    # The command, and which modules it imported: TensorFlow runs the
    # SavedModel without Keras, the tensorflow_text package or its own API.
    modules = tmp_path / "modules.json"
    command = f"""
import json, sys
from nlp_lstm.cli import main
try:
    main(["translate", "--model", {model_dir!r}, "--beam-size", "1"])
finally:
    imported = [name for name in ("keras", "tensorflow_text") if name in sys.modules]
    # TensorFlow's public API was never run (runtime.import_runtime).
    imported.append(type(sys.modules["tensorflow"]).__name__)
    open({str(modules)!r}, "w").write(json.dumps(imported))
"""
    result = subprocess.run(
        [sys.executable, "-c", command],
        input="\n".join(SENTENCES) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.split("\n")[:-1]
    assert len(lines) == len(SENTENCES) and lines[1] == ""
    # TensorFlow's start-up notices (no GPU, oneDNN, CPU features) are gone.
    assert result.stderr == "", result.stderr
    assert json.loads(modules.read_text()) == ["_DeferredPackage"]
    # References gzipped, as the shipped corpora are.
    source, reference = tmp_path / "src.txt", tmp_path / "ref.txt.gz"
    source.write_text("Hola.\nGracias.\n")
    reference.write_bytes(gzip.compress(b"Hello.\nThank you.\n"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nlp_lstm.cli",
            "evaluate",
            "--model",
            model_dir,
            "--source",
            str(source),
            "--reference",
            str(reference),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads(result.stdout)
    assert scores["sentences"] == 2 and 0.0 <= scores["bleu"] <= 100.0

    # The runner behind both commands gives the same translations.
    from nlp_lstm.export.runners import SavedModelTagger, SavedModelTranslator

    translator = SavedModelTranslator(model_dir)
    assert translator.path == report["export_path"]
    assert translator.metadata["task"] == "translation"
    assert translator.translate(SENTENCES, beam_size=1, batch_size=2) == lines
    with pytest.raises(ValueError, match="holds a translation model, not a tagging"):
        SavedModelTagger(model_dir)


def test_a_runner_loads_only_the_signatures_of_its_beam_sizes(tiny_run, monkeypatch):
    """`beam_sizes`: only their signatures are loaded (what `nlp-lstm
    translate` does, faster: `runtime.load_signatures`), translating as the
    whole SavedModel does; a beam size not loaded is refused, naming the
    fix; a SavedModel that cannot be loaded partially is loaded whole."""
    from nlp_lstm.export import runtime
    from nlp_lstm.export.runners import SavedModelTranslator

    _, report, _ = tiny_run
    path = report["export_path"]
    whole = SavedModelTranslator(path)
    greedy = SavedModelTranslator(path, beam_sizes=[1])
    assert isinstance(greedy._loaded, runtime.LoadedSignatures)
    assert sorted(greedy._loaded.signatures) == ["translate_greedy"]
    assert greedy.translate(SENTENCES, beam_size=1) == whole.translate(
        SENTENCES, beam_size=1
    )
    with pytest.raises(ValueError, match="pass the beam size to the runner's"):
        greedy.translate(SENTENCES, beam_size=None)
    both = SavedModelTranslator(path, beam_sizes=[1, None])
    assert sorted(both._loaded.signatures) == ["serving_default", "translate_greedy"]
    for beam_size in (1, None):
        assert both.translate(SENTENCES, beam_size=beam_size) == whole.translate(
            SENTENCES, beam_size=beam_size
        )

    def internal_loader_changed(*args):
        raise AttributeError("no Loader")

    monkeypatch.setattr(runtime, "_load_partially", internal_loader_changed)
    fallback = SavedModelTranslator(path, beam_sizes=[1])
    assert not isinstance(fallback._loaded, runtime.LoadedSignatures)
    assert fallback.translate(SENTENCES, beam_size=1) == whole.translate(
        SENTENCES, beam_size=1
    )


def test_a_runner_in_a_fresh_process_runs_without_tensorflows_public_api(tiny_run):
    """In a process that has not imported TensorFlow, a runner loads and
    translates with its runtime alone (`runtime.import_runtime`: what `nlp-lstm
    translate` starts with), as the runner does in this process; a later
    `import tensorflow` (`tensorflow.compat.v1`, Keras) still gets the whole
    of it."""
    from nlp_lstm.export.runners import SavedModelTranslator

    _, report, _ = tiny_run
    path = report["export_path"]
    expected = SavedModelTranslator(path)
    output = run_in_fresh_process(
        f"""
        import json, sys
        from nlp_lstm.export import runtime
        from nlp_lstm.export.runners import SavedModelTranslator
        translator = SavedModelTranslator({path!r}, beam_sizes=[1, None])
        result = {{
            "greedy": translator.translate({SENTENCES!r}, beam_size=1),
            "beam": translator.translate({SENTENCES!r}, beam_size=None),
            "deferred": type(sys.modules["tensorflow"]).__name__,
            "public_api": "constant" in vars(sys.modules["tensorflow"]),
        }}
        import tensorflow.compat.v1 as tf1  # a module TensorFlow's __init__ makes
        result["compat"] = int(tf1.constant(2).numpy())
        import tensorflow as tf
        result["after"] = [int(tf.constant(2).numpy()), "constant" in vars(tf)]
        import keras
        result["keras"] = keras.layers.Dense(3)(tf.ones((1, 2))).shape.as_list()
        print(json.dumps(result))
        """
    )
    result = json.loads(output.strip().splitlines()[-1])
    assert result["deferred"] == "_DeferredPackage"
    assert result["public_api"] is False
    assert result["greedy"] == expected.translate(SENTENCES, beam_size=1)
    assert result["beam"] == expected.translate(SENTENCES, beam_size=None)
    assert result["compat"] == 2
    assert result["after"] == [2, True]
    assert result["keras"] == [1, 3]


def test_pipeline_script_rejects_bad_config_before_work(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "pipelines/translation.py",
            "--config",
            "pipelines/configs/translation_tatoeba_es_en.yaml",
            "--set",
            "training.stepz=3",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Unknown config key 'training.stepz'. Did you mean 'steps'?" in result.stderr


def test_checkpoint_scores_match_the_final_model(tiny_run, caplog):
    """benchmarks/time_to_quality.py's scores: the checkpoint of the step whose
    weights the run kept scores what the loaded run scores, at its time, and
    reading only the weights of a checkpoint warns of nothing."""
    import gc
    import logging

    import numpy as np
    import tensorflow as tf

    import nlp_lstm
    from nlp_lstm.benchmarking import time_to_quality as ttq
    from nlp_lstm.evaluation.translation import corpus_scores

    config, report, root = tiny_run
    run_dir = str(root / "run")
    history = report["history"]
    best = min(history, key=lambda h: h["val_loss"])
    # The last evaluation is the best one (validation loss still falls at
    # step 30), so the kept weights are those of the last checkpoint.
    assert best["step"] == history[-1]["step"] == 30
    with gzip.open(root / "corpus" / "pairs.tsv.gz", "rt", encoding="utf-8") as f:
        pairs = [line.rstrip("\n").split("\t") for line in f][:24]
    sources, references = [p[1] for p in pairs], [p[0] for p in pairs]
    bundle = nlp_lstm.load(run_dir)
    expected = corpus_scores(bundle.translate(sources, beam_size=2), references)
    weights = [variable.numpy() for variable in bundle.model.weights]
    for variable in bundle.model.weights:  # every weight must come from the file
        variable.assign(tf.zeros_like(variable))
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        rows = ttq.checkpoint_scores(bundle, run_dir, sources, references, 2)
        gc.collect()
    assert "could not be found in the restored object" not in caplog.text
    for variable, value in zip(bundle.model.weights, weights):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert [row["step"] for row in rows] == [30]
    assert rows[0]["bleu"] == expected["bleu"] and rows[0]["chrf"] == expected["chrf"]
    assert abs(rows[0]["train_seconds"] - best["train_seconds"]) < 0.1
    assert ttq.seconds_to_reach(rows, rows[0]["bleu"]) == rows[0]["train_seconds"]
    assert ttq.seconds_to_reach(rows, rows[0]["bleu"] + 0.01) is None


def test_run_again_resumes_from_checkpoint_and_exports_next_version(tiny_run):
    import nlp_lstm
    from nlp_lstm.export.bundles import export_saved_model
    from nlp_lstm.export.layout import read_metadata
    from nlp_lstm.pipelines.translation import run

    config, first, root = tiny_run
    config.training.steps = 40
    report = run(config, verbose=0)
    assert report["steps"] == 40
    assert [h["step"] for h in report["history"]] == [15, 30, 40]
    # The resumed part trained only 10 steps: its time adds to the first run's.
    assert report["train_seconds"] >= first["train_seconds"]
    models = root / "saved_models" / config.name
    # A new version when the best weights changed, never the same model twice.
    origins = [read_metadata(str(models / v))["origin"] for v in os.listdir(models)]
    digests = [origin["weights_sha256"] for origin in origins]
    assert len(set(digests)) == len(digests) == len(os.listdir(models))
    assert report["export_path"] == str(models / str(len(digests)))
    config.training.steps = 30
    # Killed after publishing its version, before report.json: run again, the
    # pipeline's export call finds that version rather than publish a duplicate.
    bundle = nlp_lstm.load(str(root / "run"))
    again = export_saved_model(bundle, run_dir=str(root / "run"))
    assert again == report["export_path"]
    assert len(os.listdir(models)) == len(digests)
    assert (root / "run" / "tokenizer.model").read_bytes() == (
        root / "tokenizers" / f"{config.name}.model"
    ).read_bytes()


def png_size(path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return tuple(int.from_bytes(data[i : i + 4], "big") for i in (16, 20))


def test_model_card_scores_equal_evaluate_and_slices_partition(
    tiny_run, tmp_path, capsys
):
    """The card of the run folder, of the SavedModel and `nlp-lstm card`: the
    test scores are `evaluate`'s; each slice family covers the test set once."""
    from nlp_lstm.cli import main
    from nlp_lstm.data.parallel import load_parallel_corpus
    from nlp_lstm.export.layout import card_paths

    config, _, root = tiny_run
    run_dir = root / "run"
    # On disk: an earlier test ran the pipeline again (a second version).
    report = json.loads((run_dir / "report.json").read_text())
    card = json.loads((run_dir / "card.json").read_text())
    evaluation = card["evaluation"]
    overall = evaluation["slices"]["overall"]
    assert overall["bleu"] == report["bleu"] and overall["chrf"] == report["chrf"]
    test = load_parallel_corpus(config.data)[0]["test"]
    source, reference = tmp_path / "test.src", tmp_path / "test.ref"
    source.write_text("\n".join(test["source"]) + "\n", encoding="utf-8")
    reference.write_text("\n".join(test["target"]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run_dir), "--source", str(source),
                 "--reference", str(reference)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert (scores["bleu"], scores["chrf"]) == (overall["bleu"], overall["chrf"])
    assert scores["sentences"] == overall["sentences"] == len(test) == 20
    for family in ("source_length", "rare_words"):
        rows = evaluation["slices"]["slices"][family]
        assert sum(row["sentences"] for row in rows) == len(test), family
    # Stated in the config's `card` section, or listed as missing.
    assert card["languages"] == ["Spanish", "English"]
    assert card["training_data"]["licence"].startswith("CC BY 2.0 FR")
    assert card["missing"] == ["contact"]
    assert {f["sha256"] for f in card["training_data"]["files"]} == {
        f["sha256"] for f in json.loads((run_dir / "bundle.json").read_text())["data"]
    }

    # The SavedModel carries the same card; `nlp-lstm card` prints it.
    saved_json, saved_markdown = card_paths(report["export_path"])
    saved = json.loads(Path(saved_json).read_text())
    assert saved["export"] == {"format": "SavedModel"}
    assert saved["evaluation"] == evaluation
    capsys.readouterr()
    assert main(["card", os.path.dirname(report["export_path"])]) == 0
    printed = capsys.readouterr().out
    assert printed == Path(saved_markdown).read_text()
    assert printed.startswith(f"# Model card: {config.name}")
    assert f"| all | 20 | {overall['bleu']:.2f} [" in printed
    assert main(["card", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == card

    # Plots: training curves and one heatmap per drawn test sentence.
    names = sorted(os.path.basename(path) for path in report["plots"])
    assert names == ["attention_1.png", "attention_2.png", "attention_3.png",
                     "training.png"]
    assert all(min(png_size(path)) > 100 for path in report["plots"])


def test_align_prints_attention_and_draws_it(tiny_run, tmp_path, capsys):
    from nlp_lstm.cli import main

    _, _, root = tiny_run
    report = json.loads((root / "run" / "report.json").read_text())
    capsys.readouterr()
    plot = tmp_path / "align.png"
    assert main(["align", "--model", os.path.dirname(report["export_path"]),
                 "--text", "Tengo un perro muy grande.", "--plot", str(plot)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    aligned = json.loads(line)
    weights = aligned["weights"]
    assert aligned["source_pieces"][-1] == "</s>"
    assert len(weights) == len(aligned["target_pieces"]) >= 1
    assert all(len(row) == len(aligned["source_pieces"]) for row in weights)
    for row in weights:  # a distribution over the source pieces
        assert abs(sum(row) - 1.0) < 1e-3 and min(row) >= 0.0
    assert aligned["plot"] == str(plot) and min(png_size(plot)) > 100
    with pytest.raises(SystemExit, match="--plot must name a .png file"):
        main(["align", "--model", str(root / "run"), "--text", "Hola",
              "--plot", str(tmp_path / "out.jpg")])


def test_describe_run_reproduces_the_pipeline_evaluation(tiny_run):
    from nlp_lstm.pipelines.translation import describe_run

    _, _, root = tiny_run
    run_dir = root / "run"
    before = json.loads((run_dir / "card.json").read_text())["evaluation"]
    assert describe_run(str(run_dir), verbose=0) == before
    assert json.loads((run_dir / "card.json").read_text())["evaluation"] == before


def test_the_run_works_without_its_corpus(tiny_run, tmp_path, monkeypatch):
    """Last in this file: moves the corpus away. The run folder is a bundle:
    from another working directory it loads, re-exports (from the bundle the
    SavedModel carries) and exports TFLite; outputs equal the earlier exports'."""
    import nlp_lstm
    from nlp_lstm.bundle import read_bundle
    from nlp_lstm.cli import main
    from nlp_lstm.export.layout import versions
    from nlp_lstm.export.tflite.export import export_tflite
    from nlp_lstm.export.tflite.runtime import TFLiteTranslator

    _, _, root = tiny_run
    run_dir = root / "run"
    before = export_tflite(str(run_dir), str(tmp_path / "before.tflite"))
    shutil.move(str(root / "corpus"), str(root / "moved_away"))
    monkeypatch.chdir(tmp_path)  # nothing is found relative to the training cwd
    files = read_bundle(str(run_dir))
    assert files.task == "translation"
    assert not os.path.exists(files.metadata["data"][0]["path"])
    assert len(files.metadata["data"][0]["sha256"]) == 64

    exported = json.loads((run_dir / "report.json").read_text())["export_path"]
    # `nlp-lstm serving export SAVEDMODEL`: from the bundle the SavedModel
    # carries, into the config's export.directory (no --directory).
    assert main(["serving", "export", os.path.abspath(exported)]) == 0
    model_dir = os.path.dirname(exported)
    again = os.path.join(model_dir, str(versions(model_dir)[-1]))
    assert again != exported
    outputs = saved_model_outputs(
        {"name": "sources", "values": SENTENCES}, [exported, again]
    )
    assert outputs[1] == outputs[0]
    metadata = json.loads(
        (Path(again) / "assets.extra" / "nlp_lstm.json").read_text()
    )
    assert metadata["exported_from"].endswith(os.path.join("assets.extra", "bundle"))
    assert nlp_lstm.load(str(run_dir)).translate(SENTENCES) == (
        outputs[0]["translations"]
    )
    served = nlp_lstm.load(os.path.dirname(again))  # the runner of the export
    assert served.translate(SENTENCES) == outputs[0]["translations"]
    after = export_tflite(str(run_dir), str(tmp_path / "after.tflite"))
    expected = TFLiteTranslator(before).translate(SENTENCES)
    assert TFLiteTranslator(after).translate(SENTENCES) == expected

    # The cards beside the files: the first export measured its quality on
    # the test set; without the corpus it says why it could not.
    cards = [json.loads(Path(path[: -len(".tflite")] + ".card.json").read_text())
             for path in (before, after)]
    measured = cards[0]["export"]["quality_change"]
    assert measured["measured"] and measured["metric"] == "bleu"
    assert measured["sentences"] == 20
    assert measured["reference"] == cards[0]["evaluation"]["scores"]["bleu"]
    assert measured["change"] == round(measured["exported"] - measured["reference"], 2)
    reason = cards[1]["export"]["quality_change"]["reason"]
    assert "is not on this machine" in reason
    assert cards[1]["evaluation"] == cards[0]["evaluation"]
