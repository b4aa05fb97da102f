"""Parity of the TFLite exports with the SavedModels: quality, size, latency.

For each model (the Multi30k en->de translator, the UD English-EWT UPOS and
CoNLL-2002 Spanish NER taggers) and each variant (float32, float16,
dynamic-int8), exports the `.tflite` from the run folder, scores it on the
test set and compares with the SavedModel: BLEU/chrF (greedy and beam) for
the translator, accuracy/F1 for the taggers. Latency is batch 1 on the same
sentences, LiteRT with 1 thread (text in, text out, tokenization included)
against the SavedModel's signature with TensorFlow on 1 thread.

python benchmarks/tflite_parity.py [--limit N] [--latency-sentences N]
    [--output benchmarks/results/tflite_parity.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the SavedModels' tokenizer ops)

from nlp_lstm.data.conll import load_tagging_corpus
from nlp_lstm.evaluation.tagging import tagging_scores
from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.export.bundles import bundle_of
from nlp_lstm.export.tflite.export import export_tflite
from nlp_lstm.export.tflite.runtime import TFLiteTagger, TFLiteTranslator
from nlp_lstm.text.tags import convert_sentences
from nlp_lstm.utils.files import atomic_write_json

VARIANTS = ("none", "float16", "dynamic-int8")
TRANSLATOR = {
    "name": "multi30k_en_de",
    "run": "runs/multi30k_en_de",
    "saved_model": "saved_models/multi30k_en_de/1",
    "source": "../shared/data/multi30k/test_2016_flickr.en.gz",
    "reference": "../shared/data/multi30k/test_2016_flickr.de.gz",
}
TAGGERS = (
    {
        "name": "tagger_ud_ewt_upos",
        "run": "runs/tagger_ud_ewt_upos",
        "saved_model": "saved_models/tagger_ud_ewt_upos/1",
        "metric": "accuracy",
    },
    {
        "name": "tagger_conll2002_es",
        "run": "runs/tagger_conll2002_es_word_dropout",
        "saved_model": "saved_models/tagger_conll2002_es/2",
        "metric": "f1",
    },
)


def _lines(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as stream:
        return [line.rstrip("\n") for line in stream]


def _latency_ms(function, inputs) -> dict:
    function(inputs[0])  # warm-up
    times = []
    for item in inputs:
        start = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "mean_ms": round(statistics.fmean(times), 2),
        "median_ms": round(statistics.median(times), 2),
    }


def interleaved_latency(systems: dict, inputs, rounds: int = 1) -> dict:
    """Batch-1 latency of several systems on the same inputs, taken round
    robin (one input through every system, then the next), so that a load
    from other processes on the machine weighs on all of them alike.

    Args:
        systems: `{name: function(input)}`.
        inputs: list of inputs.

    Returns:
        `{name: {"mean_ms", "median_ms"}}`.
    """
    times = {name: [] for name in systems}
    for function in systems.values():
        function(inputs[0])  # warm-up
    for _ in range(rounds):
        for item in inputs:
            for name, function in systems.items():
                start = time.perf_counter()
                function(item)
                times[name].append((time.perf_counter() - start) * 1000)
    return {
        name: {
            "mean_ms": round(statistics.fmean(values), 2),
            "median_ms": round(statistics.median(values), 2),
        }
        for name, values in times.items()
    }


def latency_rows(args) -> dict:
    """Interleaved latency of every model's SavedModel and TFLite variants
    (the files written by a previous run in `--directory`)."""
    results = {}
    sources = _lines(TRANSLATOR["source"])[: args.latency_sentences]
    loaded = tf.saved_model.load(TRANSLATOR["saved_model"])
    for search, key in (("greedy", "translate_greedy"), ("beam", "serving_default")):
        signature = loaded.signatures[key]
        systems = {"SavedModel": lambda t, s=signature: s(sources=tf.constant([t]))}
        for quantize in VARIANTS:
            name = f"{TRANSLATOR['name']}.{quantize}.tflite"
            path = os.path.join(args.directory, name)
            runner = TFLiteTranslator(path, num_threads=1)
            systems[quantize] = lambda t, r=runner, b=search == "beam": r.translate(
                [t], beam=b
            )
        results[(TRANSLATOR["name"], search)] = interleaved_latency(systems, sources)
        print(search, json.dumps(results[(TRANSLATOR["name"], search)]), flush=True)
    for spec in TAGGERS:
        config = bundle_of(spec["run"]).config
        corpus, _ = load_tagging_corpus(config.data)
        tokens = corpus["test"]["tokens"][: args.latency_sentences]
        texts = [" ".join(t) for t in tokens]
        serve = tf.saved_model.load(spec["saved_model"]).signatures["serving_default"]
        systems = {"SavedModel": lambda t, s=serve: s(sentences=tf.constant([t]))}
        for quantize in VARIANTS:
            name = f"{spec['name']}.{quantize}.tflite"
            path = os.path.join(args.directory, name)
            runner = TFLiteTagger(path, num_threads=1)
            systems[quantize] = lambda t, r=runner: r.tag([t])
        results[(spec["name"], None)] = interleaved_latency(systems, texts)
        print(spec["name"], json.dumps(results[(spec["name"], None)]), flush=True)
    return results


def _export(bundle, directory: str, name: str, quantize: str, **kwargs) -> str:
    path = os.path.join(directory, f"{name}.{quantize}.tflite")
    start = time.perf_counter()
    export_tflite(bundle, path, quantize=quantize, **kwargs)
    print(f"exported {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def translator_parity(args) -> dict:
    spec = TRANSLATOR
    sources = _lines(spec["source"])[: args.limit or None]
    references = _lines(spec["reference"])[: args.limit or None]
    loaded = tf.saved_model.load(spec["saved_model"])
    signatures = {
        "greedy": loaded.signatures["translate_greedy"],
        "beam": loaded.signatures["serving_default"],
    }
    rows = []

    def saved_model_translate(signature, texts):
        outputs = []
        for start in range(0, len(texts), 32):
            batch = tf.constant(texts[start : start + 32])
            outputs += [
                t.decode("utf-8") for t in signature(sources=batch)["translations"]
                .numpy()
            ]
        return outputs

    reference_outputs = {}
    latency_inputs = sources[: args.latency_sentences]
    for search, signature in signatures.items():
        hypotheses = saved_model_translate(signature, sources)
        reference_outputs[search] = hypotheses
        latency = _latency_ms(
            lambda text, s=signature: s(sources=tf.constant([text])), latency_inputs
        )
        rows.append(
            {
                "model": spec["name"], "variant": "SavedModel", "search": search,
                **corpus_scores(hypotheses, references),
                "size_bytes": _directory_size(spec["saved_model"]),
                "latency": latency,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    bundle = bundle_of(spec["run"])
    for quantize in VARIANTS:
        path = _export(bundle, args.directory, spec["name"], quantize)
        runner = TFLiteTranslator(path, num_threads=1)
        for search in signatures:
            beam = search == "beam"
            hypotheses = runner.translate(sources, beam=beam)
            same = sum(
                a == b for a, b in zip(hypotheses, reference_outputs[search],
                                       strict=True)
            )
            rows.append(
                {
                    "model": spec["name"], "variant": quantize, "search": search,
                    **corpus_scores(hypotheses, references),
                    "identical_to_savedmodel": same,
                    "size_bytes": os.path.getsize(path),
                    "latency": _latency_ms(
                        lambda text, b=beam: runner.translate([text], beam=b),
                        latency_inputs,
                    ),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _directory_size(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def tagger_parity(spec, args) -> list:
    bundle = bundle_of(spec["run"])
    config = bundle.config
    # The test split only (evaluation data); the vocabularies are the bundle's.
    corpus, _ = load_tagging_corpus(config.data)
    scheme = config.model_scheme
    tokens = [list(t) for t in corpus["test"]["tokens"]][: args.limit or None]
    gold = convert_sentences(corpus["test"]["tags"], config.data.scheme, scheme)[
        : len(tokens)
    ]
    loaded = tf.saved_model.load(spec["saved_model"])
    tag_tokens = loaded.signatures["tag_tokens"]
    predicted = [None] * len(tokens)
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    for start in range(0, len(order), 64):
        indices = order[start : start + 64]
        width = max(1, max(len(tokens[i]) for i in indices))
        batch = np.array([tokens[i] + [""] * (width - len(tokens[i]))
                          for i in indices], object)
        tags = tag_tokens(tokens=tf.constant(batch))["tags"].numpy()
        for row, index in enumerate(indices):
            predicted[index] = [t.decode("utf-8") for t in
                                tags[row, : len(tokens[index])]]
    metric = spec["metric"]
    texts = [" ".join(t) for t in tokens[: args.latency_sentences]]
    serve = loaded.signatures["serving_default"]
    scores = tagging_scores(gold, predicted, scheme)
    rows = [
        {
            "model": spec["name"], "variant": "SavedModel",
            "accuracy": scores["accuracy"], "f1": scores.get("f1"),
            "size_bytes": _directory_size(spec["saved_model"]),
            "latency": _latency_ms(
                lambda text: serve(sentences=tf.constant([text])), texts
            ),
        }
    ]
    print(json.dumps(rows[-1]), flush=True)
    max_tokens = config.export.max_tokens  # the SavedModel's, 512
    for quantize in VARIANTS:
        path = _export(bundle, args.directory, spec["name"], quantize,
                       max_tokens=max_tokens)
        runner = TFLiteTagger(path, num_threads=1)
        tflite_tags = [runner.tag_tokens(t) for t in tokens]
        scores = tagging_scores(gold, tflite_tags, scheme)
        same = sum(a == b for a, b in zip(tflite_tags, predicted, strict=True))
        rows.append(
            {
                "model": spec["name"], "variant": quantize,
                "accuracy": scores["accuracy"], "f1": scores.get("f1"),
                "identical_to_savedmodel": same, "sentences": len(tokens),
                "max_tokens": max_tokens,
                "size_bytes": os.path.getsize(path),
                "latency": _latency_ms(lambda text: runner.tag([text]), texts),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    del metric
    return rows


def markdown(results: dict) -> str:
    lines = [
        "| model | variant | search | quality (test) | Δ vs SavedModel | "
        "identical outputs | size | batch-1 latency (mean / median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    baseline = {}
    for row in results["rows"]:
        task_metric = "bleu" if "bleu" in row else (
            "f1" if row.get("f1") is not None else "accuracy"
        )
        key = (row["model"], row.get("search"))
        value = row[task_metric]
        if row["variant"] == "SavedModel":
            baseline[key] = value
        delta = value - baseline[key]
        quality = (
            f"BLEU {row['bleu']:.2f}, chrF {row['chrf']:.2f}" if "bleu" in row
            else f"acc {row['accuracy']:.2f}"
            + (f", F1 {row['f1']:.2f}" if row.get("f1") is not None else "")
        )
        variant = {"none": "TFLite float32", "float16": "TFLite float16",
                   "dynamic-int8": "TFLite dynamic-int8"}.get(row["variant"],
                                                               row["variant"])
        identical = row.get("identical_to_savedmodel")
        total = row.get("sentences")
        latency = row["latency"]
        lines.append(
            f"| {row['model']} | {variant} | {row.get('search') or '-'} | {quality} | "
            f"{'-' if row['variant'] == 'SavedModel' else f'{delta:+.2f}'} | "
            f"{'-' if identical is None else f'{identical}/{total}'} | "
            f"{row['size_bytes'] / 2**20:.2f} MiB | "
            f"{latency['mean_ms']:.1f} / {latency['median_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0,
                        help="test sentences per model (0: all)")
    parser.add_argument("--latency-sentences", type=int, default=100)
    parser.add_argument("--directory", default="saved_models/tflite",
                        help="where the .tflite files are written")
    parser.add_argument("--output", default="benchmarks/results/tflite_parity.json")
    parser.add_argument(
        "--models", default="translator,taggers",
        help="comma-separated: translator, taggers (all), or a tagger's name",
    )
    parser.add_argument(
        "--latency-only", action="store_true",
        help="re-measure latency (interleaved) of the files of a previous run and "
        "update --output",
    )
    args = parser.parse_args(argv)
    # One thread for TensorFlow too: the SavedModel and LiteRT side by side.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    os.makedirs(args.directory, exist_ok=True)
    if args.latency_only:
        with open(args.output, encoding="utf-8") as stream:
            results = json.load(stream)
        latency = latency_rows(args)
        for row in results["rows"]:
            key = (row["model"], row.get("search"))
            row["latency"] = latency[key][row["variant"]]
        results["latency"] = {
            "method": "interleaved round robin, batch 1, text in and out",
            "sentences": args.latency_sentences,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_average": os.getloadavg(),
        }
        atomic_write_json(args.output, results)
        print(markdown(results))
        return 0
    wanted = args.models.split(",")
    known = {"translator", "taggers", *(spec["name"] for spec in TAGGERS)}
    if not set(wanted) <= known:
        parser.error(
            f"--models: unknown {', '.join(sorted(set(wanted) - known))}; "
            f"use {', '.join(sorted(known))}"
        )
    rows = []
    if "translator" in wanted:
        rows += translator_parity(args)
    for spec in TAGGERS:
        if "taggers" in wanted or spec["name"] in wanted:
            rows += tagger_parity(spec, args)
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "threads": {"litert": 1, "tensorflow": 1},
        "command": " ".join([sys.executable.rsplit("/", 1)[-1]] + sys.argv),
        "rows": rows,
    }
    atomic_write_json(args.output, results)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
