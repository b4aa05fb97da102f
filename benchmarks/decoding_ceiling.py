"""How close the translator's search is to what this machine's matmuls allow,
and what lower precision would give (issue 13).

    python benchmarks/decoding_ceiling.py --run RUN_FOLDER \\
        [--sources ../shared/data/multi30k/test_2016_flickr.en.gz] [--sentences 1000]

On one thread (as `nlp-lstm translate` runs each batch): the greedy search of
the run's model over the test sources at batch 64 (length-sorted), the
forward FLOPs of each sentence as decoded, the matmul GFLOP/s of a decoding
step's shapes in float32 and bfloat16 (and of 2048x2048, the peak), the
sentences/s at the matmul-only ceiling, and the seconds and peak resident
memory of importing TensorFlow as `nlp-lstm translate` does. Prints a table
and writes `results.json` to `--output` (default
`benchmarks/results/decoding_ceiling/`). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import tensorflow as tf  # noqa: E402

from nlp_lstm.benchmarking import ceiling  # noqa: E402
from nlp_lstm.benchmarking.measure import environment  # noqa: E402
from nlp_lstm.utils.files import atomic_write_json  # noqa: E402

SOURCES = os.path.join(REPO_ROOT, "..", "shared", "data", "multi30k",
                       "test_2016_flickr.en.gz")


def padded_batches(rows: list[list[int]], size: int):
    """`(indexes, int32 (batch, width))` of the rows sorted by length."""
    order = sorted(range(len(rows)), key=lambda index: len(rows[index]))
    for start in range(0, len(order), size):
        chosen = order[start : start + size]
        width = max(len(rows[index]) for index in chosen)
        yield chosen, tf.constant(
            [rows[index] + [0] * (width - len(rows[index])) for index in chosen],
            tf.int32,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="translator run folder")
    parser.add_argument("--sources", default=SOURCES)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--output",
        default=os.path.join(REPO_ROOT, "benchmarks", "results", "decoding_ceiling"),
    )
    args = parser.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(ceiling.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(ceiling.THREADS)
    import nlp_lstm
    from nlp_lstm.decoding.translate import source_row, translate_ids

    bundle = nlp_lstm.load(args.run)
    model, config = bundle.model, bundle.config.decoding
    processor = bundle.text_translator(1).source_processor
    with gzip.open(args.sources, "rt", encoding="utf-8") as stream:
        texts = [line.rstrip("\n") for line in stream][: args.sentences]
    limit = config.max_source_tokens
    rows = [source_row(ids, limit) for ids in processor.encode(texts)]
    batches = list(padded_batches(rows, args.batch_size))
    search = tf.function(
        functools.partial(translate_ids, model, beam_size=1),
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    lengths = [0] * len(rows)
    for indexes, batch in batches:  # traces, and gives the output lengths
        for index, length in zip(indexes, search(batch)["lengths"].numpy()):
            lengths[index] = int(length)
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        for _, batch in batches:
            search(batch)["lengths"].numpy()
        seconds.append(time.perf_counter() - start)
    measured = len(rows) / min(seconds)
    flops = ceiling.sentence_flops(model, [len(r) - 1 for r in rows], lengths)
    per_sentence = sum(flops) / len(flops)

    shapes = ceiling.decoding_shapes(model, args.batch_size)
    rates = {
        dtype.name: {
            name: ceiling.matmul_rate(*shape, dtype) for name, shape in shapes.items()
        }
        for dtype in (tf.float32, tf.bfloat16)
    }
    square = {
        dtype.name: ceiling.matmul_rate(2048, 2048, 2048, dtype, chain=5)
        for dtype in (tf.float32, tf.bfloat16)
    }
    ceilings = {
        name: ceiling.ceiling_rate(model, rate, per_sentence, args.batch_size)
        for name, rate in rates.items()
    }
    start_up = ceiling.tensorflow_start_up()
    results = {
        "environment": environment(sys.argv),
        "run": os.path.abspath(args.run),
        "sentences": len(rows),
        "mean_output_steps": sum(lengths) / len(lengths) + 1,
        "mean_source_tokens": sum(len(r) for r in rows) / len(rows),
        "gflop_per_sentence": per_sentence / 1e9,
        "greedy_sentences_per_s_one_thread": measured,
        "greedy_seconds": seconds,
        "matmul_gflops_one_thread": rates,
        "matmul_gflops_2048_one_thread": square,
        "ceiling_sentences_per_s_one_thread": ceilings,
        "share_of_float32_ceiling": measured / ceilings["float32"],
        "tensorflow_import": start_up,
    }
    os.makedirs(args.output, exist_ok=True)
    atomic_write_json(os.path.join(args.output, "results.json"), results)
    print(f"{len(rows)} sentences, {results['mean_source_tokens']:.1f} source tokens "
          f"and {results['mean_output_steps']:.1f} decoder steps each: "
          f"{per_sentence / 1e6:.1f} MFLOP a sentence")
    print(f"\n{'one thread, batch ' + str(args.batch_size):40s} {'float32':>9s} "
          f"{'bfloat16':>9s}")
    for name in shapes:
        print(f"{'GFLOP/s ' + name + ' ' + 'x'.join(map(str, shapes[name])):40s} "
              f"{rates['float32'][name]:9.1f} {rates['bfloat16'][name]:9.1f}")
    print(f"{'GFLOP/s 2048x2048x2048':40s} {square['float32']:9.1f} "
          f"{square['bfloat16']:9.1f}")
    print(f"{'matmul-only ceiling, sentences/s':40s} {ceilings['float32']:9.1f} "
          f"{ceilings['bfloat16']:9.1f}")
    print(f"{'greedy search measured, sentences/s':40s} {measured:9.1f} "
          f"({100 * results['share_of_float32_ceiling']:.0f}% of the float32 ceiling)")
    print(f"\nTensorFlow import (no Keras): {start_up['import_s']:.2f} s, "
          f"{start_up['peak_rss_mb']:.0f} MB resident")
    return 0


if __name__ == "__main__":
    sys.exit(main())
