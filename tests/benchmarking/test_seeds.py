"""`benchmarks/seeds.py`: seeds with a report are not trained again, and the
summary is their mean and sample standard deviation."""

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "seeds.py")
CONFIG = os.path.join(REPO_ROOT, "pipelines", "configs", "tagging_wnut17.yaml")


def _report(folder, f1, dev):
    os.makedirs(folder)
    with open(os.path.join(folder, "report.json"), "w") as stream:
        json.dump({"f1": f1, "accuracy": 90.0, "best_validation": dev,
                   "steps": 100, "train_seconds": 5.0}, stream)


def test_existing_runs_are_summarized_without_training(tmp_path):
    _report(tmp_path / "seed_1", 30.0, 40.0)
    _report(tmp_path / "seed_2", 34.0, 42.0)
    result = subprocess.run(
        [sys.executable, SCRIPT, "--config", CONFIG, "--seeds", "1", "2",
         "--output", str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    summary = json.loads((tmp_path / "seeds.json").read_text())
    assert summary["metric"] == "f1"  # an entity F1 before the token accuracy
    assert summary["test"]["mean"] == pytest.approx(32.0)
    assert summary["test"]["std"] == pytest.approx(2.8284, abs=1e-3)
    assert summary["dev"]["mean"] == pytest.approx(41.0)
    assert [row["seed"] for row in summary["rows"]] == [1, 2]
    assert "32.00 +- 2.83" in result.stdout
    assert (tmp_path / "seeds.md").read_text() in result.stdout
    assert not (tmp_path / "seed_1" / "pipeline.log").exists()


def test_one_seed_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, SCRIPT, "--config", CONFIG, "--seeds", "1", "1",
         "--output", str(tmp_path)], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "at least two different seeds" in result.stderr


def test_a_failed_seed_names_its_log(tmp_path):
    _report(tmp_path / "seed_1", 30.0, 40.0)
    result = subprocess.run(
        [sys.executable, SCRIPT, "--config", CONFIG, "--seeds", "1", "2",
         "--output", str(tmp_path), "--set", "training.steps=-1"],
        capture_output=True, text=True, timeout=300,
    )
    log = tmp_path / "seed_2" / "pipeline.log"
    assert result.returncode != 0
    assert f"seed 2 failed (exit 2): see the end of {log}" in result.stderr
    assert "training.steps" in log.read_text()
    assert not (tmp_path / "seeds.json").exists()


def test_translation_reports_are_summarized_by_bleu(tmp_path):
    for seed, bleu in ((1, 40.0), (2, 44.0), (3, 42.0)):
        os.makedirs(tmp_path / f"seed_{seed}")
        # Seed 3's report is of the older form, which named the steps
        # `train_steps`.
        steps = "train_steps" if seed == 3 else "steps"
        with open(tmp_path / f"seed_{seed}" / "report.json", "w") as stream:
            json.dump({"bleu": bleu, "chrf": 60.0, "best_validation": 1.3,
                       steps: 4000, "train_seconds": 1200.0}, stream)
    config = os.path.join(REPO_ROOT, "pipelines", "configs",
                          "translation_tatoeba_es_en.yaml")
    subprocess.run(
        [sys.executable, SCRIPT, "--config", config, "--seeds", "1", "2", "3",
         "--output", str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    summary = json.loads((tmp_path / "seeds.json").read_text())
    assert summary["metric"] == "bleu"
    assert summary["test"]["mean"] == pytest.approx(42.0)
    assert [row["steps"] for row in summary["rows"]] == [4000] * 3
