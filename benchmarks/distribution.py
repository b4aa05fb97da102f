"""Replicas and workers: measured speed on this machine, and scaling on paper.

    python benchmarks/distribution.py speed [--steps 30] [--rounds 3]
    python benchmarks/distribution.py scaling [--step-seconds S]

`speed` times the training step of the Multi30k en->de translator (embedding
256, BiLSTM 2 x 128, decoder 2 x 256, batch 64, joint vocabulary of 8,000;
the same batches for every mode) in a fresh process per mode: one tower,
two towers (`training.towers: 2`), and `training.distribution: mirrored` over
two logical CPU devices (the towers as tf.distribute replicas). It prints a
table and writes `benchmarks/results/distribution/speed.json`.

`scaling` computes, for the same model, the bytes a worker sends per step in
the ring all-reduce of `training.distribution: multi_worker` (every gradient
in float32: 2 (N - 1) / N times the parameters' bytes, and 2 (N - 1) latency
hops) and the step time on 1, 10 and 100 Gbit/s links for 2 to 64 workers,
with the measured one-worker step time (`speed.json`'s one-tower figure, or
`--step-seconds`) as the compute time: with the global batch fixed (strong
scaling, the same training as one process: each worker computes 1/N of it)
and with the batch per worker fixed (weak scaling: N times the examples per
step). Writes `scaling.json` and `scaling.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = os.path.join(ROOT, "pipelines/configs/translation_multi30k_en_de.yaml")
OUTPUT = os.path.join(ROOT, "benchmarks/results/distribution")
MODES = {
    "one tower": {"towers": 1, "distribution": "none"},
    "two towers": {"towers": 2, "distribution": "none"},
    "mirrored, 2 replicas": {"towers": 1, "distribution": "mirrored"},
}
WORKERS = (2, 4, 8, 16, 32, 64)
LINKS_GBIT = (1, 10, 100)
# Per hop of the ring: a TCP round trip in one data centre, about 50 us.
HOP_SECONDS = 50e-6
# Twice the workers "pay" while they give at least 10% more speed.
PAYING = 1.1


def _tokenizer(config, corpus):
    from nlp_lstm.text import sentencepiece as sp

    path = os.path.join(ROOT, "tokenizers/multi30k_en_de.model")
    if os.path.isfile(path):
        return sp.load_model(path)
    cached = os.path.join(OUTPUT, "tokenizer.model")
    if not os.path.isfile(cached):
        train = corpus["train"]
        model = sp.train_sentencepiece(
            list(train["source"]) + list(train["target"]),
            vocab_size=config.tokenizer.vocab_size,
        )
        os.makedirs(OUTPUT, exist_ok=True)
        sp.save_model(model, cached)
    return sp.load_model(cached)


def child(mode: str, steps: int) -> dict:
    """Times `steps` training steps in `mode` (run in its own process)."""
    from nlp_lstm import config as config_lib
    from nlp_lstm.training import distribute, trainer

    settings = MODES[mode]
    config = config_lib.load(
        config_lib.TranslationConfig, CONFIG,
        [f"training.towers={settings['towers']}",
         f"training.distribution={settings['distribution']}",
         "training.replicas=2"],
    )
    # Before TensorFlow's first op: logical devices, or the towers' threads.
    strategy, _ = distribute.setup(config.training)
    if strategy is None:
        trainer.configure_threads(trainer.resolve_towers(config.training.towers))
    from nlp_lstm.benchmarking.training import fixed_batches, translator_step_loss
    from nlp_lstm.data.parallel import load_parallel_corpus
    from nlp_lstm.models.translator import build_translator
    from nlp_lstm.text import sentencepiece as sp
    from nlp_lstm.training.optimizers import build_optimizer

    corpus, _ = load_parallel_corpus(config.data)
    processor = sp.processor(_tokenizer(config, corpus))
    batches = fixed_batches(config, corpus, processor, steps)
    loss_fn = translator_step_loss(config.training)
    with distribute.scope(strategy):
        model = build_translator(
            config.model, processor.vocab_size(), processor.vocab_size()
        )
        optimizer = build_optimizer(config.training)
        optimizer.build(model.trainable_variables)
        if strategy is None:
            step = trainer.make_train_step(
                model, optimizer, loss_fn, config.training.towers
            )
        else:
            step = trainer.make_distributed_step(strategy, model, optimizer, loss_fn, 1)
        for _ in range(2):  # every bucket shape traced first
            for batch in batches:
                step(batch)[0].numpy()
        start = time.perf_counter()
        for batch in batches:
            step(batch)[0].numpy()
        seconds = (time.perf_counter() - start) / len(batches)
    parameters = int(sum(v.numpy().size for v in model.trainable_variables))
    return {"mode": mode, "seconds_per_step": seconds, "parameters": parameters,
            "steps": len(batches)}


def speed(steps: int, rounds: int) -> list[dict]:
    """Each mode `rounds` times, the modes taking turns (machines of this
    kind drift by tens of percent); the median of each."""
    runs = {mode: [] for mode in MODES}
    parameters = None
    for _ in range(rounds):
        for mode in MODES:
            result = subprocess.run(
                [sys.executable, __file__, "child", "--mode", mode,
                 "--steps", str(steps)],
                capture_output=True, text=True, cwd=ROOT,
            )
            if result.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{result.stderr[-3000:]}")
            measured = json.loads(result.stdout.strip().splitlines()[-1])
            runs[mode].append(measured["seconds_per_step"])
            parameters = measured["parameters"]
    rows = [{"mode": mode, "seconds_per_step": statistics.median(times),
             "runs": times, "parameters": parameters, "steps": steps}
            for mode, times in runs.items()]
    base = rows[0]["seconds_per_step"]
    print("| mode | s / step (median) | runs | speed vs one tower |\n"
          "|---|---:|---|---:|")
    for row in rows:
        row["speedup"] = base / row["seconds_per_step"]
        runs_text = ", ".join(f"{t:.3f}" for t in row["runs"])
        print(f"| {row['mode']} | {row['seconds_per_step']:.3f} | {runs_text} | "
              f"{row['speedup']:.2f}x |")
    os.makedirs(OUTPUT, exist_ok=True)
    with open(os.path.join(OUTPUT, "speed.json"), "w", encoding="utf-8") as stream:
        json.dump(rows, stream, indent=2)
    return rows


def ring_seconds(parameters: int, workers: int, gbit: float) -> float:
    """Time of one ring all-reduce of `parameters` float32 gradients."""
    sent = 2 * (workers - 1) / workers * 4 * parameters  # bytes per worker
    return sent * 8 / (gbit * 1e9) + 2 * (workers - 1) * HOP_SECONDS


def scaling(step_seconds: float | None) -> list[dict]:
    speed_path = os.path.join(OUTPUT, "speed.json")
    measured = json.load(open(speed_path)) if os.path.isfile(speed_path) else None
    if measured is None:
        raise SystemExit(f"run `speed` first: {speed_path} not found")
    parameters = measured[0]["parameters"]
    compute = step_seconds or measured[0]["seconds_per_step"]
    rows = []
    for gbit in LINKS_GBIT:
        for workers in WORKERS:
            comm = ring_seconds(parameters, workers, gbit)
            strong = compute / workers + comm
            weak = compute + comm
            rows.append({
                "gbit": gbit, "workers": workers,
                "bytes_sent_per_worker": int(2 * (workers - 1) / workers * 4
                                             * parameters),
                "allreduce_seconds": comm,
                "strong_step_seconds": strong,
                "strong_speedup": compute / strong,
                "weak_examples_per_second_speedup": workers * compute / weak,
            })
    lines = [
        f"Model: {parameters:,} parameters = {4 * parameters / 2**20:.1f} MiB of "
        f"float32 gradients a step; one worker's step: {compute:.3f} s "
        "(measured, 2 CPU cores, batch 64).",
        "",
        "| link | workers | MB sent / worker / step | all-reduce s | fixed batch: "
        "step s | speedup | batch per worker fixed: speedup |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['gbit']} Gbit/s | {row['workers']} | "
            f"{row['bytes_sent_per_worker'] / 1e6:.1f} | "
            f"{row['allreduce_seconds']:.4f} | {row['strong_step_seconds']:.4f} | "
            f"{row['strong_speedup']:.1f}x | "
            f"{row['weak_examples_per_second_speedup']:.1f}x |"
        )
    for gbit in LINKS_GBIT:
        mine = {r["workers"]: r for r in rows if r["gbit"] == gbit}
        stop = next(
            (n for n in WORKERS[:-1]
             if mine[2 * n]["strong_speedup"] < PAYING * mine[n]["strong_speedup"]),
            None,
        )
        if stop is None:
            verdict = f"doubling still pays up to {WORKERS[-1]} workers"
        else:
            verdict = (f"it stops paying at {stop} workers "
                       f"({mine[stop]['strong_speedup']:.1f}x; twice as many "
                       f"give {mine[2 * stop]['strong_speedup']:.1f}x)")
        lines.append(f"\n{gbit} Gbit/s, fixed global batch: {verdict}.")
    text = "\n".join(lines)
    print(text)
    os.makedirs(OUTPUT, exist_ok=True)
    with open(os.path.join(OUTPUT, "scaling.json"), "w", encoding="utf-8") as stream:
        json.dump({"parameters": parameters, "compute_seconds": compute,
                   "hop_seconds": HOP_SECONDS, "rows": rows}, stream, indent=2)
    with open(os.path.join(OUTPUT, "scaling.md"), "w", encoding="utf-8") as stream:
        stream.write(text + "\n")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["speed", "scaling", "child"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=list(MODES))
    parser.add_argument("--step-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    if args.what == "child":
        print(json.dumps(child(args.mode, args.steps)))
    elif args.what == "speed":
        speed(args.steps, args.rounds)
    else:
        scaling(args.step_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
