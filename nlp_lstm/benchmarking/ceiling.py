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

from nlp_lstm.benchmarking.flops import GATES, translator_forward_flops

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


def _with_gradients(name: str, rows: int, inner: int, outer: int, count: int,
                    gradient_rows: int) -> list[tuple]:
    """A forward product `(rows, inner) @ (inner, outer)` run `count` times,
    and its two gradients: the inputs' (`(rows, outer) @ (outer, inner)`,
    as often) and the weights' (`(inner, gradient_rows) @ (gradient_rows,
    outer)` once: the package's loops sum a weight's gradient over all steps
    in one product, `gradient_rows = rows * count`)."""
    return [
        (name, rows, inner, outer, count),
        (f"{name}, input gradient", rows, outer, inner, count),
        (f"{name}, weight gradient", inner, gradient_rows, outer, 1),
    ]


def translator_training_products(model, batch: int, source_steps: int,
                                 target_steps: int,
                                 target_tokens: int | None = None) -> list[tuple]:
    """The matmuls of one training step of a `Translator` on a padded batch,
    as the package computes them: `(name, rows, inner, outer, count)`, each
    `(rows, inner) @ (inner, outer)` run `count` times.

    The encoder's layers project every step's inputs in one product per
    direction and multiply the states step by step; the decoder's first layer
    projects the target embeddings in one product and multiplies `[fed
    attentional vector; h]` step by step, its upper layers `[input; h]`; the
    attention's scores and context are element-wise products and sums
    (`decoder_loop`), not matmuls, and are left out. The loss projects only
    the `target_tokens` real target positions onto the vocabulary
    (`losses.translator_loss`; None: every padded position). Their FLOPs
    sum to `translator_training_flops` (given the same `target_tokens`) less
    three times the attention's scores and context."""
    b, s, t = batch, source_steps, target_steps
    embedding = int(model.source_embedding.output_dim)
    encoder, bridge, decoder = model.encoder, model.bridge, model.decoder
    if decoder.attention not in ("luong_general", "luong_dot"):
        raise ValueError(
            f"the products are listed for Luong attention, got {decoder.attention!r}"
        )
    enc_gates = GATES[encoder.cell] * encoder.units
    dec_gates = GATES[decoder.cell] * decoder.units
    units, memory = decoder.units, 2 * encoder.units
    products = []
    for layer in range(encoder.num_layers):
        width = embedding if layer == 0 else memory
        for direction in ("forward", "backward"):
            name = f"encoder {layer + 1} {direction}"
            products += _with_gradients(
                f"{name} inputs", b * s, width, enc_gates, 1, b * s
            )
            products += _with_gradients(
                f"{name} recurrent", b, encoder.units, enc_gates, s, b * s
            )
    if bridge.kind == "dense":
        states = bridge.num_layers * (1 if bridge.cell == "gru" else 2)
        for state in range(states):  # one kernel per state
            products += _with_gradients(
                f"bridge {state + 1}", b, memory, bridge.units, 1, b
            )
    if decoder.attention == "luong_general":
        products += _with_gradients("attention keys", b * s, memory, units, 1, b * s)
    products += _with_gradients(
        "decoder 1 embeddings", b * t, embedding, dec_gates, 1, b * t
    )
    for layer in range(decoder.num_layers):
        fed = units if layer > 0 or decoder.input_feeding else 0
        products += _with_gradients(
            f"decoder {layer + 1} step", b, fed + units, dec_gates, t, b * t
        )
    products += _with_gradients(
        "attentional vector", b, memory + units, units, t, b * t
    )
    projection = model.output_projection
    vocab = int(projection.vocab_size)
    scored = b * t if target_tokens is None else target_tokens
    width = units
    if projection.tied:
        target_embedding = model.target_embedding or model.source_embedding
        width = int(target_embedding.output_dim)
        if width != units:
            products += _with_gradients(
                "pre-projection", scored, units, width, 1, scored
            )
    products += _with_gradients(
        "output projection", scored, width, vocab, 1, scored
    )
    return products


def products_flops(products) -> int:
    """FLOPs of `(name, rows, inner, outer, count)` products."""
    return sum(2 * rows * inner * outer * count
               for _, rows, inner, outer, count in products)


def product_seconds(rows: int, inner: int, outer: int, dtype=tf.float32,
                    copies: int = 16, repeats: int = 5) -> float:
    """Seconds of one `(rows, inner) @ (inner, outer)` in `dtype` on the
    threads TensorFlow was configured with, in the faster of its two
    layouts (`a @ b`, or `b.T @ a.T` with both operands stored transposed):
    `copies` independent products over different weights in one graph (no
    casts, no other op), best of `repeats` runs, divided by `copies`."""
    generator = tf.random.Generator.from_seed(0)
    inputs = tf.cast(generator.normal((rows, inner)), dtype)
    weights = [tf.cast(generator.normal((inner, outer)), dtype)
               for _ in range(copies)]

    @tf.function(autograph=False)
    def plain(x, ws):  # a @ b
        return [tf.matmul(x, w) for w in ws]

    @tf.function(autograph=False)
    def swapped(x_t, ws_t):  # b.T @ a.T, the product transposed
        return [tf.matmul(w_t, x_t) for w_t in ws_t]

    layouts = (
        (plain, inputs, weights),
        (swapped, tf.transpose(inputs), [tf.transpose(w) for w in weights]),
    )
    best = float("inf")
    for run, x, ws in layouts:
        run(x, ws)[-1].numpy()  # traced and warmed up
        for _ in range(repeats):
            began = time.perf_counter()
            outputs = run(x, ws)
            outputs[-1].numpy()
            best = min(best, time.perf_counter() - began)
    return best / copies
