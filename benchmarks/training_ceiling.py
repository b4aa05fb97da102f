"""How fast the translator's training step could be on this machine: the
matmul-only floor of a step at the peer size (issue 14).

    python benchmarks/training_ceiling.py [--steps 30] [--precision float32 bfloat16]
        [--step-results benchmarks/results/training_step/results.json]
        [--peers ../shared/peers output folder] [--output DIR]

The step's matmuls, as the package computes them
(`ceiling.translator_training_products`: every forward product, its input
gradient and its weight gradient, on the padded shapes of the same 30
Multi30k batches `benchmarks/training_step.py` times, the output projection
over the real target positions only), each timed alone
(`ceiling.product_seconds`: no casts, no other op, the faster of its two
layouts, best of five runs). Their sum is what a step would take if
everything but its matmuls took no time: a floor, not a target. Two ways to
use both cores are timed, each in a fresh process: two towers of 32
sentences, one thread each (as the package trains; the towers taken to
overlap perfectly, so the floor is one tower's products), and one tower of
64 on two threads. `--step-results` (a `training_step.py` results.json of
the same sitting) and `--peers` (a `../shared/peers/bench.sh` output folder)
put the measured steps beside the floor. Prints a table and writes
`results.json` and `results.md` to `--output`. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

# (label, sentences a tower, intra-op threads)
LAYOUTS = {
    "two towers of 32, one thread each": (32, 1),
    "one tower of 64, two threads": (64, 2),
}
# Each timed run multiplies at least this many FLOPs (more copies of a
# small product), so that a run is well above the timer's resolution.
RUN_FLOPS = 2e8


def _child(rows: int, threads: int, steps: int, precisions: list[str]) -> dict:
    """The floor of each batch's step at `rows` sentences a tower on
    `threads` threads: `{precision: [seconds a step per batch], "flops":
    [...], "products": {precision: {name: seconds a step, mean}}}`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import profile_training  # noqa: PLC0415 (this script's folder)
    import tensorflow as tf  # noqa: PLC0415

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from nlp_lstm.benchmarking import ceiling  # noqa: PLC0415
    from nlp_lstm.benchmarking import training as bench  # noqa: PLC0415
    from nlp_lstm.data.parallel import load_parallel_corpus  # noqa: PLC0415
    from nlp_lstm.models.translator import build_translator  # noqa: PLC0415
    from nlp_lstm.text import sentencepiece as sp  # noqa: PLC0415

    config = profile_training.task_config("translator")
    corpus, _ = load_parallel_corpus(config.data)
    processor = sp.processor(sp.load_model(profile_training.TOKENIZER))
    batches = bench.fixed_batches(config, corpus, processor, steps)
    model = build_translator(
        config.model, processor.vocab_size(), processor.vocab_size()
    )
    per_batch = []
    for (source, target_in), target_out in batches:
        # A tower's share of the batch, padded as the whole batch; the loss
        # projects its real target positions only.
        share = rows * int(source.shape[0]) // int(config.data.batch_size)
        per_batch.append(ceiling.translator_training_products(
            model, share, int(source.shape[1]), int(target_in.shape[1]),
            target_tokens=int(tf.math.count_nonzero(target_out[:share])),
        ))
    shapes = sorted({p[1:4] for products in per_batch for p in products})
    result = {"flops": [ceiling.products_flops(p) for p in per_batch],
              "products": {}}
    for precision in precisions:
        dtype = tf.as_dtype(precision)
        seconds = {}
        for shape in shapes:
            flops = 2 * shape[0] * shape[1] * shape[2]
            copies = int(min(32, max(2, RUN_FLOPS // flops)))
            seconds[shape] = ceiling.product_seconds(*shape, dtype, copies=copies)
        result[precision] = [
            sum(seconds[p[1:4]] * p[4] for p in products) for products in per_batch
        ]
        by_name = collections.Counter()
        for products in per_batch:
            for name, *shape, count in products:
                by_name[name] += seconds[tuple(shape)] * count / len(per_batch)
        result["products"][precision] = dict(by_name.most_common())
    return result


def run_child(rows: int, threads: int, steps: int, precisions: list[str]) -> dict:
    """`_child` in a fresh process (threads are set before TensorFlow runs)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", str(rows),
               str(threads), "--steps", str(steps), "--precision", *precisions]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"error: the floor at {rows} rows failed:\n"
                         f"{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measured_steps(path: str) -> dict:
    """Mean seconds a step by precision from a `training_step.py` results.json
    (this checkout's translator rows, the median over rounds)."""
    with open(path, encoding="utf-8") as stream:
        runs = json.load(stream)["runs"]
    means = collections.defaultdict(list)
    for run in runs:
        if run["task"] == "translator" and run["code"] == ROOT:
            means[run["precision"]].append(run["total_s"] / run["steps"])
    return {precision: statistics.median(v) for precision, v in means.items()}


def table(floors: dict, precisions: list[str], measured: dict, peers: dict) -> str:
    header = "| mean seconds a step, translator at the peer size | " + " | ".join(
        precisions) + " |"
    lines = [header, "|---|" + "---|" * len(precisions)]
    for label, floor in floors.items():
        cells = [f"{1000 * statistics.mean(floor[p]):.1f} ms" for p in precisions]
        lines.append(f"| matmul-only floor, {label} | " + " | ".join(cells) + " |")
    best = {p: min(statistics.mean(f[p]) for f in floors.values()) for p in precisions}
    if measured:
        cells = [f"{1000 * measured[p]:.1f} ms" if p in measured else "-"
                 for p in precisions]
        lines.append("| measured step (`training_step.py`, mean) | "
                     + " | ".join(cells) + " |")
        cells = [f"{100 * best[p] / measured[p]:.0f}%" if p in measured else "-"
                 for p in precisions]
        lines.append("| floor / measured | " + " | ".join(cells) + " |")
    if peers:
        faster = min(peers.values())
        for name, seconds in sorted(peers.items()):
            lines.append(f"| {name} step (its log) | {1000 * seconds:.1f} ms |"
                         + " |" * (len(precisions) - 1))
        lines.append(f"| issue 14's goal, 0.67x the faster peer | "
                     f"{1000 * 0.67 * faster:.1f} ms |" + " |" * (len(precisions) - 1))
        cells = [f"{best[p] / faster:.2f}x" for p in precisions]
        lines.append("| floor / faster peer | " + " | ".join(cells) + " |")
    flops = statistics.mean(next(iter(floors.values()))["flops"])
    lines.append(f"\nMatmul FLOPs of a tower's step: {flops / 1e9:.2f} GFLOP.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--precision", nargs="+", choices=("float32", "bfloat16"),
                        default=["float32", "bfloat16"])
    parser.add_argument("--step-results", help="a training_step.py results.json")
    parser.add_argument("--peers", help="a ../shared/peers/bench.sh output folder")
    parser.add_argument("--output", default=os.path.join(
        ROOT, "benchmarks", "results", "training_ceiling"))
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rows, threads = args.child
        print(json.dumps(_child(rows, threads, args.steps, args.precision)))
        return 0
    from training_step import peer_steps  # noqa: PLC0415 (this script's folder)

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    floors = {label: run_child(rows, threads, args.steps, args.precision)
              for label, (rows, threads) in LAYOUTS.items()}
    measured = measured_steps(args.step_results) if args.step_results else {}
    peers = peer_steps(args.peers) if args.peers else {}
    text = table(floors, args.precision, measured, peers)
    print(text)
    os.makedirs(args.output, exist_ok=True)
    arguments = argv if argv is not None else sys.argv[1:]
    record = {"started": started,
              "command": ["python", "benchmarks/training_ceiling.py", *arguments],
              "floors": floors, "measured_step_s": measured, "peers_step_s": peers}
    with open(os.path.join(args.output, "results.json"), "w", encoding="utf-8") as out:
        json.dump(record, out, indent=1)
    lines = [f"Started {started}.", "", text, "", "Seconds a step by product "
             "(mean over the batches), two towers, float32 where timed:", ""]
    products = floors[next(iter(LAYOUTS))]["products"]
    precision = "float32" if "float32" in products else next(iter(products))
    for name, seconds in list(products[precision].items())[:20]:
        lines.append(f"- {name}: {1000 * seconds:.2f} ms")
    with open(os.path.join(args.output, "results.md"), "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
