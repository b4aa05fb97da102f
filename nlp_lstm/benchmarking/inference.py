"""Inference speed, size and quality of the translator and the tagger in every
format: Keras eager, Keras `tf.function`, the reloaded SavedModel and TFLite
(float32, float16, dynamic-int8).

Every format is timed text in, text out (for the tagger: tokens in, tag names
out), so that the rows compare: the Keras and TFLite rows encode and decode
with the Python SentencePiece processor, the SavedModel tokenizes in its
graph. Batch-1 latency is measured sentence by sentence after a few warm-up
calls; throughput translates the quality subset (sorted by length, as the
pipeline's `TextTranslator` does) in batches of `suite.inference_batch`, and
the same outputs are scored, so speed and quality come from one pass. TFLite
signatures have a fixed batch of 1: their throughput is measured with batch-1
calls (the row says so).

A row is a dict with `task`, `format`, `search`, and either the figures
(`latency_ms`, `throughput`, `size_mb`, `quality`), or `skipped` (a reason),
or `error` (an unexpected failure, with its message).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
import traceback

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the SavedModels' tokenizer ops)

from nlp_lstm.benchmarking.measure import peak_rss_mb, summarize
from nlp_lstm.bundle import TaggerBundle, TranslatorBundle
from nlp_lstm.decoding.translate import source_row, translate_ids
from nlp_lstm.evaluation.tagging import tagging_scores
from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.export import runtime
from nlp_lstm.export.bundles import export_saved_model
from nlp_lstm.export.tflite.export import export_tflite
from nlp_lstm.export.tflite.runtime import TFLiteTagger, TFLiteTranslator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.text.sentencepiece import PAD_ID
from nlp_lstm.text.words import PAD

TFLITE_QUANTIZE = {
    "float32": "none",
    "float16": "float16",
    "dynamic-int8": "dynamic-int8",
}
NO_TRAINED_MODEL = "no trained model"


def directory_size_mb(path: str) -> float:
    if os.path.isfile(path):
        return os.path.getsize(path) / 2**20
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total / 2**20


def keras_weights_size_mb(model) -> float:
    """Size of the model's `.weights.h5` file."""
    folder = tempfile.mkdtemp()
    try:
        path = os.path.join(folder, "model.weights.h5")
        model.save_weights(path)
        return directory_size_mb(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pad_rows(rows, value=PAD_ID) -> np.ndarray:
    width = max(1, max(len(row) for row in rows))
    array = np.full((len(rows), width), value, dtype=np.int32)
    for index, row in enumerate(rows):
        array[index, : len(row)] = row
    return array


def measure_format(run_batch, sentences, latency_count: int, warmup: int,
                   quality_count: int, batch_size: int, length_of) -> dict:
    """Latency (batch 1) and throughput of `run_batch(list of inputs) -> list
    of outputs`.

    Returns:
        `{"latency_ms", "throughput", "outputs", "indices"}`: `outputs` of the
        first `quality_count` sentences, in their order.
    """
    for sentence in sentences[:warmup]:
        run_batch([sentence])
    latency = []
    for sentence in sentences[:latency_count]:
        start = time.perf_counter()
        run_batch([sentence])
        latency.append(1000.0 * (time.perf_counter() - start))
    subset = sentences[:quality_count]
    order = sorted(range(len(subset)), key=lambda i: length_of(subset[i]))
    outputs = [None] * len(subset)
    start = time.perf_counter()
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
        for index, output in zip(
            chunk, run_batch([subset[i] for i in chunk]), strict=True
        ):
            outputs[index] = output
    seconds = time.perf_counter() - start
    return {
        "latency_ms": summarize(latency),
        "throughput": {
            "sentences_per_second": len(subset) / seconds,
            "batch_size": batch_size,
            "sentences": len(subset),
            "seconds": seconds,
        },
        "outputs": outputs,
    }


def guarded(row: dict, function) -> dict:
    """Runs `function() -> dict of figures` into `row`; an exception becomes
    the row's `error`."""
    try:
        row.update(function())
    except Exception as error:  # noqa: BLE001 (recorded, the run goes on)
        row["error"] = f"{type(error).__name__}: {error}"
        row["traceback"] = traceback.format_exc(limit=6)
    return row


# ---------------------------------------------------------------------------
# TFLite, through the TFLite export package (`export_tflite` and its runners).


# The tagger's `.tflite` at batch 1 ran 7-14% faster on one LiteRT thread than
# on two in each of four sittings (README, 2026-12-03); one is also the CLI's
# default.
TFLITE_TAGGER_THREADS = 1


def tflite_threads() -> int:
    """LiteRT threads: one per usable core, as TensorFlow uses."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def tflite_unavailable() -> str | None:
    """Why TFLite rows cannot run here, or None."""
    try:
        # A probe, not a use: the runners import the interpreter when they
        # start; a missing ai-edge-litert skips the TFLite rows (with why).
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError as error:
        return f"ai-edge-litert is not installed ({error})"
    return None


def export_tflite_file(bundle, output_dir: str, name: str, variant: str,
                       **kwargs) -> tuple[str, float]:
    """`export_tflite` of an in-memory bundle into
    `output_dir/models/NAME_VARIANT.tflite`; returns `(path, seconds)`."""
    path = os.path.join(output_dir, "models", f"{name}_{variant}.tflite")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    start = time.perf_counter()
    export_tflite(bundle, path, quantize=TFLITE_QUANTIZE[variant], **kwargs)
    return path, time.perf_counter() - start


# ---------------------------------------------------------------------------
# Translator.


def translator_rows(suite, bundle: TranslatorBundle, sources, references,
                    trained: bool, saved_model_dir: str | None,
                    output_dir: str, verbose: bool = True) -> list:
    """Every format x {greedy, beam} row of the translator.

    Args:
        bundle: `TranslatorBundle`. The trained model (`bundle_of(run_dir)`),
            or the benchmark's untrained one wrapped in memory.
        sources, references: test sentences.
        trained: bool. Whether the bundle's model is the trained model.
        saved_model_dir: the SavedModel of the same weights, or None to export
            one into `output_dir`.
    """
    model = bundle.model
    source_processor = sp.processor(bundle.tokenizers["source"])
    target_processor = sp.processor(bundle.tokenizers["target"])
    length_penalty = bundle.config.decoding.length_penalty
    searches = (("greedy", 1), (f"beam{suite.beam_size}", suite.beam_size))
    encoded = source_processor.encode(list(sources))
    sentences = [
        (text, source_row(ids, bundle.config.decoding.max_source_tokens))
        for text, ids in zip(sources, encoded, strict=True)
    ]

    def length_of(sentence):
        return len(sentence[1])

    def decode(ids, lengths):
        return target_processor.decode(
            [ids[row, : lengths[row]].tolist() for row in range(len(lengths))]
        )

    rows = []

    def add_rows(format_name, make_runner, size_mb, notes, eager=False):
        for search, beam in searches:
            row = {"task": "translation", "format": format_name, "search": search,
                   "model": "trained" if trained else "untrained", "notes": notes}
            if verbose:
                print(f"  translator {format_name} {search}", flush=True)

            def measure(beam=beam):
                run_batch, batch_size = make_runner(beam)
                count = (
                    suite.eager_quality_sentences if eager else suite.quality_sentences
                )
                measured = measure_format(
                    run_batch,
                    sentences,
                    suite.eager_latency_sentences if eager else suite.latency_sentences,
                    suite.latency_warmup,
                    min(count, len(sentences)),
                    batch_size,
                    length_of,
                )
                hypotheses = measured.pop("outputs")
                scores = corpus_scores(hypotheses, list(references[: len(hypotheses)]))
                measured["quality"] = {
                    "bleu": scores["bleu"],
                    "chrf": scores["chrf"],
                    "sentences": scores["sentences"],
                }
                measured["size_mb"] = size_mb()
                measured["peak_rss_mb"] = peak_rss_mb()
                return measured

            rows.append(guarded(row, measure))

    def keras_runner(compiled):
        def make(beam):
            def search(ids):
                return translate_ids(
                    model, ids, beam_size=beam, length_penalty=length_penalty
                )

            if compiled:
                search = tf.function(
                    search, input_signature=[tf.TensorSpec([None, None], tf.int32)]
                )

            def run_batch(batch):
                result = search(tf.constant(pad_rows([ids for _, ids in batch])))
                return decode(result["ids"].numpy(), result["lengths"].numpy())

            return run_batch, suite.inference_batch

        return make

    keras_size = _cached(lambda: keras_weights_size_mb(model))
    if "keras_eager" in suite.translator_formats:
        add_rows("keras_eager", keras_runner(False), keras_size,
                 "model.encode + search ops run eagerly", eager=True)
    if "keras_function" in suite.translator_formats:
        add_rows("keras_function", keras_runner(True), keras_size,
                 "translate_ids in one tf.function (shape-generic)")

    if "saved_model" in suite.translator_formats:
        state = {}

        def saved_model_runner(beam):
            if "loaded" not in state:
                path = saved_model_dir or export_translator_saved_model(
                    bundle, suite.beam_size, output_dir
                )
                state["path"] = path
                state["loaded"] = runtime.load_saved_model(path)
            loaded = state["loaded"]
            name = "translate_greedy" if beam == 1 else "serving_default"
            signature = loaded.signatures[name]

            def run_batch(batch):
                texts = tf.constant([text for text, _ in batch], tf.string)
                outputs = signature(sources=texts)["translations"].numpy()
                return [text.decode("utf-8") for text in outputs]

            return run_batch, suite.inference_batch

        add_rows(
            "saved_model",
            saved_model_runner,
            lambda: directory_size_mb(state["path"]),
            "text in, text out; tokenization in the graph"
            + (f" ({saved_model_dir})" if saved_model_dir else " (fresh export)"),
        )

    unavailable = tflite_unavailable()
    for variant in suite.tflite_variants:
        format_name = f"tflite_{variant}"
        if unavailable:
            for search, _ in searches:
                rows.append({"task": "translation", "format": format_name,
                             "search": search, "skipped": unavailable})
            continue
        state = {}

        def tflite_runner(beam, variant=variant, state=state):
            if "path" not in state:
                state["path"], state["convert_seconds"] = export_tflite_file(
                    bundle, output_dir, "translator", variant,
                    beam_size=suite.beam_size,
                )
            runner = TFLiteTranslator(state["path"], num_threads=tflite_threads())

            def run_batch(batch):
                return runner.translate([text for text, _ in batch], beam=beam > 1)

            return run_batch, 1

        add_rows(
            format_name,
            tflite_runner,
            lambda state=state: directory_size_mb(state["path"]),
            f"TFLiteTranslator, {tflite_threads()} threads, batch-1 signatures "
            "(throughput from batch-1 calls); SentencePiece in Python",
        )
        for row in rows[-len(searches):]:
            if "convert_seconds" in state:
                row["convert_seconds"] = state["convert_seconds"]
    return rows


def _cached(function):
    cache = []

    def call():
        if not cache:
            cache.append(function())
        return cache[0]

    return call


def with_beam_size(bundle: TranslatorBundle, beam_size: int) -> TranslatorBundle:
    """`bundle` whose config decodes with `beam_size` (the suite's beam, so
    that the SavedModel's `serving_default` is the row's beam search)."""
    config = bundle.config
    decoding = dataclasses.replace(config.decoding, beam_size=beam_size)
    return dataclasses.replace(
        bundle, config=dataclasses.replace(config, decoding=decoding)
    )


def export_translator_saved_model(bundle: TranslatorBundle, beam_size: int,
                                  output_dir: str) -> str:
    """Exports a fresh SavedModel of `bundle` (beam search of `beam_size`)
    under `output_dir/models/`; returns its version folder."""
    directory = os.path.join(output_dir, "models")
    name = "saved_model_translator"
    shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    return export_saved_model(
        with_beam_size(bundle, beam_size), directory, name,
        extra_metadata={"beam_size": beam_size},
    )


# ---------------------------------------------------------------------------
# Tagger.


def tagger_rows(suite, bundle: TaggerBundle, tokens, gold, trained: bool,
                saved_model_dir: str | None, output_dir: str,
                verbose: bool = True) -> list:
    """Every format's row of the tagger (tokens in, tag names out).

    Args:
        bundle: `TaggerBundle`. The trained model (`bundle_of(run_dir)`), or
            the benchmark's untrained one wrapped in memory.
        tokens, gold: test sentences (token lists) and their tags, in the
            model's scheme.
        trained: bool. Whether the bundle's model is the trained model.
        saved_model_dir: the SavedModel of the same weights, or None to export
            one into `output_dir`.
    """
    model, featurizer = bundle.model, bundle.featurizer
    scheme = bundle.config.model_scheme
    tag_names = list(bundle.tag_vocabulary.tags)
    sentences = [list(sentence) for sentence in tokens]
    tag_array = np.asarray(tag_names, dtype=object)

    def padded(batch):
        width = max(1, max(len(s) for s in batch))
        return np.asarray([s + [PAD] * (width - len(s)) for s in batch], dtype=object)

    def names(ids, batch):
        return [list(tag_array[ids[row, : len(s)]]) for row, s in enumerate(batch)]

    rows = []

    def add_row(format_name, make_runner, size_mb, notes, eager=False):
        row = {"task": "tagging", "format": format_name, "search": "-",
               "model": "trained" if trained else "untrained", "notes": notes}
        if verbose:
            print(f"  tagger {format_name}", flush=True)

        def measure():
            run_batch, batch_size = make_runner()
            count = (
                suite.tagger_eager_quality_sentences
                if eager else suite.tagger_quality_sentences
            )
            measured = measure_format(
                run_batch, sentences, suite.tagger_latency_sentences,
                suite.latency_warmup, min(count, len(sentences)), batch_size, len,
            )
            predicted = measured.pop("outputs")
            scores = tagging_scores(gold[: len(predicted)], predicted, scheme)
            quality = {"accuracy": scores["accuracy"], "sentences": len(predicted)}
            if "f1" in scores:
                quality["f1"] = scores["f1"]
            measured["quality"] = quality
            measured["size_mb"] = size_mb()
            measured["peak_rss_mb"] = peak_rss_mb()
            return measured

        rows.append(guarded(row, measure))

    def keras_runner(compiled):
        def make():
            def decode(batch_tokens):
                return model.decode(featurizer(batch_tokens))

            if compiled:
                decode = tf.function(
                    decode, input_signature=[tf.TensorSpec([None, None], tf.string)]
                )

            def run_batch(batch):
                ids = decode(tf.constant(padded(batch))).numpy()
                return names(ids, batch)

            return run_batch, suite.inference_batch

        return make

    keras_size = _cached(lambda: keras_weights_size_mb(model))
    add_row("keras_eager", keras_runner(False), keras_size,
            "featurizer + model.decode eagerly", eager=True)
    add_row("keras_function", keras_runner(True), keras_size,
            "featurizer + model.decode in one tf.function")

    state = {}

    def saved_model_runner():
        path = saved_model_dir or export_tagger_saved_model(bundle, output_dir)
        state["path"] = path
        signature = runtime.load_saved_model(path).signatures["tag_tokens"]

        def run_batch(batch):
            tags = signature(tokens=tf.constant(padded(batch)))["tags"].numpy()
            return [
                [tag.decode("utf-8") for tag in tags[row, : len(s)]]
                for row, s in enumerate(batch)
            ]

        return run_batch, suite.inference_batch

    add_row(
        "saved_model",
        saved_model_runner,
        lambda: directory_size_mb(state["path"]),
        "tag_tokens signature (pre-tokenized)"
        + (f" ({saved_model_dir})" if saved_model_dir else " (fresh export)"),
    )

    unavailable = tflite_unavailable()
    max_tokens = max(128, max(len(s) for s in sentences))
    for variant in suite.tflite_variants:
        format_name = f"tflite_{variant}"
        if unavailable:
            rows.append({"task": "tagging", "format": format_name, "search": "-",
                         "skipped": unavailable})
            continue
        state_tflite = {}

        def tflite_runner(variant=variant, state=state_tflite):
            state["path"], state["convert_seconds"] = export_tflite_file(
                bundle, output_dir, "tagger", variant, max_tokens=max_tokens
            )
            runner = TFLiteTagger(state["path"], num_threads=TFLITE_TAGGER_THREADS)

            def run_batch(batch):
                return [runner.tag_tokens(sentence) for sentence in batch]

            return run_batch, 1

        add_row(
            format_name,
            tflite_runner,
            lambda state=state_tflite: directory_size_mb(state["path"]),
            f"TFLiteTagger, {TFLITE_TAGGER_THREADS} thread, batch-1 signature "
            "(throughput from batch-1 calls); features in NumPy",
        )
        if "convert_seconds" in state_tflite:
            rows[-1]["convert_seconds"] = state_tflite["convert_seconds"]
    return rows


def export_tagger_saved_model(bundle: TaggerBundle, output_dir: str) -> str:
    """Exports a fresh SavedModel of `bundle` under `output_dir/models/`;
    returns its version folder."""
    directory = os.path.join(output_dir, "models")
    name = "saved_model_tagger"
    shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    return export_saved_model(bundle, directory, name)
