"""Atomic artifacts: a writer killed with a real SIGKILL at a random moment
leaves every artifact either as the previous good version or the new one,
complete and usable (tokenizer model, JSON report, raw bytes such as a
`.tflite`, training checkpoint, SavedModel version)."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.utils import files
from tests.helpers import REPO_ROOT

SENTENCES = ["the quick brown fox jumps over the lazy dog", "a b c d e f g"] * 20

# The child rewrites each artifact in turn, forever, with the version number
# in its content; `progress` says which versions are complete.
WRITER = """
import json, os, sys
import numpy as np
import tensorflow as tf
from nlp_lstm.export import saved_model
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.utils import files

out = sys.argv[1]
models = [open(os.path.join(out, f"tokenizer{i}.bin"), "rb").read() for i in (0, 1)]
big = tf.Variable(tf.zeros([1_000_000]))
checkpoint = tf.train.Checkpoint(big=big)
manager = tf.train.CheckpointManager(checkpoint, os.path.join(out, "ckpt"), 2)

class Module(tf.Module):
    def __init__(self, version):
        self.version = tf.Variable(float(version))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": x + self.version}

progress = os.path.join(out, "progress")
# A restarted writer goes on from the last complete version.
version = len(open(progress).read().split()) if os.path.exists(progress) else 0
while True:
    version += 1
    payload = version.to_bytes(8, "little") * 2_000_000  # 16 MB
    files.atomic_write_bytes(os.path.join(out, "model.tflite"), payload)
    sp.save_model(models[version % 2], os.path.join(out, "tokenizer.model"))
    files.atomic_write_json(
        os.path.join(out, "report.json"), {"version": version, "pad": "x" * 10**6}
    )
    big.assign(tf.fill([1_000_000], float(version)))
    manager.save(checkpoint_number=version)
    module = Module(version)
    saved_model.write_version(
        module, {"serving_default": module.serve}, os.path.join(out, "saved"),
        {"version": version},
    )
    with open(progress, "a") as stream:
        stream.write(f"{version}\\n")
"""


def check_artifacts(out, models):
    """Each artifact is complete and holds one whole version."""
    payload = (out / "model.tflite").read_bytes()
    assert len(payload) == 16_000_000
    version = int.from_bytes(payload[:8], "little")
    assert payload == version.to_bytes(8, "little") * 2_000_000
    tokenizer = (out / "tokenizer.model").read_bytes()
    assert tokenizer in models
    assert sp.processor(tokenizer).vocab_size() > 0
    report = json.loads((out / "report.json").read_text())
    assert report["pad"] == "x" * 10**6
    latest = tf.train.latest_checkpoint(str(out / "ckpt"))
    big = tf.Variable(tf.zeros([1_000_000]))
    tf.train.Checkpoint(big=big).read(latest).assert_existing_objects_matched()
    values = big.numpy()
    assert values[0] >= 1 and (values == values[0]).all()
    assert latest.endswith(f"ckpt-{int(values[0])}")
    left = [n for n in os.listdir(out) if n.startswith(".tmp-")]
    files.atomic_write_json(str(out / "report.json"), {"pad": "x" * 10**6})
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-report.json.")]
    assert all(n.startswith(".tmp-") for n in left)
    saved = out / "saved"
    for name in os.listdir(saved):
        if name.isdigit():  # what TF Serving would load
            assert (saved / name / "saved_model.pb").is_file(), name
            assert (saved / name / "assets.extra" / "nlp_lstm.json").is_file()
    newest = max(int(n) for n in os.listdir(saved) if n.isdigit())
    loaded = tf.saved_model.load(str(saved / str(newest)))
    y = loaded.signatures["serving_default"](x=tf.constant([0.0]))["y"].numpy()
    assert y[0] == newest
    return version


def test_artifacts_survive_sigkill_at_random_moments(tmp_path):
    seed = int(os.environ.get("ATOMIC_TEST_SEED", random.randrange(10**6)))
    print(f"kill moment seed: {seed} (rerun with ATOMIC_TEST_SEED={seed})")
    rng = random.Random(seed)
    models = [sp.train_sentencepiece(SENTENCES, vocab_size=size) for size in (300, 320)]
    for index, model in enumerate(models):
        (tmp_path / f"tokenizer{index}.bin").write_bytes(model)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    killed_versions = []
    for _ in range(2):
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(tmp_path)],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        progress = tmp_path / "progress"
        done = len(progress.read_text().split()) if progress.exists() else 0
        deadline = time.monotonic() + 300
        # Wait for at least one complete round, then kill in the middle of one.
        while not progress.exists() or len(progress.read_text().split()) <= done:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))
        assert process.poll() is None
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL
        killed_versions.append(check_artifacts(tmp_path, models))
    assert killed_versions[1] >= 1


def test_atomic_write_bytes_leaves_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / "model.bin"
    files.atomic_write_bytes(str(path), b"good")

    class Exploding:
        def __len__(self):
            return 1

    with pytest.raises(TypeError):
        files.atomic_write_bytes(str(path), Exploding())
    assert path.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["model.bin"]  # no temporary left behind


def test_temporaries_of_killed_writers_are_removed_on_the_next_write(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # a pid that no longer runs
    dead = tmp_path / f".tmp-model.bin.{process.pid}.abc"
    live = tmp_path / f".tmp-model.bin.{os.getpid()}.def"
    other = tmp_path / f".tmp-other.bin.{process.pid}.ghi"
    for path in (dead, live, other):
        path.write_bytes(b"partial")
    files.atomic_write_bytes(str(tmp_path / "model.bin"), b"new")
    assert sorted(os.listdir(tmp_path)) == sorted(["model.bin", live.name, other.name])


def test_atomic_directory_never_exposes_a_partial_folder(tmp_path):
    target = tmp_path / "1"
    with pytest.raises(RuntimeError):
        with files.atomic_directory(str(target)) as temporary:
            open(os.path.join(temporary, "half"), "w").close()
            raise RuntimeError("killed")
    assert not target.exists() and os.listdir(tmp_path) == []
    with files.atomic_directory(str(target)) as temporary:
        np.save(os.path.join(temporary, "x.npy"), np.arange(3))
    assert sorted(os.listdir(target)) == ["x.npy"]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_published_files_and_folders_get_the_umasks_permissions(tmp_path, umask_022):
    """mkstemp/mkdtemp make private temporaries (0600/0700): once published,
    a TF Serving or an app running as another user must read them."""
    files.atomic_write_bytes(str(tmp_path / "tokenizer.model"), b"x")
    files.atomic_write_json(str(tmp_path / "report.json"), {"a": 1})
    with files.atomic_directory(str(tmp_path / "1")) as temporary:
        open(os.path.join(temporary, "saved_model.pb"), "w").close()
    assert (tmp_path / "tokenizer.model").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "1").stat().st_mode & 0o777 == 0o755
    os.umask(0o077)
    files.atomic_write_bytes(str(tmp_path / "private"), b"x")
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600


def test_a_numbered_folder_taken_meanwhile_gets_the_next_number(tmp_path):
    """Two exports of one model at once: the second to publish takes the next
    version instead of failing with a misleading "already exists"."""
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"first")

    def next_path():
        numbers = [int(n) for n in os.listdir(tmp_path) if n.isdigit()]
        return str(tmp_path / str(max(numbers, default=0) + 1))

    with files.atomic_directory(next_path) as temporary:
        (tmp_path / "2").mkdir()  # another export publishes version 2 meanwhile
        (tmp_path / "2" / "saved_model.pb").write_bytes(b"other")
        open(os.path.join(temporary, "saved_model.pb"), "wb").write(b"mine")
    assert (tmp_path / "2" / "saved_model.pb").read_bytes() == b"other"
    assert (tmp_path / "3" / "saved_model.pb").read_bytes() == b"mine"
    with pytest.raises(FileExistsError, match="already exists"):
        with files.atomic_directory(str(tmp_path / "3")):
            pass


def test_a_run_folder_is_held_by_one_run(tmp_path):
    run_dir = str(tmp_path / "run")
    with files.exclusive_folder(run_dir):
        with pytest.raises(files.FolderInUseError, match=f"pid {os.getpid()} on"):
            with files.exclusive_folder(run_dir):
                pass
        holder = subprocess.run(
            [sys.executable, "-c",
             "import sys; from nlp_lstm.utils import files\n"
             "try:\n with files.exclusive_folder(sys.argv[1]): pass\n"
             "except files.FolderInUseError as e: print(e)",
             run_dir],
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
        )
        assert "is in use by another run" in holder.stdout
        assert "set run_dir to another folder" in holder.stdout
    with files.exclusive_folder(run_dir):  # free again
        pass
