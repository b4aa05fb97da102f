"""benchmarking.time_to_quality: the peers' times and the first checkpoint to
reach a score (the checkpoints' scores: tests/pipelines/test_translation.py)."""

import pytest

from nlp_lstm.benchmarking import time_to_quality as ttq


def test_peer_seconds_are_steps_at_the_logged_throughput():
    summary = {
        "batch": 64,
        "tokens_per_pair": 30.0,
        "rows": [
            {"peer": "OpenNMT-py", "tok_s_peer": 6000.0},
            {"peer": "broken", "tok_s_peer": None},
        ],
    }
    # 64 x 30 = 1,920 tokens a step, 0.32 s at 6,000 tokens/s.
    assert ttq.peer_seconds(summary, 6000) == {"OpenNMT-py": pytest.approx(1920.0)}


def test_seconds_to_reach_takes_the_first_checkpoint_at_or_above():
    rows = [
        {"step": 500, "train_seconds": 100.0, "bleu": 20.0},
        {"step": 1000, "train_seconds": 200.0, "bleu": 34.5},
        {"step": 1500, "train_seconds": 300.0, "bleu": 34.0},
    ]
    assert ttq.seconds_to_reach(rows, 34.44) == 200.0
    assert ttq.seconds_to_reach(rows, 20.0) == 100.0
    assert ttq.seconds_to_reach(rows, 40.0) is None
    assert "| 1000 | 200 | 34.50 |" in ttq.table(
        [dict(row, chrf=50.0) for row in rows]
    )


def test_a_run_without_checkpoints_is_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="keep_checkpoints"):
        ttq.checkpoint_scores(None, str(tmp_path), ["a"], ["b"], 1)
