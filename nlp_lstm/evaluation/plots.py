"""Plots a person would rather look at than read: training curves, attention
heatmaps and tagging confusion matrices, as PNG files (matplotlib, Agg).

Each function draws one figure whose size follows its input (more pieces,
tags or evaluations give a larger figure, within bounds) and writes it
atomically; it returns the path written.
"""

from __future__ import annotations

import collections
import io
import os

import numpy as np

from nlp_lstm.utils.files import atomic_write_bytes

DPI = 100


def _pyplot():
    # Imported when drawing: the Agg backend needs no display, and importing
    # matplotlib costs about a second that commands without plots skip.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path


# What the trainer's history calls each validation metric, for the axis labels.
METRIC_LABELS = {
    "val_bleu": "validation BLEU",
    "val_f1": "validation entity F1",
    "val_accuracy": "validation accuracy",
}


def training_curves(history: list[dict], path: str, title: str = "") -> str:
    """Loss (training and validation) and the validation metric against
    steps (left) and training wall time (right).

    Args:
        history: the trainer's evaluations: dicts with `step`, `train_loss`,
            `val_loss`, the metric (`val_bleu`, `val_f1` or `val_accuracy`)
            and `train_seconds` (runs older than that key draw steps only).
        path: str. The PNG to write.
        title: str. Shown above the plots.
    """
    if not history:
        raise ValueError(
            "the training history is empty: a run logs one evaluation every "
            "training.eval_every steps; train past the first one"
        )
    plt = _pyplot()
    metrics = [name for name in METRIC_LABELS if name in history[0]]
    timed = all("train_seconds" in entry for entry in history)
    axes_x = [("step", "training steps")]
    minutes = timed and history[-1]["train_seconds"] >= 120
    if timed:
        unit = "minutes" if minutes else "seconds"
        axes_x.append(("train_seconds", f"training wall time ({unit})"))
    rows = 1 + bool(metrics)
    figure, axes = plt.subplots(
        rows, len(axes_x), figsize=(5.5 * len(axes_x), 3.2 * rows), squeeze=False
    )
    for column, (key, label) in enumerate(axes_x):
        x = np.array([entry[key] for entry in history], dtype=float)
        if key == "train_seconds" and minutes:
            x = x / 60.0
        loss_axis = axes[0][column]
        for name, style in (("train_loss", "o-"), ("val_loss", "s-")):
            if name in history[0]:
                loss_axis.plot(x, [entry[name] for entry in history], style,
                               label=name.replace("_", " "))
        loss_axis.set_ylabel("loss")
        loss_axis.legend()
        for name in metrics:
            axes[1][column].plot(x, [entry[name] for entry in history], "o-",
                                 color="tab:green")
            axes[1][column].set_ylabel(METRIC_LABELS[name])
        for row in range(rows):
            axes[row][column].set_xlabel(label)
            axes[row][column].grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def run_plots(run_dir: str, name: str, history: list[dict]) -> tuple[str, list]:
    """`(folder, paths)`: a run folder's `plots/` (made if needed) and the
    training curves drawn into it when the run logged evaluations."""
    folder = os.path.join(run_dir, "plots")
    os.makedirs(folder, exist_ok=True)
    paths = []
    if history:
        paths.append(
            training_curves(history, os.path.join(folder, "training.png"), name)
        )
    return folder, paths


def attention_heatmap(source_pieces: list[str], target_pieces: list[str],
                      weights, path: str, title: str = "") -> str:
    """The attention weights of one translation: a row per target piece, a
    column per source piece, darker where the decoder looked.

    Args:
        source_pieces: the source's pieces (with `</s>`), the columns.
        target_pieces: the output's pieces (with `</s>` when it ended), the rows.
        weights: array `(len(target_pieces), len(source_pieces))`.
        path: str. The PNG to write.
        title: str. Shown above the heatmap (the sentence, say).
    """
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(target_pieces), len(source_pieces)):
        raise ValueError(
            f"weights have shape {weights.shape} but there are "
            f"{len(target_pieces)} target and {len(source_pieces)} source pieces"
        )
    plt = _pyplot()
    # About a third of an inch a piece, within bounds.
    width = min(max(3.0, 0.35 * len(source_pieces) + 1.5), 30.0)
    height = min(max(2.5, 0.3 * len(target_pieces) + 1.2), 30.0)
    figure, axis = plt.subplots(figsize=(width, height))
    image = axis.imshow(weights, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    axis.set_xticks(range(len(source_pieces)), source_pieces, rotation=90)
    axis.set_yticks(range(len(target_pieces)), target_pieces)
    axis.set_xlabel("source pieces")
    axis.set_ylabel("output pieces")
    figure.colorbar(image, ax=axis, fraction=0.04, pad=0.02)
    if title:
        axis.set_title(title, fontsize=9, wrap=True)
    return _save(figure, path)


def _tag_order(tag: str):
    """Entity tags by type, then B, I, E, S (L, U); `O` last; POS tags by name."""
    prefix, _, kind = tag.partition("-")
    if not kind:
        return (tag == "O", tag, 0)
    return (False, kind, "BIESLU".find(prefix))


def confusion_counts(gold: list[list[str]], predicted: list[list[str]]):
    """`(labels, counts)`: the tags seen (gold or predicted, sorted with `O`
    last) and the `(gold, predicted)` count matrix."""
    pairs = collections.Counter(
        (g, p)
        for gold_tags, predicted_tags in zip(gold, predicted, strict=True)
        for g, p in zip(gold_tags, predicted_tags, strict=True)
    )
    labels = sorted({tag for pair in pairs for tag in pair}, key=_tag_order)
    index = {tag: i for i, tag in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for (g, p), count in pairs.items():
        counts[index[g], index[p]] = count
    return labels, counts


def confusion_matrix(gold: list[list[str]], predicted: list[list[str]],
                     path: str, title: str = "") -> str:
    """Token-level confusion matrix of a tagger: rows are gold tags, columns
    predicted ones, each row normalized (its share of the gold tag) and
    annotated with the count.

    Args:
        gold, predicted: tags per sentence, in one scheme, same lengths.
        path: str. The PNG to write.
        title: str. Shown above the matrix.
    """
    labels, counts = confusion_counts(gold, predicted)
    if not labels:
        raise ValueError("no tokens to count: gold and predicted are empty")
    plt = _pyplot()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(max(3.5, 0.55 * len(labels) + 2.0), 30.0)
    figure, axis = plt.subplots(figsize=(side, side))
    axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axis.set_xticks(range(len(labels)), labels, rotation=90)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    if len(labels) <= 40:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if counts[i, j]:
                    axis.text(j, i, str(counts[i, j]), ha="center", va="center",
                              fontsize=7,
                              color="white" if shares[i, j] > 0.5 else "black")
    if title:
        axis.set_title(title)
    return _save(figure, path)


def time_to_quality(rows: list[dict], peers: dict, target: float, path: str) -> str:
    """Test BLEU of a run's checkpoints against training seconds, with each
    peer's time for its steps as a point at the score it reaches (`target`).

    Args:
        rows: dicts with `train_seconds` and `bleu`, by step.
        peers: `{name: seconds}`.
        target: float. The peers' score, drawn as a horizontal line.
        path: str. The PNG to write.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot([r["train_seconds"] for r in rows], [r["bleu"] for r in rows],
              marker="o", label="nlp_lstm (its checkpoints)")
    for name, seconds in peers.items():
        axes.plot([seconds], [target], marker="s", linestyle="none", label=name)
    axes.axhline(target, color="grey", linewidth=0.8, linestyle="--")
    axes.set_xlabel("training seconds")
    axes.set_ylabel("test BLEU")
    axes.legend(fontsize=8)
    return _save(figure, path)
