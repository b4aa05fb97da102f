"""One benchmark run: environment, matmul peak, training throughput, inference.

`run(suite, output_dir)` writes `results.json`, `results.md` and the plots
into `output_dir` and returns the results. Sections that cannot run (a corpus
or a package missing) record why and the run goes on; the results file is
rewritten after every section, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import json
import os
import time

from nlp_lstm.benchmarking import inference, measure, report, training
from nlp_lstm.benchmarking.suites import SUITES
from nlp_lstm.training import trainer as trainer_lib

SCHEMA_VERSION = 1
TRAINED_TRANSLATOR_RUN = "runs/multi30k_en_de"
TRAINED_TRANSLATOR_EXPORT = "saved_models/multi30k_en_de"
TRAINED_TAGGER_RUN = "runs/tagger_ud_ewt_upos"
TRAINED_TAGGER_EXPORT = "saved_models/tagger_ud_ewt_upos"


def trained_translator(
    run_dir: str = TRAINED_TRANSLATOR_RUN, export_dir: str = TRAINED_TRANSLATOR_EXPORT
):
    """The trained translator of `run_dir` (config, best weights, tokenizer).

    Returns:
        `(model, tokenizer bytes, SavedModel folder or None, config)`, or a
        str saying why there is none.
    """
    from nlp_lstm import config as config_lib
    from nlp_lstm.export.saved_model import resolve
    from nlp_lstm.models.translator import build_translator
    from nlp_lstm.text import sentencepiece as sp

    paths = {
        name: os.path.join(run_dir, name)
        for name in ("config.json", "best.weights.h5", "tokenizer.model")
    }
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        return f"{inference.NO_TRAINED_MODEL} ({', '.join(missing)} not found)"
    with open(paths["config.json"], encoding="utf-8") as stream:
        config = config_lib.from_dict(config_lib.TranslationConfig, json.load(stream))
    tokenizer = sp.load_model(paths["tokenizer.model"])
    vocab_size = sp.processor(tokenizer).vocab_size()
    model = build_translator(config.model, vocab_size, vocab_size)
    model.load_weights(paths["best.weights.h5"])
    try:
        saved_model_dir = resolve(export_dir)
    except FileNotFoundError:
        saved_model_dir = None
    return model, tokenizer, saved_model_dir, config


def trained_tagger(
    run_dir: str = TRAINED_TAGGER_RUN, export_dir: str = TRAINED_TAGGER_EXPORT
):
    """The trained tagger of `run_dir` (its report's config, best weights);
    the vocabularies are rebuilt from the corpus as the pipeline built them.

    Returns:
        `(model, TaggingSetup, SavedModel folder or None)`, or a str.
    """
    from nlp_lstm import config as config_lib
    from nlp_lstm.export.saved_model import resolve

    paths = {
        name: os.path.join(run_dir, name) for name in ("report.json", "best.weights.h5")
    }
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        return f"{inference.NO_TRAINED_MODEL} ({', '.join(missing)} not found)"
    with open(paths["report.json"], encoding="utf-8") as stream:
        config = config_lib.from_dict(
            config_lib.TaggingConfig, json.load(stream)["config"]
        )
    setup = training.tagging_setup(config)
    model = training.build_benchmark_tagger(setup)
    model.load_weights(paths["best.weights.h5"])
    try:
        saved_model_dir = resolve(export_dir)
    except FileNotFoundError:
        saved_model_dir = None
    return model, setup, saved_model_dir


class Sections:
    """Runs sections, times them, records failures, and saves after each."""

    def __init__(self, results: dict, output_dir: str, verbose: bool):
        self.results = results
        self.output_dir = output_dir
        self.verbose = verbose

    def run(self, name: str, function):
        if self.verbose:
            print(f"[{name}]", flush=True)
        start = time.perf_counter()
        value = None
        try:
            value = function()
        except Exception as error:  # noqa: BLE001 (recorded, the run goes on)
            import traceback

            self.results[name] = {
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=8),
            }
            if self.verbose:
                print(f"  {name} failed: {error}", flush=True)
        self.results["section_seconds"][name] = time.perf_counter() - start
        report.write_json(self.results, self.output_dir)
        return value


def run(
    suite_name: str,
    output_dir: str,
    command: list[str] | None = None,
    verbose: bool = True,
) -> dict:
    """Runs the suite named `suite_name`; writes and returns the results.

    Paths in the configs are relative to the repository root: call it from
    there (`benchmarks/run.py` does).
    """
    suite = SUITES[suite_name]
    # Training runs as the pipelines run it (`training.towers` of the config,
    # one per core up to two by default). Set before TensorFlow's first op.
    from nlp_lstm import config as config_lib

    translation = config_lib.load(
        config_lib.TranslationConfig, suite.translation_config
    )
    trainer_lib.configure_threads(
        trainer_lib.resolve_towers(translation.training.towers)
    )
    os.makedirs(output_dir, exist_ok=True)
    started = time.perf_counter()
    results = {
        "schema_version": SCHEMA_VERSION,
        "suite": suite.to_dict(),
        "environment": measure.environment(command or []),
        "section_seconds": {},
    }
    sections = Sections(results, output_dir, verbose)

    def matmul_peak():
        results["matmul_peak"] = measure.matmul_peak_fresh_process(
            suite.matmul_size, suite.matmul_chain, suite.matmul_repeats
        )
        if verbose:
            print(f"  {results['matmul_peak']['gflops']:.1f} GFLOP/s", flush=True)

    sections.run("matmul_peak", matmul_peak)
    peak = results.get("matmul_peak", {}).get("gflops")

    cache_dir = os.path.join(output_dir, "cache")
    state = {}

    def translator_training():
        setup = training.translation_setup(suite, cache_dir)
        state["translation"] = setup
        section, state["translator"] = training.translator_training(
            suite, setup, peak, verbose
        )
        results["translator_training"] = section

    sections.run("translator_training", translator_training)

    def tagger_training():
        setup = training.tagging_setup(training.tagging_config(suite))
        state["tagging"] = setup
        section, state["tagger"] = training.tagger_training(suite, setup, peak, verbose)
        results["tagger_training"] = section

    sections.run("tagger_training", tagger_training)

    def matmul_peak_again():
        # The machine may be shared: measure the peak again after training and
        # keep the best, so that the percentages use the least disturbed one.
        again = measure.matmul_peak_fresh_process(
            suite.matmul_size, suite.matmul_chain, suite.matmul_repeats
        )
        first = results.get("matmul_peak", {}).get("gflops")
        best = max(again["gflops"], first or 0.0)
        results["matmul_peak"] = dict(
            results.get("matmul_peak") or again,
            gflops=best,
            gflops_before_training=first,
            gflops_after_training=again["gflops"],
        )
        for key in ("translator_training", "tagger_training"):
            section = results.get(key) or {}
            if "achieved_gflops" in section:
                section["percent_of_peak"] = 100.0 * section["achieved_gflops"] / best
        if verbose:
            print(f"  {again['gflops']:.1f} GFLOP/s (best {best:.1f})", flush=True)

    sections.run("matmul_peak_after_training", matmul_peak_again)
    results["inference"] = []

    def translator_inference():
        setup = state.get("translation")
        if setup is None:
            raise RuntimeError("no translation data (see translator_training)")
        trained = (
            trained_translator()
            if suite.use_trained
            else (f"{inference.NO_TRAINED_MODEL} (the {suite.name} suite uses none)")
        )
        if isinstance(trained, str):
            model, tokenizer, saved_model_dir, config = (
                state["translator"],
                setup.tokenizer,
                None,
                setup.config,
            )
            results["translator_inference_model"] = trained
        else:
            model, tokenizer, saved_model_dir, config = trained
            results["translator_inference_model"] = {
                "run": TRAINED_TRANSLATOR_RUN,
                "saved_model": saved_model_dir,
            }
        test = setup.corpus["test"]
        results["inference"] += inference.translator_rows(
            suite,
            model,
            tokenizer,
            config,
            list(test["source"]),
            list(test["target"]),
            trained=not isinstance(trained, str),
            saved_model_dir=saved_model_dir,
            output_dir=output_dir,
            verbose=verbose,
        )

    sections.run("translator_inference", translator_inference)

    def tagger_inference():
        trained = (
            trained_tagger()
            if suite.use_trained
            else (f"{inference.NO_TRAINED_MODEL} (the {suite.name} suite uses none)")
        )
        if isinstance(trained, str):
            setup = state.get("tagging")
            if setup is None:
                raise RuntimeError("no tagging data (see tagger_training)")
            model, saved_model_dir = state["tagger"], None
            results["tagger_inference_model"] = trained
        else:
            model, setup, saved_model_dir = trained
            results["tagger_inference_model"] = {
                "run": TRAINED_TAGGER_RUN,
                "saved_model": saved_model_dir,
            }
        results["inference"] += inference.tagger_rows(
            suite,
            model,
            setup.featurizer,
            setup.tag_vocabulary,
            setup.tokens["test"],
            setup.gold["test"],
            trained=not isinstance(trained, str),
            saved_model_dir=saved_model_dir,
            output_dir=output_dir,
            tagging_config=setup.config,
            verbose=verbose,
        )

    sections.run("tagger_inference", tagger_inference)

    results["peak_rss_mb"] = measure.peak_rss_mb()
    results["wall_seconds"] = time.perf_counter() - started
    report.write_all(results, output_dir)
    if verbose:
        print(report.markdown(results))
    return results
