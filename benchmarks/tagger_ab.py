"""Two tagger SavedModels timed alternately in one process: is one export
faster than another (two commits' exports of the same weights, two configs)?

    python benchmarks/tagger_ab.py --a DIR --b DIR [--config CONFIG]
        [--threads suite|default] [--order length|corpus] [--rounds 5]
        [--latency-sentences 300] [--output benchmarks/results/tagger_ab.json]

Both models tag the test split of `--config` (default the UD English-EWT
config) through their `tag_tokens` signature: batches of 32, sentences
sorted by length first as `run.py`'s inference rows do (`--order corpus`:
as they come, more padding), the two models alternating round by round
(sentences/s per round, median), then batch-1 latency sentence by sentence
(the first ones in corpus order), alternating per sentence.
Accuracy (or entity F1) of each is reported beside, so that a faster export
that tags differently is seen. `--threads suite` sizes TensorFlow's pools as
`benchmarks/run.py` does (1 intra-op, 2 inter-op threads on two cores);
`default` leaves TensorFlow's. Run it alone: nothing else on the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.benchmarking.measure import environment
from nlp_lstm.benchmarking.runner import tagging_test_split
from nlp_lstm.data.batching import pad_rows
from nlp_lstm.evaluation.tagging import tagging_scores
from nlp_lstm.export import runtime
from nlp_lstm.training import trainer as trainer_lib
from nlp_lstm.utils.files import atomic_write_json

BATCH = 32
UD_CONFIG = "pipelines/configs/tagging_ud_ewt_upos.yaml"


def padded(sentences: list[list[str]]) -> tf.Tensor:
    """`[batch, longest]` tokens, padded with "" (which ends a row)."""
    width = max(1, max(len(sentence) for sentence in sentences))
    return tf.constant(pad_rows(sentences, width, "", object))


def tags_of(signature, sentences) -> list[list[str]]:
    tags = signature(tokens=padded(sentences))["tags"].numpy()
    return [[t.decode("utf-8") for t in tags[row, : len(s)]]
            for row, s in enumerate(sentences)]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="first SavedModel folder")
    parser.add_argument("--b", required=True, help="second SavedModel folder")
    parser.add_argument("--config", default=UD_CONFIG,
                        help="tagging config whose test split is tagged")
    parser.add_argument("--threads", choices=["suite", "default"], default="suite")
    parser.add_argument("--order", choices=["length", "corpus"], default="length")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-sentences", type=int, default=300)
    parser.add_argument("--output", default="benchmarks/results/tagger_ab.json")
    args = parser.parse_args(argv)

    if args.threads == "suite" and not trainer_lib.configure_threads(2):
        raise SystemExit("--threads suite: TensorFlow's threads could not be set")
    config = config_lib.load(config_lib.TaggingConfig, args.config)
    sentences, gold = tagging_test_split(config)
    signatures = {
        label: runtime.load_saved_model(path).signatures["tag_tokens"]
        for label, path in (("a", args.a), ("b", args.b))
    }
    pairs = list(zip(sentences, gold))
    if args.order == "length":
        pairs.sort(key=lambda pair: len(pair[0]))
    ordered = [tokens for tokens, _ in pairs]
    batches = [ordered[i:i + BATCH] for i in range(0, len(ordered), BATCH)]

    results = {"a": args.a, "b": args.b, "config": args.config,
               "threads": args.threads, "order": args.order,
               "sentences": len(sentences),
               "environment": environment(sys.argv)}
    for label, signature in signatures.items():
        predicted = [tags for batch in batches for tags in tags_of(signature, batch)]
        scores = tagging_scores([tags for _, tags in pairs], predicted,
                                config.model_scheme)
        results[label] = {"quality": {k: scores[k] for k in ("accuracy", "f1")
                                      if k in scores},
                          "sentences_per_second": [], "latency_ms": []}
    inputs = [padded(batch) for batch in batches]
    for _ in range(args.rounds):
        for label, signature in signatures.items():
            start = time.perf_counter()
            for tokens in inputs:
                signature(tokens=tokens)["tags"].numpy()
            results[label]["sentences_per_second"].append(
                len(sentences) / (time.perf_counter() - start))
    for sentence in sentences[: args.latency_sentences]:  # corpus order
        tokens = padded([sentence])
        for label, signature in signatures.items():
            start = time.perf_counter()
            signature(tokens=tokens)["tags"].numpy()
            results[label]["latency_ms"].append(1000 * (time.perf_counter() - start))

    print(f"| model | quality | sentences/s, batch {BATCH} (median of "
          f"{args.rounds} rounds) | rounds | batch-1 latency median |")
    print("|---|---|---|---|---|")
    for label in signatures:
        row = results[label]
        per_round = row["sentences_per_second"]
        row["sentences_per_second_median"] = statistics.median(per_round)
        row["latency_ms_median"] = statistics.median(row["latency_ms"])
        rounds = " / ".join(f"{v:,.0f}" for v in per_round)
        print(f"| {label}: {getattr(args, label)} "
              f"| {row['quality']} | {row['sentences_per_second_median']:,.0f} "
              f"| {rounds} | {row['latency_ms_median']:.2f} ms |")
    ratio = (results["b"]["sentences_per_second_median"]
             / results["a"]["sentences_per_second_median"])
    results["b_over_a"] = ratio
    print(f"b / a sentences/s: {ratio:.2f}x")
    atomic_write_json(args.output, results)
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
