"""Multi-worker training on tf.distribute: two worker processes on localhost
train the weights one process trains on the same global batches, only the
chief writes, and a worker without its peers fails naming them."""

import gzip
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from nlp_lstm import config as config_lib
from nlp_lstm.training import distribute
from tests.helpers import REPO_ROOT, copy_lines

# A tiny translator without dropout (the replicas' masks would differ from
# one process's), a few steps, a small test set.
TINY = [
    "data.dev_size=20", "data.test_size=4", "data.max_examples=200",
    "data.batch_size=16", "tokenizer.vocab_size=400", "decoding.beam_size=1",
    "training.steps=4", "training.eval_every=4", "training.checkpoint_every=4",
    "training.towers=1", "model.embedding_dim=16", "model.encoder.units=8",
    "model.decoder.units=16", "model.encoder.dropout=0", "model.decoder.dropout=0",
    "card.plots=false",
]

WORKER = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
from nlp_lstm import config as config_lib
from nlp_lstm.pipelines.translation import run

config = config_lib.load(
    config_lib.TranslationConfig,
    "pipelines/configs/translation_tatoeba_es_en.yaml",
    json.loads(sys.argv[1]),
)
report = run(config, verbose=0)
print(json.dumps({"bleu": report["bleu"], "history": report["history"]}))
"""


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def overrides(root, name, extra=()):
    return [
        f"data.path={root / 'pairs.tsv.gz'}", *TINY,
        f"run_dir={root / name / 'run'}",
        f"export.directory={root / name / 'saved_models'}",
        f"tokenizer.directory={root / name / 'tokenizers'}", *extra,
    ]


def start_worker(arguments, temporary):
    env = dict(os.environ, TMPDIR=str(temporary), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(arguments)], cwd=REPO_ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def weights(run_dir):
    from nlp_lstm.bundle import load_bundle

    return load_bundle(str(run_dir)).model.get_weights()


def test_two_workers_train_the_weights_of_one_process(tmp_path):
    copy_lines(os.path.join(REPO_ROOT, "data/tatoeba_spa_eng/spa.txt.gz"),
               tmp_path / "pairs.tsv.gz", 1000, gzip.open)
    ports = free_ports(2)
    workers = "[" + ",".join(f"localhost:{port}" for port in ports) + "]"
    temporaries = [tmp_path / f"tmp{index}" for index in range(2)]
    processes = []
    for index, temporary in enumerate(temporaries):
        temporary.mkdir()
        processes.append(start_worker(
            overrides(tmp_path, "multi", [
                "training.distribution=multi_worker",
                f"training.cluster.workers={workers}",
                f"training.cluster.index={index}",
                "training.cluster.timeout_seconds=120",
            ]),
            temporary,
        ))
    # Meanwhile, the same config in this process, without distribution.
    from nlp_lstm.pipelines.translation import run

    single = run(
        config_lib.load(
            config_lib.TranslationConfig,
            os.path.join(REPO_ROOT, "pipelines/configs/translation_tatoeba_es_en.yaml"),
            overrides(tmp_path, "single", ["export.enabled=false"]),
        ),
        verbose=0,
    )
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    # Both workers logged the one-process run's validation, and trained its
    # weights (within float rounding: the all-reduce adds in another order).
    for output in outputs:
        assert [h["step"] for h in output["history"]] == [4]
        for mine, theirs in zip(output["history"], single["history"], strict=True):
            np.testing.assert_allclose(mine["val_loss"], theirs["val_loss"], rtol=1e-5)
            np.testing.assert_allclose(
                mine["train_loss"], theirs["train_loss"], rtol=1e-5
            )
    one, two = weights(tmp_path / "single" / "run"), weights(tmp_path / "multi" / "run")
    assert len(one) == len(two) > 10
    for expected, actual in zip(one, two, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6)
    # Only the chief wrote: one export, one tokenizer, one report; the other
    # worker's temporary folder is gone.
    multi = tmp_path / "multi"
    assert sorted(os.listdir(multi / "saved_models" / "tatoeba_es_en")) == ["1"]
    # (The demo config folds the source's case: a source copy of the model.)
    assert sorted(os.listdir(multi / "tokenizers")) == [
        "tatoeba_es_en.model", "tatoeba_es_en.source.model"
    ]
    assert json.loads((multi / "run" / "report.json").read_text())["steps"] == 4
    assert os.listdir(temporaries[1]) == []
    assert sorted(os.listdir(multi)) == ["run", "saved_models", "tokenizers"]


def test_a_worker_without_its_peers_fails_naming_them(tmp_path):
    (port,) = free_ports(1)
    absent = f"localhost:{free_ports(1)[0]}"
    process = start_worker(
        overrides(tmp_path, "alone", [
            "training.distribution=multi_worker",
            f"training.cluster.workers=[localhost:{port},{absent}]",
            "training.cluster.index=0", "training.cluster.timeout_seconds=5",
            # Never read: the worker stops while it waits for its peer.
            f"data.path={os.path.join(REPO_ROOT, 'data/tatoeba_spa_eng/spa.txt.gz')}",
        ]),
        tmp_path,
    )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0, stderr[-3000:]  # killed by its watchdog
    assert f"could not reach its peers {absent} within 5 s" in stderr


def test_tf_config_is_read_and_checked(monkeypatch):
    training = config_lib.TrainingConfig(distribution="multi_worker")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(config_lib.ConfigError, match="neither TF_CONFIG nor"):
        distribute.role_of(training)
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]},
        "task": {"type": "worker", "index": 1},
    }))
    role = distribute.role_of(training)
    assert role.workers == ("a:1", "b:2", "c:3") and role.index == 2
    assert not role.is_chief and role.peers == ["a:1", "b:2"]
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(config_lib.ConfigError, match="not a cluster description"):
        distribute.role_of(training)
    with pytest.raises(config_lib.ConfigError, match="index must be from 0 to 1"):
        config_lib.from_dict(config_lib.ClusterConfig,
                             {"workers": ["a:1", "b:2"], "index": 2})
    with pytest.raises(config_lib.ConfigError, match="'a' is not host:port"):
        config_lib.from_dict(config_lib.ClusterConfig, {"workers": ["a"], "index": 0})


def start_group(root, name, ports, extra, temporary):
    workers = "[" + ",".join(f"localhost:{port}" for port in ports) + "]"
    return [
        start_worker(
            overrides(root, name, [
                "training.distribution=multi_worker",
                f"training.cluster.workers={workers}",
                f"training.cluster.index={index}",
                "training.cluster.timeout_seconds=60", *extra,
            ]),
            temporary,
        )
        for index in range(len(ports))
    ]


@pytest.mark.slow  # about 2 minutes: three runs and a failure
def test_killing_a_worker_stops_the_group_and_a_restart_resumes(tmp_path):
    """Kill worker 1 after the chief's first checkpoint: the chief stops with
    an error (no hang); the group started again resumes from the chief's
    last checkpoint and ends with the weights of an uninterrupted run."""
    import signal
    import time

    copy_lines(os.path.join(REPO_ROOT, "data/tatoeba_spa_eng/spa.txt.gz"),
               tmp_path / "pairs.tsv.gz", 1000, gzip.open)
    longer = ["training.steps=300", "training.checkpoint_every=50",
              "training.eval_every=100"]
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    chief, other = start_group(tmp_path, "multi", free_ports(2), longer, temporary)
    checkpoints = tmp_path / "multi" / "run" / "checkpoints"
    deadline = time.time() + 300
    while not (checkpoints / "ckpt-50.index").exists():
        assert time.time() < deadline and chief.poll() is None, chief.stderr.read()
        time.sleep(0.05)
    other.send_signal(signal.SIGKILL)
    other.communicate()
    _, stderr = chief.communicate(timeout=300)
    assert chief.returncode != 0  # it stopped: no hang
    report = tmp_path / "multi" / "run" / "report.json"
    assert not report.exists()
    import tensorflow as tf

    interrupted_at = int(tf.train.latest_checkpoint(str(checkpoints)).split("-")[-1])
    assert 50 <= interrupted_at < 300

    group = start_group(tmp_path, "multi", free_ports(2), longer, temporary)
    for process in group:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    assert json.loads(report.read_text())["steps"] == 300

    from nlp_lstm.pipelines.translation import run

    run(config_lib.load(
        config_lib.TranslationConfig,
        os.path.join(REPO_ROOT, "pipelines/configs/translation_tatoeba_es_en.yaml"),
        overrides(tmp_path, "single", longer),
    ), verbose=0)
    one, two = weights(tmp_path / "single" / "run"), weights(tmp_path / "multi" / "run")
    for expected, actual in zip(one, two, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-5)
