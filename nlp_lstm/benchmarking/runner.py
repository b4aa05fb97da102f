"""One benchmark run: environment, matmul peak, training throughput, inference.

`run(suite, output_dir)` writes `results.json`, `results.md` and the plots
into `output_dir` and returns the results. Sections that cannot run (a corpus
or a package missing) record why and the run goes on; the results file is
rewritten after every section, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import os
import time
import traceback

from nlp_lstm import config as config_lib
from nlp_lstm.benchmarking import inference, measure, report, training
from nlp_lstm.benchmarking.suites import SUITES
from nlp_lstm.bundle import BundleError
from nlp_lstm.data.conll import load_tagging_corpus
from nlp_lstm.export import layout
from nlp_lstm.export.bundles import bundle_of
from nlp_lstm.text import tags
from nlp_lstm.training import trainer as trainer_lib

SCHEMA_VERSION = 1
TRAINED_TRANSLATOR_RUN = "runs/multi30k_en_de"
TRAINED_TRANSLATOR_EXPORT = "saved_models/multi30k_en_de"
TRAINED_TAGGER_RUN = "runs/tagger_ud_ewt_upos"
TRAINED_TAGGER_EXPORT = "saved_models/tagger_ud_ewt_upos"


def trained_bundle(run_dir: str, export_dir: str):
    """The bundle of the trained run `run_dir` (`bundle_of`: its config,
    tokenizers or vocabularies and best weights) and the SavedModel version
    of `export_dir` (None if there is none).

    Returns:
        `(bundle, SavedModel folder or None)`, or a str saying why there is
        no trained model.
    """
    try:
        bundle = bundle_of(run_dir)
    except (FileNotFoundError, BundleError) as error:
        return f"{inference.NO_TRAINED_MODEL} ({error})"
    try:
        saved_model_dir = layout.resolve(export_dir)
    except FileNotFoundError:
        saved_model_dir = None
    return bundle, saved_model_dir


def tagging_test_split(config) -> tuple[list, list]:
    """`(tokens, gold tags)` of the test split of `config.data`, the tags in
    the model's scheme (evaluation data only: no vocabulary is built)."""
    corpus, _ = load_tagging_corpus(config.data)
    test = corpus["test"]
    gold = tags.convert_sentences(test["tags"], config.data.scheme, config.model_scheme)
    return [list(sentence) for sentence in test["tokens"]], gold


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
            self.results[name] = {
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=8),
            }
            if self.verbose:
                print(f"  {name} failed: {error}", flush=True)
        self.results["section_seconds"][name] = time.perf_counter() - start
        report.write_json(self.results, self.output_dir)
        return value


def run_bfloat16_training(suite, results: dict, sections: Sections, state: dict,
                          verbose: bool) -> None:
    """The training sections again with `training.precision: bfloat16`
    (`<section>_bfloat16`), their percentages of the bfloat16 matmul peak
    (`matmul_peak_bfloat16`, measured as the float32 one), and each float32
    section's `bfloat16_speedup` (median step over median step)."""

    def matmul_peak():
        results["matmul_peak_bfloat16"] = measure.matmul_peak_fresh_process(
            suite.matmul_size, suite.matmul_chain, suite.matmul_repeats, "bfloat16"
        )
        if verbose:
            gflops = results["matmul_peak_bfloat16"]["gflops"]
            print(f"  {gflops:.1f} GFLOP/s", flush=True)

    sections.run("matmul_peak_bfloat16", matmul_peak)
    peak = results.get("matmul_peak_bfloat16", {}).get("gflops")

    for task, data in (("translator", "translation"), ("tagger", "tagging")):

        def section(task=task, data=data):
            if data not in state:
                raise RuntimeError(f"no {data} data (see {task}_training)")
            measure_fn = getattr(training, f"{task}_training")
            section, _ = measure_fn(
                suite, state[data], peak, verbose, precision="bfloat16"
            )
            results[f"{task}_training_bfloat16"] = section
            float32 = results.get(f"{task}_training") or {}
            if "step_seconds" in float32:
                median = float32["step_seconds"]["median"]
                float32["bfloat16_speedup"] = median / section["step_seconds"]["median"]

        sections.run(f"{task}_training_bfloat16", section)


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

    if "bfloat16" in suite.training_precisions:
        run_bfloat16_training(suite, results, sections, state, verbose)

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
            trained_bundle(TRAINED_TRANSLATOR_RUN, TRAINED_TRANSLATOR_EXPORT)
            if suite.use_trained
            else (f"{inference.NO_TRAINED_MODEL} (the {suite.name} suite uses none)")
        )
        if isinstance(trained, str):
            bundle, saved_model_dir = state["translator"], None
            results["translator_inference_model"] = trained
        else:
            bundle, saved_model_dir = trained
            results["translator_inference_model"] = {
                "run": TRAINED_TRANSLATOR_RUN,
                "saved_model": saved_model_dir,
            }
        test = setup.corpus["test"]
        results["inference"] += inference.translator_rows(
            suite,
            bundle,
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
            trained_bundle(TRAINED_TAGGER_RUN, TRAINED_TAGGER_EXPORT)
            if suite.use_trained
            else (f"{inference.NO_TRAINED_MODEL} (the {suite.name} suite uses none)")
        )
        if isinstance(trained, str):
            setup = state.get("tagging")
            if setup is None:
                raise RuntimeError("no tagging data (see tagger_training)")
            bundle, saved_model_dir = state["tagger"], None
            tokens, gold = setup.tokens["test"], setup.gold["test"]
            results["tagger_inference_model"] = trained
        else:
            bundle, saved_model_dir = trained
            tokens, gold = tagging_test_split(bundle.config)
            results["tagger_inference_model"] = {
                "run": TRAINED_TAGGER_RUN,
                "saved_model": saved_model_dir,
            }
        results["inference"] += inference.tagger_rows(
            suite,
            bundle,
            tokens,
            gold,
            trained=not isinstance(trained, str),
            saved_model_dir=saved_model_dir,
            output_dir=output_dir,
            verbose=verbose,
        )

    sections.run("tagger_inference", tagger_inference)

    results["peak_rss_mb"] = measure.peak_rss_mb()
    results["wall_seconds"] = time.perf_counter() - started
    report.write_all(results, output_dir)
    if verbose:
        print(report.markdown(results))
    return results
