"""Resume after a crash: a pipeline run killed with a real SIGKILL at a random
moment resumes from its latest checkpoint and finishes exactly like a run that
was never interrupted (same validation history, early stopping and test score).
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.training import trainer
from tests.helpers import REPO_ROOT

# A tiny POS tagger with dropout everywhere (so the random state must resume
# too), early stopping on validation accuracy and a checkpoint every 2 steps.
OVERRIDES = [
    "data.max_examples=60",
    "data.batch_size=8",
    "model.embedder.word_dim=16",
    "model.embedder.char_dim=8",
    "model.embedder.char_units=8",
    "model.encoder.units=16",
    "model.encoder.num_layers=1",
    "model.embedder.word_dropout=0.2",
    "training.schedule=inverse_sqrt",
    "training.warmup_steps=10",
    "training.steps=60",
    "training.eval_every=4",
    "training.checkpoint_every=2",
    "training.keep_checkpoints=2",
    "training.patience=6",
    "export.enabled=false",
    "card.plots=false",  # plots are tested in tests/pipelines
]
TAGGER = [
    "pipelines/tagging.py",
    "--config",
    "pipelines/configs/tagging_ud_ewt_upos.yaml",
]


def start(run_dir, extra=()):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    overrides = [*OVERRIDES, f"run_dir={run_dir}", *extra]
    command = [sys.executable, *TAGGER]
    for override in overrides:
        command += ["--set", override]
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def latest_step(run_dir):
    path = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return int(path.rsplit("-", 1)[1]) if path else 0


def kill_at_random_moment(process, run_dir, rng, last_step):
    """SIGKILLs `process` at a random moment: a random time (0 to 0.5 s) after
    it has checkpointed a random step past the latest one (up to `last_step`),
    so that the kill lands anywhere in a step, an evaluation or a save."""
    first = latest_step(run_dir) + 1
    target = rng.randrange(first, max(first + 1, last_step))
    deadline = time.monotonic() + 300
    while latest_step(run_dir) < target:
        assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, f"no checkpoint of step {target}"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.5))
    assert process.poll() is None, "the run finished before the kill"
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


def compare_reports(expected, actual):
    for key in ("steps", "stopped_early", "test_sentences", "accuracy"):
        assert actual[key] == expected[key], key
    np.testing.assert_allclose(
        actual["best_validation"], expected["best_validation"], rtol=1e-6
    )
    assert [h["step"] for h in actual["validation_history"]] == [
        h["step"] for h in expected["validation_history"]
    ]
    for mine, theirs in zip(
        actual["validation_history"], expected["validation_history"]
    ):
        np.testing.assert_allclose(mine["val_loss"], theirs["val_loss"], rtol=1e-6)
        assert mine["val_accuracy"] == theirs["val_accuracy"]
    np.testing.assert_allclose(actual["test_loss"], expected["test_loss"], rtol=1e-6)


def check_checkpoints(run_dir, keep):
    directory = os.path.join(run_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(directory)
    reader = tf.train.load_checkpoint(latest)  # complete and readable
    assert reader.get_variable_to_shape_map()
    indexes = [n for n in os.listdir(directory) if n.endswith(".index")]
    assert 1 <= len(indexes) <= keep, indexes
    assert not [n for n in os.listdir(directory) if n.endswith("_temp")]
    return latest


@pytest.mark.slow  # about 45 s: over the default run's budget (resume itself is
# also covered by tests/pipelines/test_translation.py, in the default run)
def test_run_killed_at_a_random_moment_resumes_and_matches_uninterrupted(tmp_path):
    seed = int(os.environ.get("RESUME_TEST_SEED", random.randrange(10**6)))
    print(f"kill moment seed: {seed} (rerun with RESUME_TEST_SEED={seed})")
    rng = random.Random(seed)
    reference = start(tmp_path / "reference")
    interrupted = start(tmp_path / "interrupted")
    kill_at_random_moment(interrupted, str(tmp_path / "interrupted"), rng, 24)
    finish(reference)
    killed_at = tf.train.latest_checkpoint(str(tmp_path / "interrupted/checkpoints"))
    output = finish(start(tmp_path / "interrupted"))
    step = int(killed_at.rsplit("-", 1)[1])
    assert f"Resumed from {killed_at} at step {step}" in output
    expected = json.loads((tmp_path / "reference/report.json").read_text())
    actual = json.loads((tmp_path / "interrupted/report.json").read_text())
    compare_reports(expected, actual)
    latest = check_checkpoints(str(tmp_path / "interrupted"), keep=2)
    assert latest.endswith(f"ckpt-{actual['steps']}")


@pytest.mark.slow
@pytest.mark.parametrize("kills", [3])
def test_run_survives_several_kills(tmp_path, kills):
    rng = random.Random(int(os.environ.get("RESUME_TEST_SEED", 7)))
    reference = start(tmp_path / "reference")
    finish(reference)
    run_dir = tmp_path / "interrupted"
    for _ in range(kills):
        kill_at_random_moment(start(run_dir), str(run_dir), rng, 24)
    finish(start(run_dir))
    compare_reports(
        json.loads((tmp_path / "reference/report.json").read_text()),
        json.loads((run_dir / "report.json").read_text()),
    )


def test_stale_checkpoint_files_are_pruned(tmp_path):
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    for name in (
        "ckpt-4.index",
        "ckpt-4.data-00000-of-00001",
        "ckpt-6.index",
        "ckpt-6.data-00000-of-00001",
        "ckpt-2.index",
        "ckpt-2.data-00000-of-00001",
        "checkpoint",
    ):
        (directory / name).write_text("x")
    (directory / "ckpt-8_temp").mkdir()
    (directory / "ckpt-8_temp" / "part-00000-of-00001.index").write_text("x")
    kept = [str(directory / "ckpt-4"), str(directory / "ckpt-6")]
    trainer.remove_stale_checkpoints(str(directory), kept)
    assert sorted(os.listdir(directory)) == [
        "checkpoint",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
        "ckpt-6.data-00000-of-00001",
        "ckpt-6.index",
    ]


def test_checkpoint_of_another_model_is_refused_with_advice(tmp_path):
    import keras

    def model(units):
        inputs = keras.Input((3,))
        return keras.Model(inputs, keras.layers.Dense(units)(inputs))

    first = model(2)
    tf.train.Checkpoint(model=first).write(str(tmp_path / "ckpt-1"))
    random_state = tf.train.Checkpoint(seed_states=[])
    with pytest.raises(ValueError, match="Resume with the config the run was started"):
        trainer.restore_checkpoint(
            str(tmp_path / "ckpt-1"), {"model": model(5)}, random_state
        )


def test_iterator_of_a_changed_data_pipeline_restarts_the_data_order(tmp_path):
    saved = tf.Variable(3.0)
    iterator = iter(tf.data.Dataset.range(10).shuffle(5, seed=1).repeat())
    next(iterator)
    path = tf.train.Checkpoint(model=saved, iterator=iterator).write(
        str(tmp_path / "ckpt-1")
    )
    model = tf.Variable(0.0)
    changed = iter(tf.data.Dataset.range(10).batch(2).prefetch(1))
    random_state = tf.train.Checkpoint(seed_states=[])
    with pytest.warns(UserWarning, match="the data iterator was not restored"):
        restored = trainer.restore_checkpoint(
            path, {"model": model, "iterator": changed}, random_state
        )
    assert not restored  # the trainer starts a new iterator
    assert float(model.numpy()) == 3.0  # the rest resumes


@pytest.fixture
def small_disk(tmp_path):
    """A 320 KiB tmpfs where the machine lets the tests mount one (a real
    ENOSPC from TensorFlow's writer), else None."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mount)],
        capture_output=True,
    )
    yield str(mount) if result.returncode == 0 else None
    if result.returncode == 0:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(
    small_disk, tmp_path, monkeypatch
):
    directory = small_disk or str(tmp_path / "checkpoints")
    variable = tf.Variable(tf.zeros([40_000]))  # 160 KB a checkpoint
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(v=variable), directory, max_to_keep=3
    )
    trainer.save_checkpoint(manager, 1)
    if small_disk is None:  # no tmpfs here: the write fails as a full disk does
        save = manager.save

        def full(checkpoint_number):
            os.makedirs(os.path.join(directory, f"ckpt-{checkpoint_number}_temp"))
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(manager, "save", full)
    variable.assign(tf.ones([40_000]))
    with pytest.raises(trainer.CheckpointError) as error:
        trainer.save_checkpoint(manager, 2)
    message = str(error.value)
    assert f"step 2 in {directory}" in message and "resumes from ckpt-1" in message
    assert not [name for name in os.listdir(directory) if "ckpt-2" in name]
    tf.train.Checkpoint(v=variable).restore(manager.latest_checkpoint)
    assert manager.latest_checkpoint.endswith("ckpt-1")
    assert float(tf.reduce_sum(variable)) == 0.0
    if small_disk is None:
        monkeypatch.setattr(manager, "save", save)


def test_a_run_resumes_from_an_index_written_without_timestamps(tmp_path):
    """An index rewritten to resume from an earlier checkpoint (by hand, or with
    `tf.compat.v1.train.update_checkpoint_state`, which writes no timestamps):
    the run resumes from that checkpoint instead of pruning every listed one."""
    import keras

    from nlp_lstm import config as config_lib
    from nlp_lstm.training.optimizers import build_optimizer

    run_dir = tmp_path / "run"

    def train(steps):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        dataset = tf.data.Dataset.from_tensor_slices(
            np.ones((8, 4, 3), "float32")
        ).repeat()
        config = config_lib.TrainingConfig(
            steps=steps, eval_every=1, checkpoint_every=1, keep_checkpoints=10,
            early_stopping_metric="none",
        )
        optimizer = build_optimizer(config)
        trainer.train(
            model, optimizer,
            lambda m, batch, training: (tf.reduce_mean(tf.square(m(batch))), 4.0),
            dataset, lambda model: {}, config, str(run_dir), verbose=0,
        )
        return optimizer

    train(4)
    directory = run_dir / "checkpoints"
    listed = [str(directory / f"ckpt-{step}") for step in (1, 2)]
    tf.compat.v1.train.update_checkpoint_state(
        str(directory), listed[-1], all_model_checkpoint_paths=listed
    )
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    optimizer = train(3)
    assert int(optimizer.iterations.numpy()) == 3
    # Steps 1-2 come from the listed checkpoint; step 3 was trained again.
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3]
    names = os.listdir(directory)
    assert "ckpt-1.index" in names and "ckpt-2.index" in names
