"""Time to quality: the test score of every checkpoint a translation run kept,
against the training seconds at which it was written, and the time a peer
needs for its steps at the throughput it logged in the same sitting.

A run keeps every checkpoint when trained with `training.keep_checkpoints`
at least `training.steps / training.checkpoint_every`. The training seconds
are the trainer's own (`elapsed` in the checkpoint: training steps only, not
validation), the time the peers' runs, which validate nothing, also count.
"""

from __future__ import annotations

import glob
import os
import time

from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.training.trainer import read_trained_weights


def kept_checkpoints(run_dir: str) -> list[str]:
    """The run's checkpoint prefixes, by step."""
    indexes = glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.index"))
    prefixes = [path[: -len(".index")] for path in indexes]
    return sorted(prefixes, key=lambda path: int(path.rsplit("-", 1)[1]))


def checkpoint_scores(bundle, run_dir: str, sources: list[str],
                      references: list[str], beam_size: int) -> list[dict]:
    """Loads each kept checkpoint's weights into `bundle.model` and scores its
    translations of `sources`: `[{step, train_seconds, bleu, chrf}]` by step."""
    prefixes = kept_checkpoints(run_dir)
    if not prefixes:
        raise FileNotFoundError(
            f"{run_dir}/checkpoints holds no checkpoint: give a translation run "
            "folder trained with training.keep_checkpoints >= "
            "training.steps / training.checkpoint_every"
        )
    rows = []
    for prefix in prefixes:
        read = read_trained_weights(prefix, bundle.model, bundle.config.training)
        start = time.perf_counter()
        hypotheses = bundle.translate(sources, beam_size=beam_size)
        scores = corpus_scores(hypotheses, references)
        rows.append(
            {
                "step": read["step"],
                "train_seconds": round(read["train_seconds"], 1),
                "bleu": scores["bleu"],
                "chrf": scores["chrf"],
                "decode_seconds": round(time.perf_counter() - start, 1),
            }
        )
    return rows


def seconds_to_reach(rows: list[dict], target: float) -> float | None:
    """Training seconds of the first checkpoint scoring at least `target`
    BLEU (None: none does)."""
    for row in rows:
        if row["bleu"] >= target:
            return row["train_seconds"]
    return None


def peer_seconds(summary: dict, steps: int) -> dict:
    """A peer's time for `steps` training steps at the throughput its own log
    gave in `summary` (`bench.sh`'s `summary.json`, one row a peer):
    `{peer: seconds}`. Steady-state step time = batch x tokens per pair /
    the peer's own tokens per second."""
    tokens_per_step = summary["batch"] * summary["tokens_per_pair"]
    return {
        row["peer"]: steps * tokens_per_step / row["tok_s_peer"]
        for row in summary["rows"]
        if row.get("tok_s_peer")
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| step | training s | BLEU | chrF |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {row['step']} | {row['train_seconds']:.0f} | {row['bleu']:.2f} "
        f"| {row['chrf']:.2f} |"
        for row in rows
    ]
    return "\n".join(lines)
