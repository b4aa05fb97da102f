"""Two translator SavedModels timed alternately in one process: is one export
faster than another (two exports of the same weights: two commits, a
shortlist or none, two precisions)?

    python benchmarks/translator_ab.py --a DIR --b DIR
        [--signature translate_greedy|serving_default ...] [--threads 1]
        [--rounds 5] [--sources FILE --references FILE]
        [--output benchmarks/results/translator_ab.json]

Both models translate `--sources` (default test_2016_flickr, English) through
each `--signature`: batches of 64 sentences sorted by length, as
`nlp-lstm translate` forms them, one batch at a time on `--threads` threads
(1: what each of the command's batches gets), the two models alternating
round by round (the order flipped every round). Reports sentences/s per
round and their median, b/a per round, each model's BLEU and how many of b's
translations equal a's. `benchmarks/translation_speed.py` compares whole
systems beside the peers; this one measures a difference between two exports
that the drift of a sitting would hide. Run it alone: nothing else on the
cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from nlp_lstm.benchmarking.measure import environment
from nlp_lstm.data.files import text_lines
from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.export import runtime
from nlp_lstm.utils.files import atomic_write_json

BATCH = 64
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/data")
SOURCES = os.path.join(DATA, "multi30k/test_2016_flickr.en.gz")
REFERENCES = os.path.join(DATA, "multi30k/test_2016_flickr.de.gz")


def translate(signature, batches) -> list[str]:
    return [
        text.decode("utf-8", errors="replace")
        for batch in batches
        for text in signature(sources=batch)["translations"].numpy()
    ]


def compare(signatures: dict, batches, order, references, rounds: int) -> dict:
    """One signature of each model: quality, then `rounds` alternated timings."""
    result = {}
    for label, signature in signatures.items():
        sorted_outputs = translate(signature, batches)  # also the first call
        outputs = [""] * len(order)
        for position, index in enumerate(order):
            outputs[index] = sorted_outputs[position]
        result[label] = {
            "bleu": corpus_scores(outputs, references)["bleu"],
            "outputs": outputs,
            "sentences_per_second": [],
        }
    labels = list(signatures)
    for round_index in range(rounds):
        for label in labels if round_index % 2 == 0 else labels[::-1]:
            start = time.perf_counter()
            for batch in batches:
                signatures[label](sources=batch)["translations"].numpy()
            result[label]["sentences_per_second"].append(
                len(order) / (time.perf_counter() - start)
            )
    a, b = (result[label] for label in labels)
    result["equal"] = sum(x == y for x, y in zip(a.pop("outputs"), b.pop("outputs")))
    for label in labels:
        row = result[label]
        row["median"] = statistics.median(row["sentences_per_second"])
    result["b_over_a_per_round"] = [
        y / x for x, y in zip(a["sentences_per_second"], b["sentences_per_second"])
    ]
    result["b_over_a"] = b["median"] / a["median"]
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="first SavedModel folder")
    parser.add_argument("--b", required=True, help="second SavedModel folder")
    parser.add_argument(
        "--signature", nargs="+", default=["translate_greedy", "serving_default"]
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sources", default=SOURCES)
    parser.add_argument("--references", default=REFERENCES)
    parser.add_argument("--output", default="benchmarks/results/translator_ab.json")
    args = parser.parse_args(argv)

    tf = runtime.import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    sources = [text for _, text in text_lines(args.sources)]
    references = [text for _, text in text_lines(args.references)]
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    ordered = [sources[i] for i in order]
    batches = [tf.constant(ordered[i : i + BATCH]) for i in range(0, len(order), BATCH)]
    models = {}
    for label, path in (("a", args.a), ("b", args.b)):
        runtime.load_text_ops(path)
        models[label] = runtime.load_saved_model(path)
    results = {
        "a": args.a, "b": args.b, "threads": args.threads, "rounds": args.rounds,
        "sentences": len(sources), "environment": environment(sys.argv),
    }
    print(f"| signature | model | BLEU | sentences/s, batch {BATCH} (median) "
          f"| rounds | b / a per round |")
    print("|---|---|---|---|---|---|")
    for name in args.signature:
        signatures = {label: model.signatures[name] for label, model in models.items()}
        result = compare(signatures, batches, order, references, args.rounds)
        results[name] = result
        for label in ("a", "b"):
            row = result[label]
            rounds = " / ".join(f"{v:,.1f}" for v in row["sentences_per_second"])
            ratios = " / ".join(f"{r:.2f}" for r in result["b_over_a_per_round"])
            print(f"| {name} | {label}: {getattr(args, label)} | {row['bleu']:.2f} "
                  f"| {row['median']:,.1f} | {rounds} "
                  f"| {ratios if label == 'b' else ''} |")
        print(f"{name}: b / a {result['b_over_a']:.2f}x; "
              f"{result['equal']} of {len(sources)} translations equal")
    atomic_write_json(args.output, results)
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
