"""The translator's search with float32 and with bfloat16 matmuls
(`decoding.precision`), side by side on one model: speed, BLEU and how many
translations change.

    python benchmarks/search_precision.py --run RUN_FOLDER \\
        [--sources ../shared/data/multi30k/test_2016_flickr.en.gz] \\
        [--references ../shared/data/multi30k/test_2016_flickr.de.gz] [--rounds 2]

Runs the SavedModel's module (`TranslatorModule`: in-graph tokenization,
search, detokenization) in this process, greedy and with the config's beam,
on length-sorted batches of 64 and one thread (as `nlp-lstm translate` runs
each batch), the precisions alternating for `--rounds` rounds; the best round
of each is kept. Prints a table and writes `results.json`, `results.md` and each
row's translations (`greedy_float32.txt`, ...) to `--output` (default
`benchmarks/results/search_precision/`). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import tensorflow as tf  # noqa: E402

from nlp_lstm.benchmarking.measure import environment  # noqa: E402
from nlp_lstm.utils.files import atomic_write_bytes, atomic_write_json  # noqa: E402

DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "multi30k")
PRECISIONS = ("float32", "bfloat16")


def read_lines(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as stream:
        return [line.rstrip("\n") for line in stream]


def translate_all(signature, batches, order, count: int):
    """`(translations in input order, seconds)` of every batch."""
    signature(tf.constant(batches[0]))  # traced before the clock starts
    start = time.perf_counter()
    outputs = []
    for batch in batches:
        outputs += [t.decode() for t in signature(tf.constant(batch))["translations"]
                    .numpy()]
    seconds = time.perf_counter() - start
    translations = [""] * count
    for index, text in zip(order, outputs, strict=True):
        translations[index] = text
    return translations, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="translator run folder")
    parser.add_argument(
        "--sources", default=os.path.join(DATA, "test_2016_flickr.en.gz")
    )
    parser.add_argument(
        "--references", default=os.path.join(DATA, "test_2016_flickr.de.gz")
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--output",
        default=os.path.join(REPO_ROOT, "benchmarks", "results", "search_precision"),
    )
    args = parser.parse_args(argv)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already running (a test): its threads
        pass
    import nlp_lstm
    from nlp_lstm.evaluation.translation import corpus_scores
    from nlp_lstm.export.translator import TranslatorModule

    bundle = nlp_lstm.load(args.run)
    sources, references = read_lines(args.sources), read_lines(args.references)
    order = sorted(range(len(sources)), key=lambda index: len(sources[index]))
    batches = [
        [sources[index] for index in order[start : start + args.batch_size]]
        for start in range(0, len(order), args.batch_size)
    ]
    modules = {}
    for precision in PRECISIONS:
        bundle.set_decoding(precision=precision)
        modules[precision] = TranslatorModule.from_bundle(bundle)
    beam = modules["float32"].beam_size
    searches = {"greedy": "serve_greedy", f"beam {beam}": "serve"}
    rows = {}
    for _ in range(args.rounds):
        for search, attribute in searches.items():
            for precision in PRECISIONS:
                signature = getattr(modules[precision], attribute)
                translations, seconds = translate_all(
                    signature, batches, order, len(sources)
                )
                row = rows.setdefault((search, precision), {"seconds": []})
                row["seconds"].append(seconds)
                row["translations"] = translations
    results = {"environment": environment(sys.argv), "run": os.path.abspath(args.run),
               "sentences": len(sources), "batch_size": args.batch_size, "rows": []}
    lines = [
        "| search | precision | sentences/s (best of rounds) | BLEU | chrF "
        "| translations equal to float32's |",
        "|---|---|---|---|---|---|",
    ]
    for (search, precision), row in rows.items():
        scores = corpus_scores(row["translations"], references)
        reference = rows[search, "float32"]["translations"]
        equal = sum(a == b for a, b in zip(row["translations"], reference, strict=True))
        rate = len(sources) / min(row["seconds"])
        results["rows"].append({
            "search": search, "precision": precision, "sentences_per_second": rate,
            "seconds": row["seconds"], "bleu": scores["bleu"], "chrf": scores["chrf"],
            "equal_to_float32": equal,
        })
        lines.append(f"| {search} | {precision} | {rate:.1f} | {scores['bleu']:.2f} "
                     f"| {scores['chrf']:.2f} | {equal} of {len(sources)} |")
    os.makedirs(args.output, exist_ok=True)
    for (search, precision), row in rows.items():  # to see what changed
        name = f"{search.replace(' ', '')}_{precision}.txt"
        text = "".join(f"{line}\n" for line in row["translations"])
        atomic_write_bytes(os.path.join(args.output, name), text.encode())
    atomic_write_json(os.path.join(args.output, "results.json"), results)
    table = "\n".join(lines) + "\n"
    atomic_write_bytes(os.path.join(args.output, "results.md"), table.encode())
    print(table)
    return results


if __name__ == "__main__":
    main()
