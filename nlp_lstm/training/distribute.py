"""Training on several replicas with `tf.distribute` (`training.distribution`).

- `none`: one process, one replica (its batches may still be cut into
  `training.towers`).
- `mirrored`: `tf.distribute.MirroredStrategy` over `training.replicas`
  logical CPU devices of this machine: the towers as replicas.
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, one process per
  worker with RING collectives; the cluster comes from `TF_CONFIG` or
  `training.cluster`, worker 0 is the chief.

Every worker builds the same data pipeline (same seed) and so reads the same
global batches; each replica takes its slice of every batch (sharded by data:
the examples one process would see, split), computes the gradient of its
tokens' loss divided by the global token count, and one all-reduce sums them
(`trainer.make_distributed_step`): the global batch's gradient, as in one
process. The optimizer, gradient clipping included, then updates the
replicas' copies with it. Keras' `model.fit` is not used: it is broken under
`MultiWorkerMirroredStrategy` (keras-team/keras #20585, #20329).

The chief alone writes the run folder (checkpoints, history, TensorBoard
logs, report, bundle, card, plots, tokenizers) and the exports; the others
write into a temporary folder that is removed when they end, and resume from
the chief's checkpoints, so all restart from the same step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile

import tensorflow as tf

from nlp_lstm.config import ConfigError
from nlp_lstm.training.trainer import configure_threads
from nlp_lstm.utils.files import exclusive_folder

# The one strategy of this process: TensorFlow allows a multi-worker
# strategy (and logical devices) only before its runtime starts.
_STRATEGY: dict = {}


@dataclasses.dataclass(frozen=True)
class Role:
    """Which worker this process is.

    Attributes:
        index: int. Position among the workers; 0 is the chief.
        workers: tuple of `host:port`, the chief first (empty: one process).
        timeout_seconds: int. How long to wait for the peers.
    """

    index: int = 0
    workers: tuple = ()
    timeout_seconds: int = 120

    @property
    def count(self) -> int:
        return max(1, len(self.workers))

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def peers(self) -> list[str]:
        return [address for i, address in enumerate(self.workers) if i != self.index]


@dataclasses.dataclass
class Distribution:
    """How a pipeline trains: the `strategy` (None: one replica), this
    process's `role` and the checkpoints to resume from (`restore_dir`, None:
    the run folder's own)."""

    strategy: object = None
    role: Role = dataclasses.field(default_factory=Role)
    restore_dir: str | None = None


def tf_config(training) -> dict:
    """The `TF_CONFIG` of a multi-worker run: from `training.cluster` when it
    lists workers, else from the environment; checked, with errors that say
    what to set."""
    cluster = training.cluster
    if cluster.workers:
        return {"cluster": {"worker": list(cluster.workers)},
                "task": {"type": "worker", "index": cluster.index}}
    raw = os.environ.get("TF_CONFIG", "")
    fix = ("set TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:port\", "
           "\"host2:port\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}' "
           "on each worker (its own index), or training.cluster.workers and "
           "training.cluster.index")
    if not raw:
        raise ConfigError(
            "training.distribution is multi_worker but neither TF_CONFIG nor "
            f"training.cluster.workers names the workers: {fix}"
        )
    try:
        spec = json.loads(raw)
        workers = spec["cluster"].get("chief", []) + spec["cluster"]["worker"]
        task = spec["task"]
        index = int(task["index"]) + (
            len(spec["cluster"].get("chief", [])) if task["type"] == "worker" else 0
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"TF_CONFIG is not a cluster description ({raw!r}): {fix}")
    if task["type"] not in ("worker", "chief") or not 0 <= index < len(workers):
        raise ConfigError(
            f"TF_CONFIG's task {task} is not one of its {len(workers)} workers: {fix}"
        )
    return spec


def role_of(training) -> Role:
    """This process's `Role` under `training.distribution`."""
    if training.distribution != "multi_worker":
        return Role(timeout_seconds=training.cluster.timeout_seconds)
    spec = tf_config(training)
    chiefs = spec["cluster"].get("chief", [])
    workers = tuple(chiefs + spec["cluster"]["worker"])
    task = spec["task"]
    index = int(task["index"]) + (len(chiefs) if task["type"] == "worker" else 0)
    return Role(index, workers, training.cluster.timeout_seconds)


def _logical_cpus(count: int) -> list[str]:
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        pass  # Already configured, or TensorFlow has started: checked below.
    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    if len(devices) < count:
        raise RuntimeError(
            f"training.distribution mirrored needs {count} logical CPU devices "
            f"but TensorFlow started with {len(devices)}: set the distribution "
            "before TensorFlow runs anything (the pipeline scripts do; in your "
            "own code, call nlp_lstm.training.distribute.setup first)"
        )
    return devices[:count]


# The watchdog: a small process that waits for a line on its stdin and, if
# none comes in time, prints the error and kills its parent (a start-up
# blocked in native code ignores Python's signals and SIGTERM).
_WATCHDOG = """
import os, select, signal, sys
ready, _, _ = select.select([sys.stdin], [], [], float(sys.argv[2]))
if not ready:
    sys.stderr.write(sys.argv[3] + "\\n")
    sys.stderr.flush()
    os.kill(int(sys.argv[1]), signal.SIGKILL)
"""


class PeerWatchdog:
    """Ends this process with an error naming the peers when the group has
    not met `timeout_seconds` after `start`: TensorFlow's multi-worker
    start-up waits for missing workers without a limit, in native code."""

    def __init__(self, role: Role):
        self.role = role
        self._process = None

    def message(self) -> str:
        role = self.role
        return (
            f"error: worker {role.index} ({role.workers[role.index]}) could not "
            f"reach its peers {', '.join(role.peers)} within "
            f"{role.timeout_seconds} s: start every worker of the cluster "
            "(TF_CONFIG / training.cluster.workers), check the addresses and that "
            "the ports are open (training.cluster.timeout_seconds sets the wait)"
        )

    def start(self) -> PeerWatchdog:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()),
             str(self.role.timeout_seconds), self.message()],
            stdin=subprocess.PIPE,
        )
        return self

    def done(self) -> None:
        if self._process is not None:
            self._process.stdin.write(b"met\n")
            self._process.stdin.close()
            self._process.wait()
            self._process = None


def setup(training):
    """`(strategy, role)` of this process for `training` (created once per
    process; TensorFlow must not have run anything yet for `mirrored` and
    `multi_worker`). The strategy is None for `none`.

    A multi-worker start-up is watched by a `PeerWatchdog` until one
    all-reduce over the workers has gone through; later all-reduces fail
    after `training.cluster.timeout_seconds` (`CommunicationOptions`)."""
    role = role_of(training)
    key = (training.distribution, training.replicas, role)
    if key in _STRATEGY:
        return _STRATEGY[key], role
    if _STRATEGY:
        raise RuntimeError(
            "this process already trains with another distribution: TensorFlow "
            "allows one per process; start a new process"
        )
    strategy = None
    if training.distribution == "mirrored":
        # As the towers: one inter-op thread per replica, the cores shared out.
        configure_threads(training.replicas)
        devices = _logical_cpus(training.replicas)
        strategy = tf.distribute.MirroredStrategy(
            devices,
            cross_device_ops=tf.distribute.ReductionToOneDevice(devices[0]),
        )
    elif training.distribution == "multi_worker":
        os.environ["TF_CONFIG"] = json.dumps(tf_config(training))
        watchdog = PeerWatchdog(role).start()
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING,
            timeout_seconds=float(role.timeout_seconds),
        )
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=options
        )
        # One all-reduce: every worker is up and reachable.
        strategy.reduce(
            tf.distribute.ReduceOp.SUM,
            strategy.run(lambda: tf.constant(1.0)),
            axis=None,
        )
        watchdog.done()
    _STRATEGY[key] = strategy
    return strategy, role


# How long the workers wait at the end for the chief to finish its test
# evaluation and exports (they stay up: a worker that exits is reported as
# failed to the others).
END_BARRIER_SECONDS = 6 * 3600


def finish(distribution: Distribution) -> None:
    """Waits until every worker of a multi-worker run is done (the chief
    evaluates and exports after training), so that no worker leaves while
    the others still run."""
    if distribution.role.count < 2:
        return
    from tensorflow.python.eager import context

    context.context().wait_at_barrier("nlp_lstm_end", END_BARRIER_SECONDS * 1000)


def scope(strategy):
    """`strategy.scope()`, or nothing for None."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def run_as_worker(config, verbose: int, run_fn):
    """Runs a pipeline as this process's worker: `run_fn(config, verbose,
    distribution)` with the worker's config (`worker_config`) in its locked
    run folder, then waits for the other workers (`finish`); returns what
    `run_fn` returns. Workers other than the chief run quietly."""
    strategy, role = setup(config.training)
    with worker_config(config, role) as (config, restore_dir):
        distribution = Distribution(strategy, role, restore_dir)
        with exclusive_folder(config.run_dir):
            report = run_fn(config, verbose if role.is_chief else 0, distribution)
        finish(distribution)
        return report


@contextlib.contextmanager
def worker_config(config, role: Role):
    """Yields `(config, restore_dir)` for this worker: the chief's config as
    it is; for the others a copy whose run folder, tokenizer folder and
    exports go to a temporary folder (removed on exit, also on errors) and
    which resumes from the chief's checkpoints (`restore_dir`)."""
    if role.is_chief:
        yield config, None
        return
    temporary = tempfile.mkdtemp(prefix=f"nlp_lstm_worker{role.index}_")
    try:
        # The same evaluations as the chief's (validation BLEU included), so
        # that no worker waits for another at an all-reduce.
        changes = {"run_dir": os.path.join(temporary, "run"),
                   "export": dataclasses.replace(config.export, enabled=False)}
        if hasattr(config, "tokenizer"):
            changes["tokenizer"] = dataclasses.replace(
                config.tokenizer, directory=os.path.join(temporary, "tokenizers")
            )
        yield (dataclasses.replace(config, **changes),
               os.path.join(config.run_dir, "checkpoints"))
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
