"""Plots are valid PNG files whose size follows their input."""

import struct

import numpy as np
import pytest

from nlp_lstm.evaluation import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """Width and height from the PNG header; fails on anything but a PNG."""
    data = open(path, "rb").read()
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR" and data.rstrip(b"\x00")[-8:-4] == b"IEND"
    return struct.unpack(">II", data[16:24])


def test_attention_heatmap_grows_with_the_sentences(tmp_path):
    sizes = []
    for source, target in ((4, 3), (20, 15)):
        weights = np.random.default_rng(0).dirichlet(np.ones(source), size=target)
        path = plots.attention_heatmap(
            [f"s{i}" for i in range(source)], [f"t{i}" for i in range(target)],
            weights, str(tmp_path / f"attention_{source}.png"), "a title",
        )
        sizes.append(png_size(path))
    assert sizes[1][0] > sizes[0][0] and sizes[1][1] > sizes[0][1]
    with pytest.raises(ValueError, match=r"weights have shape \(2, 2\) but there "
                                         "are 3 target and 2 source pieces"):
        plots.attention_heatmap(["a", "b"], ["x", "y", "z"], np.ones((2, 2)),
                                str(tmp_path / "bad.png"))
    assert not (tmp_path / "bad.png").exists()


def test_confusion_matrix_counts_and_grows_with_the_tags(tmp_path):
    gold = [["B-PER", "I-PER", "O"], ["B-LOC", "O"]]
    predicted = [["B-PER", "O", "O"], ["B-PER", "O"]]
    labels, counts = plots.confusion_counts(gold, predicted)
    assert labels == ["B-LOC", "B-PER", "I-PER", "O"]
    assert counts.sum() == 5 and counts[labels.index("O"), labels.index("O")] == 2
    assert counts[labels.index("B-LOC"), labels.index("B-PER")] == 1
    small = png_size(plots.confusion_matrix(gold, predicted,
                                            str(tmp_path / "small.png")))
    tags = [f"TAG{i}" for i in range(20)]
    many = [[tags[i % 20] for i in range(40)]]
    large = png_size(plots.confusion_matrix(many, many, str(tmp_path / "large.png")))
    assert large[0] > small[0] and large[1] > small[1]


def test_training_curves_draw_wall_time_when_logged(tmp_path):
    history = [
        {"step": s, "train_loss": 5.0 / s, "val_loss": 6.0 / s, "val_bleu": s / 10,
         "train_seconds": 30.0 * s}
        for s in (1, 2, 3)
    ]
    timed = png_size(plots.training_curves(history, str(tmp_path / "timed.png")))
    untimed_history = [{k: v for k, v in h.items() if k != "train_seconds"}
                       for h in history]
    steps_only = png_size(
        plots.training_curves(untimed_history, str(tmp_path / "steps.png"))
    )
    assert timed[0] > 1.5 * steps_only[0]  # a second column: wall time
    no_metric = [{k: v for k, v in h.items() if k != "val_bleu"} for h in history]
    loss_only = png_size(plots.training_curves(no_metric, str(tmp_path / "loss.png")))
    assert loss_only[1] < timed[1]  # one row: no validation metric
    with pytest.raises(ValueError, match="the training history is empty"):
        plots.training_curves([], str(tmp_path / "empty.png"))
