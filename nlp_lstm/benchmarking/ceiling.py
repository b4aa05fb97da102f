"""How fast decoding could be on this machine: the matmul-only ceiling of a
translator's greedy search, the arithmetic precisions TensorFlow offers here,
and the start-up floor of a TensorFlow process (issue 13).

The ceiling counts the forward FLOPs of each test sentence as it is decoded
(its source tokens through the encoder, one decoder step per output token and
EOS: `flops.translator_forward_flops`) and divides the matmul rate of the
decoding shapes by it: the sentences/s a search would reach if everything
but its matmuls took no time and every step ran full batches. The measured
rate of the package's greedy search on the same sentences, on one thread,
says how far it is from there.
"""

from __future__ import annotations

import subprocess
import sys
import time

import tensorflow as tf

from nlp_lstm.benchmarking.flops import translator_forward_flops

# One thread a call, as `nlp-lstm translate` runs each batch.
THREADS = 1


def matmul_rate(rows: int, inner: int, outer: int, dtype, chain: int = 20,
                repeats: int = 3) -> float:
    """GFLOP/s of `(rows, inner) @ (inner, outer)` in `dtype`, the weights
    cast once and the activations cast every call (as a mixed-precision
    step would), chained so that no call can be skipped; best of `repeats`."""
    generator = tf.random.Generator.from_seed(0)
    weights = tf.cast(generator.normal((inner, outer)) / inner**0.5, dtype)
    start = generator.normal((rows, inner))

    @tf.function(autograph=False)
    def chained(x):
        total = tf.constant(0.0)
        for _ in range(chain):
            y = tf.cast(tf.matmul(tf.cast(x, dtype), weights), tf.float32)
            total += y[0, 0]
            x = x + 1e-6 * total
        return total

    chained(start).numpy()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        chained(start).numpy()
        best = min(best, time.perf_counter() - began)
    return 2 * rows * inner * outer * chain / best / 1e9


def decoding_shapes(model, rows: int) -> dict:
    """The matmuls of one greedy step at `rows` rows: `{name: (rows, inner,
    outer)}` (the first decoder cell reads the embedding and, with input
    feeding, the previous attentional vector, then its own state)."""
    decoder = model.decoder
    gates = 3 if decoder.cell == "gru" else 4
    embedding = int(model.source_embedding.output_dim)
    first = embedding + (decoder.units if decoder.input_feeding else 0)
    vocab = int(model.output_projection.vocab_size)
    return {
        "output projection": (rows, embedding, vocab),
        "first decoder cell": (rows, first + decoder.units, gates * decoder.units),
        "upper decoder cell": (rows, 2 * decoder.units, gates * decoder.units),
    }


def sentence_flops(model, source_lengths, output_lengths) -> list[int]:
    """Forward FLOPs of each sentence as decoded: the source with its EOS,
    one decoder step per output token and one for EOS."""
    return [
        translator_forward_flops(model, (1, source + 1), (1, output + 1))["total"]
        for source, output in zip(source_lengths, output_lengths, strict=True)
    ]


def ceiling_rate(model, rates: dict, flops_per_sentence: float, rows: int) -> float:
    """Sentences/s on one thread if a sentence took only its FLOPs at the
    step's matmul rate (`rates`: GFLOP/s per `decoding_shapes` name, the
    rate of the whole step being their FLOP-weighted harmonic mean)."""
    shapes = decoding_shapes(model, rows)
    work = {name: r * i * o for name, (r, i, o) in shapes.items()}
    seconds_per_flop = sum(work[name] / (rates[name] * 1e9) for name in work)
    seconds_per_flop /= sum(work.values())
    return 1.0 / (flops_per_sentence * seconds_per_flop)


def tensorflow_start_up() -> dict:
    """Seconds and resident MB of importing TensorFlow in a fresh process,
    as `nlp-lstm translate` does (`runtime.import_tensorflow`: no Keras)."""
    code = (
        "import os, time\n"
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "from nlp_lstm.export import runtime\n"
        "start = time.perf_counter()\n"
        "runtime.import_tensorflow()\n"
        "seconds = time.perf_counter() - start\n"
        # VmHWM, as `measure.peak_rss_mb` reads it (importing that module
        # would import Keras first).
        "status = open('/proc/self/status').read()\n"
        "print(seconds, int(status.split('VmHWM:')[1].split()[0]) / 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    seconds, rss = result.stdout.split()[-2:]
    return {"import_s": float(seconds), "peak_rss_mb": float(rss)}
