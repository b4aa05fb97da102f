"""Which orientation TensorFlow's CPU matmul runs faster, on this machine, at
the shapes of the package's loops: `x @ kernel` against
`linear.times_transposed(x, kernel.T)` (`(kernel.T @ x.T).T`, the transpose
back included), one thread, a bias added after each (as the cells do).

    python benchmarks/matmul_orientation.py [--output DIR] [--repeats 4]

The decoder's LSTM cells (inference and training) multiply by their kernels
the second way (README, "The decoder's cells multiply by transposed
kernels"); the output projection and the projections over all steps stay the
first. Prints a table and writes `results.json` / `results.md` in `--output`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nlp_lstm.export import runtime  # noqa: E402
from nlp_lstm.layers import linear  # noqa: E402

# (rows, K, N, what multiplies so, the form the package uses)
SHAPES = (
    (64, 768, 1024, "first decoder cell, greedy (batch 64)", "transposed"),
    (320, 768, 1024, "first decoder cell, beam 5", "transposed"),
    (64, 512, 1024, "second decoder cell, greedy", "transposed"),
    (320, 512, 1024, "second decoder cell, beam 5", "transposed"),
    (1, 768, 1024, "first decoder cell, one sentence", "transposed"),
    (32, 512, 1024, "training decoder cell, one tower", "transposed"),
    (64, 256, 8000, "output projection, greedy", "plain"),
    (1024, 256, 1024, "encoder input projection, all steps", "plain"),
    (480, 256, 8000, "training output projection, all steps", "plain"),
)


def seconds_per_product(product, a, b, bias, repeats: int) -> float:
    """Best time of one `product(a, b) + bias` over `repeats` runs of a
    `tf.while_loop` that makes it with a different `a` every iteration."""
    flops = 2 * a.shape[0] * a.shape[1] * bias.shape[0]
    count = max(5, min(200, int(2e9 / flops)))

    @tf.function(autograph=False)
    def loop(a, b):
        def body(i, total):
            moved = a + tf.cast(i, tf.float32) * 1e-6
            out = tf.nn.bias_add(product(moved, b), bias)
            return i + 1, total + out[0, 0]

        return tf.while_loop(lambda i, _: i < count, body, (0, 0.0))[1]

    loop(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        loop(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return best / count


def measure(repeats: int) -> list[dict]:
    rows = []
    for m, k, n, what, used in SHAPES:
        a = tf.random.normal([m, k])
        kernel = tf.random.normal([k, n]) * 0.05
        bias = tf.zeros([n])
        plain = seconds_per_product(linear.matmul, a, kernel, bias, repeats)
        transposed = seconds_per_product(
            linear.times_transposed, a, tf.transpose(kernel), bias, repeats
        )
        rows.append({
            "rows": m, "k": k, "n": n, "what": what, "package_uses": used,
            "plain_ms": plain * 1e3, "transposed_ms": transposed * 1e3,
            "plain_gflops": 2 * m * k * n / plain / 1e9,
            "transposed_gflops": 2 * m * k * n / transposed / 1e9,
        })
    return rows


def table(rows) -> str:
    lines = [
        "| rows x K x N | what | `x @ kernel` ms (GFLOP/s) | "
        "`times_transposed` ms (GFLOP/s) | plain / transposed | package uses |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['rows']} x {row['k']} x {row['n']} | {row['what']} | "
            f"{row['plain_ms']:.3f} ({row['plain_gflops']:.1f}) | "
            f"{row['transposed_ms']:.3f} ({row['transposed_gflops']:.1f}) | "
            f"{row['plain_ms'] / row['transposed_ms']:.2f} | {row['package_uses']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", default="benchmarks/results/matmul_orientation"
    )
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)
    # One thread, as each batch of `nlp-lstm translate` runs (False when
    # TensorFlow already runs, e.g. under pytest: its threads then).
    one_thread = runtime.use_threads(1)
    rows = measure(args.repeats)
    text = table(rows)
    print(text)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "results.json"), "w") as stream:
        json.dump(
            {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M"),
             "tensorflow": tf.__version__, "one_thread": one_thread, "rows": rows},
            stream, indent=1,
        )
    with open(os.path.join(args.output, "results.md"), "w") as stream:
        stream.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
