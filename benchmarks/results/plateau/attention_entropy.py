"""One-off diagnosis of the early plateau (issue 14): for each kept
checkpoint of a Multi30k run, the decoder's attention under teacher forcing on
the first N dev pairs: its entropy as a share of the uniform distribution's
(1.0: the decoder reads the mean of the source), the mean largest weight, and
the dev loss; how often the largest weight is on the source's EOS or its
first piece. Usage: python attention_entropy.py RUN [RUN ...] [--n 300]"""

import argparse
import gzip
import json

import numpy as np
import tensorflow as tf

import nlp_lstm
from nlp_lstm.benchmarking.time_to_quality import kept_checkpoints
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.training.trainer import read_trained_weights


def read(path, n):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [next(f).strip() for _ in range(n)]


def batch(ids, pad):
    width = max(len(x) for x in ids)
    return np.array([x + [pad] * (width - len(x)) for x in ids], np.int32)


def measure(model, src, tgt_in, tgt_out):
    memory, mask, state = model.encode(src)
    keys = model.decoder.prepare(memory)
    embedded = model._target_embedding()(tgt_in)
    entropies, peaks, losses, on_eos, on_first = [], [], [], [], []
    lengths = tf.reduce_sum(tf.cast(mask, tf.float32), -1)  # (batch,)
    for t in range(tgt_in.shape[1]):
        attentional, state, weights = model.decoder.step(
            embedded[:, t], state, memory, keys, mask=mask
        )
        real = tgt_out[:, t] != model.pad_id
        w = tf.clip_by_value(weights, 1e-12, 1.0)
        entropy = -tf.reduce_sum(weights * tf.math.log(w), -1)
        uniform = tf.math.log(tf.maximum(lengths, 2.0))
        logits = model.logits(attentional)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(tgt_out[:, t], logits)
        entropies.append(tf.boolean_mask(entropy / uniform, real))
        peaks.append(tf.boolean_mask(tf.reduce_max(weights, -1), real))
        argmax = tf.cast(tf.argmax(weights, -1), tf.float32)
        on_eos.append(tf.boolean_mask(tf.cast(argmax == lengths - 1, tf.float32), real))
        on_first.append(tf.boolean_mask(tf.cast(argmax == 0, tf.float32), real))
        losses.append(tf.boolean_mask(loss, real))
    cat = lambda xs: float(tf.reduce_mean(tf.concat(xs, 0)))
    return cat(entropies), cat(peaks), cat(losses), cat(on_eos), cat(on_first)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    results = {}
    for run in args.runs:
        bundle = nlp_lstm.load(run)
        model, data = bundle.model, bundle.config.data
        source = sp.processor(bundle.tokenizers["source"])
        target = sp.processor(bundle.tokenizers["target"])
        src_lines = read(data.dev_source, args.n)
        tgt_lines = read(data.dev_target, args.n)
        src = batch([source.encode(s) + [model.eos_id] for s in src_lines], model.pad_id)
        tgt = [target.encode(s) for s in tgt_lines]
        tgt_in = batch([[model.bos_id] + x for x in tgt], model.pad_id)
        tgt_out = batch([x + [model.eos_id] for x in tgt], model.pad_id)
        rows = []
        for prefix in kept_checkpoints(run):
            info = read_trained_weights(prefix, model, bundle.config.training)
            entropy, peak, loss, eos, first = measure(model, src, tgt_in, tgt_out)
            rows.append({"step": info["step"], "entropy_share": round(entropy, 3),
                         "max_weight": round(peak, 3), "dev_loss": round(loss, 3),
                         "argmax_on_eos": round(eos, 3), "argmax_on_first": round(first, 3)})
            print(run, rows[-1], flush=True)
        results[run] = rows
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
