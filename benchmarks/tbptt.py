"""Truncated BPTT against full BPTT as a document grows: step time and peak
memory of one training step of the CoNLL-2002 tagger (the config's size: char
BiLSTM, one BiLSTM layer of 100 units, CRF) on one document of 1k to 32k
tokens (CoNLL-2002 Dutch documents, read from ../shared/data, joined).

Each (mode, length) runs in a fresh process, so that its peak resident memory
(`ru_maxrss`) is its own: one warm-up step, then the timed steps. Run it alone
on the machine.

    python benchmarks/tbptt.py [--lengths 1000,2000,...] [--chunk 128] [--report]

Results: benchmarks/results/tbptt/ (results.json, results.md, tbptt.png).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "tbptt")
CONFIG = "pipelines/configs/tagging_conll2002_es.yaml"
CORPUS = os.path.join(REPO_ROOT, "..", "shared", "data", "conll2002", "ned.train")
LENGTHS = (1000, 2000, 4000, 8000, 16000, 32000)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, length: int, chunk: int, steps: int) -> dict:
    """One measurement, in this process."""
    import numpy as np
    import tensorflow as tf

    from nlp_lstm import config as config_lib
    from nlp_lstm.data.conll import join_documents, read_conll
    from nlp_lstm.models.tagger import build_tagger
    from nlp_lstm.text.tags import TagVocabulary
    from nlp_lstm.text.words import CharVocabulary, TokenFeaturizer, WordVocabulary
    from nlp_lstm.training import trainer
    from nlp_lstm.training.losses import tagger_loss
    from nlp_lstm.training.optimizers import build_optimizer
    from nlp_lstm.training.tbptt import TruncatedBPTT

    os.chdir(REPO_ROOT)
    config = config_lib.load(config_lib.TaggingConfig, CONFIG)
    trainer.set_seed(config.training.seed)
    documents = join_documents(read_conll(CORPUS, 0, -1))
    tokens = [t for d in documents for t in d.tokens][:length]
    tags = [t for d in documents for t in d.tags][:length]
    words = WordVocabulary.build([tokens], min_frequency=1)
    chars = CharVocabulary.build([tokens], max_word_chars=20)
    tag_vocabulary = TagVocabulary.build([tags], scheme="iob2")
    featurizer = TokenFeaturizer(words, chars)
    model = build_tagger(config.model, tag_vocabulary, words.size, chars.size)
    model.build()
    optimizer = build_optimizer(config.training)
    optimizer.build(model.trainable_variables)
    batch = (
        tf.constant([tokens]),
        tf.constant([tag_vocabulary.encode(tags)], tf.int32),
    )
    gradient_fn = TruncatedBPTT(model, featurizer, chunk) if mode == "tbptt" else None
    step = trainer.make_train_step(
        model, optimizer, tagger_loss(featurizer), 1, gradient_fn=gradient_fn
    )
    setup_mb = _peak_mb()
    seconds = []
    for index in range(steps + 1):
        start = time.perf_counter()
        loss, _ = step(batch)
        loss = float(loss)
        if index:  # the first step traces
            seconds.append(time.perf_counter() - start)
    if not np.isfinite(loss):
        raise FloatingPointError(f"loss {loss}")
    return {
        "mode": mode,
        "tokens": len(tokens),
        "chunk": chunk if mode == "tbptt" else None,
        "step_seconds_median": float(np.median(seconds)),
        "tokens_per_second": len(tokens) / float(np.median(seconds)),
        "peak_rss_mb": _peak_mb(),
        "rss_before_first_step_mb": setup_mb,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "LENGTH"))
    parser.add_argument(
        "--report", action="store_true", help="only redraw from results.json"
    )
    args = parser.parse_args(argv)
    if args.report:
        with open(os.path.join(RESULTS, "results.json"), encoding="utf-8") as f:
            print(report(json.load(f)))
        return 0
    if args.child:
        mode, length = args.child[0], int(args.child[1])
        print(json.dumps(child(mode, length, args.chunk, args.steps)))
        return 0
    rows = []
    for length in map(int, args.lengths.split(",")):
        for mode in ("full", "tbptt"):
            command = [
                sys.executable,
                __file__,
                "--child",
                mode,
                str(length),
                "--chunk",
                str(args.chunk),
                "--steps",
                str(args.steps),
            ]
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode:
                row = {"mode": mode, "tokens": length, "error": done.stderr[-500:]}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(row, flush=True)
    results = {"chunk": args.chunk, "steps": args.steps, "config": CONFIG, "rows": rows}
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    print(report(results))
    return 0


def report(results: dict) -> str:
    lines = [
        f"# Truncated BPTT (chunk {results['chunk']}) against full BPTT",
        "",
        "One training step of the CoNLL-2002 tagger on one document "
        "(`python benchmarks/tbptt.py`; median of "
        f"{results['steps']} steps after a warm-up; peak RSS of a fresh process).",
        "",
        "| tokens | full: step s | full: s per 1k tokens | full: peak MB "
        "| tbptt: step s | tbptt: s per 1k tokens | tbptt: peak MB |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["mode"], r["tokens"]): r for r in results["rows"]}
    for length in sorted({r["tokens"] for r in results["rows"]}):
        cells = []
        for mode in ("full", "tbptt"):
            row = by.get((mode, length), {})
            if "error" in row or not row:
                cells += ["failed"] * 3
            else:
                seconds = row["step_seconds_median"]
                cells += [
                    f"{seconds:.2f}",
                    f"{1000 * seconds / row['tokens']:.3f}",
                    f"{row['peak_rss_mb']:,.0f}",
                ]
        lines.append(f"| {length:,} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n\n![step time and memory](tbptt.png)\n"
    with open(os.path.join(RESULTS, "results.md"), "w", encoding="utf-8") as f:
        f.write(text)
    _plot(results)
    return text


def _plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for mode in ("full", "tbptt"):
        rows = sorted(
            (r for r in results["rows"] if r["mode"] == mode and "error" not in r),
            key=lambda r: r["tokens"],
        )
        x = [r["tokens"] for r in rows]
        label = "full BPTT" if mode == "full" else f"TBPTT, chunk {results['chunk']}"
        per_1k = [1000 * r["step_seconds_median"] / r["tokens"] for r in rows]
        axes[0].plot(x, per_1k, marker="o", label=label)
        axes[1].plot(x, [r["peak_rss_mb"] for r in rows], marker="o", label=label)
    titles = ("training step seconds per 1k tokens", "peak RSS (MB)")
    for axis, title in zip(axes, titles):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("document tokens")
        axis.set_title(title)
        axis.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(RESULTS, "tbptt.png"), dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
