"""The training loop: steps, evaluation, early stopping, checkpoints and resume.

One loop serves every model: the caller supplies `loss_fn(model, batch,
training) -> (loss, tokens)` and `evaluate_fn(model) -> dict of metrics`.
Checkpoints (`tf.train.CheckpointManager`, written to a temporary name and then
indexed, so a partial one is never chosen) hold the model, the optimizer (with
its step counter and so the learning-rate schedule), the data iterator (so the
data order continues) and the early-stopping state. A run started again with
the same config resumes from the latest one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm.layers import linear
from nlp_lstm.training.optimizers import AllReducedGradients, build_optimizer
from nlp_lstm.utils.cores import usable_cores, warn_if_bfloat16_is_emulated
from nlp_lstm.utils.files import atomic_write_json, atomic_write_with

HIGHER_IS_BETTER = ("val_bleu", "val_chrf", "val_f1", "val_accuracy")


@dataclasses.dataclass
class TrainResult:
    steps: int
    train_seconds: float
    tokens_per_second: float
    best_metric: float | None
    stopped_early: bool
    history: list


def _is_better(metric: str, value: float, best: float) -> bool:
    if math.isnan(best):
        return True
    return value > best if metric in HIGHER_IS_BETTER else value < best


def train(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss_fn,
    dataset: tf.data.Dataset,
    evaluate_fn,
    config,
    run_dir: str,
    verbose: int = 1,
    gradient_fn=None,
    strategy=None,
    restore_dir: str | None = None,
) -> TrainResult:
    """Trains `model` for `config.steps` steps (a `TrainingConfig`), resuming if
    `run_dir` holds checkpoints of the same run.

    Args:
        model: a built Keras model.
        optimizer: its optimizer.
        loss_fn: `(model, batch, training) -> (loss, tokens)`, or loss
            phases `[(first_step, loss_fn), ...]` (`loss_phases`): each step
            trains with the last phase that has begun.
        gradient_fn: None, or `batch -> (loss, tokens, gradients)` that
            computes the gradients its own way (truncated BPTT) in place of
            differentiating `loss_fn`; see `make_train_step`.
        dataset: an endless `tf.data.Dataset` of batches.
        evaluate_fn: `(model) -> dict` with the early-stopping metric.
        config: `TrainingConfig`.
        run_dir: where checkpoints, the best weights and logs go.
        strategy: a `tf.distribute` strategy (`distribute.setup`) the model
            and optimizer were built under, or None: each step is then
            `make_distributed_step`.
        restore_dir: str or None. Checkpoints to resume from when not
            `run_dir`'s (workers other than the chief resume from its).
    """
    os.makedirs(run_dir, exist_ok=True)
    if config.precision == "bfloat16":
        warn_if_bfloat16_is_emulated(
            "training.precision", "Set training.precision: float32.", stacklevel=2
        )
    optimizer.build(model.trainable_variables)
    iterator = iter(dataset)
    monitor = config.early_stopping_metric
    best_value = tf.Variable(float("nan"), trainable=False, dtype=tf.float64)
    bad_evals = tf.Variable(0, trainable=False, dtype=tf.int64)
    elapsed = tf.Variable(0.0, trainable=False, dtype=tf.float64)
    tokens_seen = tf.Variable(0.0, trainable=False, dtype=tf.float64)
    state = dict(
        model=model,
        optimizer=optimizer,
        iterator=iterator,
        best_value=best_value,
        bad_evals=bad_evals,
        elapsed=elapsed,
        tokens_seen=tokens_seen,
    )
    # The dropout masks continue too: the states of the model's seed generators.
    random_state = tf.train.Checkpoint(seed_states=seed_states(model))
    checkpoint = tf.train.Checkpoint(**state, random_state=random_state)
    checkpoint_dir = os.path.join(run_dir, "checkpoints")
    manager = tf.train.CheckpointManager(
        checkpoint, checkpoint_dir, max_to_keep=config.keep_checkpoints
    )
    remove_stale_checkpoints(checkpoint_dir, manager.checkpoints)
    latest = manager.latest_checkpoint
    if restore_dir is not None:
        latest = tf.train.latest_checkpoint(restore_dir)
    if latest:
        if not restore_checkpoint(latest, state, random_state):
            # A failed iterator restore leaves the iterator unusable.
            state["iterator"] = iterator = iter(dataset)
            checkpoint = tf.train.Checkpoint(**state, random_state=random_state)
            manager = tf.train.CheckpointManager(
                checkpoint, checkpoint_dir, max_to_keep=config.keep_checkpoints
            )
        if verbose:
            print(
                f"Resumed from {latest} at step {int(optimizer.iterations.numpy())}"
            )
    best_weights = os.path.join(run_dir, "best.weights.h5")
    history_path = os.path.join(run_dir, "history.json")
    restored_step = int(optimizer.iterations.numpy())
    # Evaluations logged after the restored checkpoint happen again.
    history = [h for h in _load_history(history_path) if h["step"] <= restored_step]

    phases = loss_phases(loss_fn)
    if strategy is not None:
        check_same_step(strategy, int(optimizer.iterations.numpy()), restore_dir)
        if gradient_fn is not None:
            raise ValueError(
                "truncated BPTT (training.tbptt) runs in one process: set "
                "training.distribution to none, or training.tbptt.chunk to 0"
            )
    elif gradient_fn is not None and len(phases) > 1:
        raise ValueError("a gradient_fn trains with one loss: pass one loss_fn")

    def phase_step(phase_loss):
        if strategy is not None:
            return make_distributed_step(
                strategy, model, optimizer, phase_loss, config.towers, config.precision
            )
        return make_train_step(
            model, optimizer, phase_loss, config.towers, gradient_fn=gradient_fn,
            precision=config.precision, batch_spec=dataset.element_spec,
        )

    writer = tf.summary.create_file_writer(os.path.join(run_dir, "logs"))
    step = int(optimizer.iterations.numpy())
    phase = current_phase(phases, step)
    train_step = phase_step(phases[phase][1])
    progress = keras.utils.Progbar(
        config.steps, verbose=verbose, stateful_metrics=["tok/s"]
    )
    progress.update(step)
    stopped_early = False
    window_start, window_tokens = time.perf_counter(), 0.0
    while step < config.steps and not stopped_early:
        if (now_phase := current_phase(phases, step)) != phase:
            phase = now_phase
            train_step = phase_step(phases[phase][1])
            if verbose:
                print(f"\nstep {step}: loss phase {phase + 1} of {len(phases)}")
        loss, tokens = train_step(next(iterator))
        step = int(optimizer.iterations.numpy())
        tokens = float(tokens)
        window_tokens += tokens
        tokens_seen.assign_add(tokens)
        now = time.perf_counter()
        elapsed.assign_add(now - window_start)
        rate = window_tokens / max(now - window_start, 1e-9)
        window_start, window_tokens = now, 0.0
        loss = float(loss)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"Training loss became {loss} at step {step}: lower "
                "training.learning_rate or set training.clip_norm"
            )
        progress.update(step, [("loss", loss), ("tok/s", rate)])
        if step % 50 == 0:
            with writer.as_default(step=step):
                tf.summary.scalar("train/loss", loss)
                tf.summary.scalar("train/tokens_per_second", rate)
        if step % config.eval_every == 0 or step == config.steps:
            eval_start = time.perf_counter()
            with averaged(model, optimizer):
                metrics = {k: float(v) for k, v in evaluate_fn(model).items()}
                improved = monitor != "none" and _is_better(
                    monitor, metrics[monitor], float(best_value.numpy())
                )
                if improved:
                    _save_weights_atomically(model, best_weights)
            metrics["train_loss"] = loss  # of this step, so a resumed run logs it too
            metrics["step"] = step
            # Training time so far (checkpointed: a resumed run goes on counting),
            # for the curves against wall time.
            metrics["train_seconds"] = round(float(elapsed.numpy()), 2)
            history.append(metrics)
            atomic_write_json(history_path, history)
            if verbose:
                shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
                print(f"\nstep {step}: {shown}")
            with writer.as_default(step=step):
                for name, value in metrics.items():
                    tf.summary.scalar(f"eval/{name}", value)
            if monitor != "none":
                if improved:
                    best_value.assign(metrics[monitor])
                    bad_evals.assign(0)
                else:
                    bad_evals.assign_add(1)
                    if int(bad_evals.numpy()) >= config.patience:
                        stopped_early = True
                        if verbose:
                            print(
                                f"Early stopping at step {step}: {monitor} has not "
                                f"improved for {config.patience} evaluations"
                            )
            window_start += time.perf_counter() - eval_start
        if step % config.checkpoint_every == 0 or step == config.steps or stopped_early:
            save_checkpoint(manager, step)
    writer.flush()
    if monitor != "none" and os.path.exists(best_weights):
        model.load_weights(best_weights)
    else:
        optimizer.finalize_variable_values(model.trainable_variables)
    seconds = float(elapsed.numpy())
    best = float(best_value.numpy())
    return TrainResult(
        steps=step,
        train_seconds=seconds,
        tokens_per_second=float(tokens_seen.numpy()) / max(seconds, 1e-9),
        best_metric=None if math.isnan(best) else best,
        stopped_early=stopped_early,
        history=history,
    )


def loss_phases(loss_fn) -> list:
    """`train`'s `loss_fn` as phases `[(first_step, loss_fn), ...]`, in
    order: one loss is one phase from step 0. A phase trains the steps from
    its `first_step` (the count of steps already trained) to the next
    phase's."""
    if callable(loss_fn):
        return [(0, loss_fn)]
    phases = sorted(loss_fn, key=lambda phase: phase[0])
    if not phases or phases[0][0] != 0:
        raise ValueError(
            f"loss phases must begin with one at step 0, got first steps "
            f"{[first for first, _ in phases]}"
        )
    return phases


def current_phase(phases: list, step: int) -> int:
    """The index in `phases` (`loss_phases`) of the phase that trains the step
    after `step` steps."""
    return max(i for i, (first, _) in enumerate(phases) if first <= step)


@contextlib.contextmanager
def averaged(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """Inside the block the model holds the optimizer's moving averages of
    its weights (`training.ema_decay`), so that validation scores them and
    the best weights are theirs; after it, the weights training goes on
    from. Without averages nothing changes."""
    if not optimizer.use_ema:
        yield
        return
    variables = model.trainable_variables
    weights = [variable.numpy() for variable in variables]
    optimizer.finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, weights):
            variable.assign(value)


class CheckpointError(OSError):
    """A checkpoint that could not be written (disk full, permissions)."""


def save_checkpoint(manager: tf.train.CheckpointManager, step: int) -> None:
    """`manager.save` at `step`; if the write fails, its partial files are
    removed (the previous checkpoint stays the latest) and a
    `CheckpointError` says what to do."""
    try:
        manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as error:
        remove_stale_checkpoints(manager.directory, manager.checkpoints)
        reason = getattr(error, "message", None) or str(error)
        # TF's "{{function_node ...}} PATH; REASON [Op:SaveV2]" -> PATH; REASON
        reason = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:\w+\]", "", reason)
        latest = manager.latest_checkpoint
        resume = "it starts over"
        if latest:
            resume = f"it resumes from {os.path.basename(latest)}"
        raise CheckpointError(
            f"cannot save the checkpoint of step {step} in {manager.directory}: "
            f"{reason.splitlines()[0]}. Free some space there (or fix its "
            f"permissions) and run the same command again: {resume}"
        ) from None


def remove_stale_checkpoints(directory: str, kept: list[str]) -> None:
    """Deletes checkpoint files that the manager's index does not list.

    A run killed while saving leaves them: a half-written `ckpt-N_temp/`
    folder, or the files of a checkpoint saved (or pruned) without its index
    update. The index is only rewritten once a checkpoint is complete, so they
    were never chosen as latest; removing them keeps `keep_checkpoints` true.

    Whatever the index lists is kept too: a `CheckpointManager` leaves out of
    `kept` the checkpoints of an index without timestamps (one written by
    `tf.compat.v1.train.update_checkpoint_state`, or by hand to resume from
    an earlier step), and those are the ones the run resumes from.
    """
    if not os.path.isdir(directory):
        return
    index = tf.train.get_checkpoint_state(directory)
    if index is not None:
        kept = [*kept, index.model_checkpoint_path, *index.all_model_checkpoint_paths]
    kept_names = {os.path.basename(path) for path in kept}
    for name in os.listdir(directory):
        if not name.startswith("ckpt-"):
            continue
        prefix = name.split(".", 1)[0].removesuffix("_temp")
        if prefix in kept_names and not name.endswith("_temp"):
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def seed_states(model: keras.Model) -> list:
    """The state variables of the model's `keras.random.SeedGenerator`s (dropout),
    which are in `model.variables` but not in `model.weights`."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def restore_checkpoint(path: str, state: dict, random_state) -> bool:
    """Restores the training state from checkpoint `path`; returns False when
    the data iterator could not be restored (with a warning), and then the
    caller needs a fresh iterator.

    Every object of `state` must be in the checkpoint (a checkpoint of another
    model or config fails here, naming what differs); the random state is
    optional, for checkpoints written before it was saved.
    """
    try:
        try:
            tf.train.Checkpoint(**state).read(path).assert_existing_objects_matched()
        except tf.errors.OpError as error:
            # The iterator of a data pipeline that has changed since the save:
            # everything else resumes, the data order starts afresh.
            others = {key: value for key, value in state.items() if key != "iterator"}
            tf.train.Checkpoint(**others).read(path).assert_existing_objects_matched()
            reason = str(error).split(". Make sure")[0].split("}} ")[-1]
            warnings.warn(
                f"Checkpoint {path}: the data iterator was not restored ({reason}): "
                "the data pipeline has changed since the checkpoint was written, "
                "so the data order starts afresh while the model, optimizer and "
                "early-stopping state resume. Resume with the code and config "
                "the run started with to continue the same data order.",
                stacklevel=3,
            )
            iterator_restored = False
        else:
            iterator_restored = True
    except (AssertionError, ValueError) as error:
        raise ValueError(
            f"Checkpoint {path} does not match this model or config ({error}). "
            "Resume with the config the run was started with, or give a new "
            "run_dir to start afresh."
        ) from error
    tf.train.Checkpoint(random_state=random_state).read(path).expect_partial()
    return iterator_restored


def read_trained_weights(path: str, model: keras.Model, training_config) -> dict:
    """Reads `model`'s weights from `train`'s checkpoint `path` (not the data
    or random state): `{"step", "train_seconds"}` of that checkpoint.

    Keras tracks most of a model's weights through the optimizer that trained
    them, not under the model, so the optimizer (built from
    `training_config`) is read too; everything asked for must be in the file
    (a checkpoint of another model fails, naming what differs)."""
    optimizer = build_optimizer(training_config)
    optimizer.build(model.trainable_variables)
    elapsed = tf.Variable(0.0, dtype=tf.float64)
    # The rest of the file (data iterator, random and early-stopping state) is
    # left unread on purpose: `expect_partial` keeps TensorFlow from warning,
    # for each object, that it was not restored.
    tf.train.Checkpoint(model=model, optimizer=optimizer, elapsed=elapsed).read(
        path
    ).assert_existing_objects_matched().expect_partial()
    return {
        "step": int(optimizer.iterations.numpy()),
        "train_seconds": float(elapsed.numpy()),
    }


def resolve_towers(towers: int = 0) -> int:
    """`towers`, or with 0 one tower per core, up to two."""
    return towers if towers > 0 else max(1, min(2, usable_cores()))


def configure_threads(towers: int) -> bool:
    """Sizes TensorFlow's thread pools for `towers` concurrent towers: one
    inter-op thread per tower, the cores shared out as intra-op threads.

    Must run before TensorFlow starts its runtime (the first op); returns False,
    changing nothing, when it is too late or `towers` is 1.
    """
    if towers < 2:
        return False
    try:
        tf.config.threading.set_inter_op_parallelism_threads(towers)
        tf.config.threading.set_intra_op_parallelism_threads(
            max(1, usable_cores() // towers)
        )
    except RuntimeError:
        return False
    return True


def split_batch(batch, parts: int) -> list:
    """`parts` slices of every tensor of the nest `batch` along axis 0 (the
    first slice takes the remainder, so it is never empty)."""
    flat = tf.nest.flatten(batch)
    size = tf.shape(flat[0])[0]
    share = size // parts
    sizes = tf.concat([[size - share * (parts - 1)], tf.fill([parts - 1], share)], 0)
    pieces = [tf.split(tensor, sizes, axis=0) for tensor in flat]
    return [
        tf.nest.pack_sequence_as(batch, [piece[index] for piece in pieces])
        for index in range(parts)
    ]


def make_gradient_fn(
    model, loss_fn, towers: int | None = None, precision: str = "float32"
):
    """`batch -> (loss, tokens, gradients)` for `model.trainable_variables`,
    the matmuls of the forward and backward passes in `precision`
    (`layers.linear.matmul_precision`).

    With `towers > 1` (0: one per core, up to two; None: 1) the batch is split
    into that many slices, each with its own tape: independent subgraphs that
    TensorFlow's executor runs at the same time on different cores (the
    recurrent loops are chains of small ops that one core runs best). The
    slices' losses and gradients are weighted by their token counts and added
    in slice order, so the result is the whole batch's. Runs with towers are
    not yet bit-exact under changing machine load (README, Determinism).
    """
    towers = 1 if towers is None else resolve_towers(towers)
    variables = model.trainable_variables

    def one_tower(batch):
        with linear.matmul_precision(precision):
            with tf.GradientTape() as tape:
                loss, tokens = loss_fn(model, batch, True)
            return loss, tokens, tape.gradient(loss, variables)

    def tower_gradients(batch):
        results = [one_tower(part) for part in split_batch(batch, towers)]
        counts = [tf.cast(count, tf.float32) for _, count, _ in results]
        tokens = tf.add_n(counts)
        share = [count / tf.maximum(tokens, 1.0) for count in counts]
        loss = tf.add_n(
            [tf.cast(loss, tf.float32) * w for (loss, _, _), w in zip(results, share)]
        )
        gradients = [
            _weighted_sum([grads[i] for _, _, grads in results], share)
            for i in range(len(variables))
        ]
        return loss, tokens, gradients

    return one_tower if towers == 1 else tower_gradients


def make_train_step(model, optimizer, loss_fn, towers: int | None = None,
                    gradient_fn=None, precision: str = "float32",
                    batch_spec=None):
    """One training step, `batch -> (loss, tokens)`: the gradients of
    `make_gradient_fn` (towers as there), then `optimizer.apply_gradients`.

    `batch_spec` (a dataset's `element_spec`) traces the step once, for every
    batch the dataset can give; without it `reduce_retracing` makes the
    second batch shape trace a shape-generic graph (two traces), so that
    every length bucket does not cost a new trace either way.

    A `gradient_fn` (`batch -> (loss, tokens, gradients)`, e.g.
    `tbptt.TruncatedBPTT`) replaces the gradients; it runs its own compiled
    pieces from Python, so only the update is one compiled function (and
    `batch_spec` is not used)."""
    variables = model.trainable_variables
    if gradient_fn is not None:
        apply = tf.function(
            lambda gradients: optimizer.apply_gradients(zip(gradients, variables)),
            autograph=False,
        )

        def stepped(batch):
            loss, tokens, gradients = gradient_fn(batch)
            apply(gradients)
            return loss, tokens

        return stepped
    gradient_fn = make_gradient_fn(model, loss_fn, towers, precision)

    def train_step(batch):
        loss, tokens, gradients = gradient_fn(batch)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss, tokens

    if batch_spec is None:
        return tf.function(train_step, reduce_retracing=True, autograph=False)
    return tf.function(train_step, input_signature=[batch_spec], autograph=False)


def check_same_step(strategy, step: int, restore_dir: str | None) -> None:
    """Fails unless every replica resumed at `step`: a worker that could not
    read the chief's checkpoints would otherwise train from other weights."""
    total = strategy.reduce(
        tf.distribute.ReduceOp.SUM,
        strategy.run(lambda: tf.constant(float(step), tf.float64)),
        axis=None,
    )
    replicas = strategy.num_replicas_in_sync
    if float(total.numpy()) != float(step) * replicas:
        where = restore_dir or "this run folder's checkpoints"
        raise RuntimeError(
            f"the workers resumed at different steps (this one at {step}, "
            f"{float(total.numpy()) / replicas:g} on average): every worker must "
            f"read the chief's checkpoints ({where}); put the run folder on a file "
            "system all workers share, at the same path"
        )


def batch_slice(batch, parts, index):
    """Slice `index` of `split_batch(batch, parts)`, with tensors for `parts`
    and `index` (a replica's share of the global batch)."""
    flat = tf.nest.flatten(batch)
    size = tf.shape(flat[0])[0]
    share = size // parts
    first = size - share * (parts - 1)
    start = tf.where(index == 0, 0, first + (index - 1) * share)
    length = tf.where(index == 0, first, share)
    return tf.nest.pack_sequence_as(
        batch, [tensor[start : start + length] for tensor in flat]
    )


def make_distributed_step(strategy, model, optimizer, loss_fn, towers=None,
                          precision: str = "float32"):
    """One training step over the replicas of `strategy`, `batch -> (loss,
    tokens)`, equal (up to float rounding) to `make_train_step`'s on the same
    global batch.

    Each replica takes its slice of the batch (`batch_slice`; every worker
    reads the same global batches), computes its gradients (`make_gradient_fn`,
    its towers included), weights them by its share of the global token
    count, and one all-reduce sums them. The optimizer then applies the
    global gradient on each replica (`AllReducedGradients`: Keras does not
    sum it again), so clipping sees the global gradient's norm."""
    if not isinstance(optimizer, AllReducedGradients):
        raise TypeError(
            "a distributed step needs an optimizer that takes all-reduced "
            "gradients: build it with training.optimizers.build_optimizer from "
            "a config whose training.distribution is not none"
        )
    variables = model.trainable_variables
    gradient_fn = make_gradient_fn(model, loss_fn, towers, precision)
    total_op = tf.distribute.ReduceOp.SUM

    def replica_step(batch):
        context = tf.distribute.get_replica_context()
        part = batch_slice(
            batch, context.num_replicas_in_sync, context.replica_id_in_sync_group
        )
        loss, tokens, gradients = gradient_fn(part)
        tokens = tf.cast(tokens, tf.float32)
        total = context.all_reduce(total_op, tokens)
        share = tokens / tf.maximum(total, 1.0)
        weighted = [tf.cast(loss, tf.float32) * share] + [
            tf.convert_to_tensor(gradient) * tf.cast(share, gradient.dtype)
            for gradient in gradients
        ]
        summed = context.all_reduce(total_op, weighted)
        optimizer.apply_gradients(zip(summed[1:], variables))
        return summed[0], total

    def local(value):
        return strategy.experimental_local_results(value)[0]

    @tf.function(reduce_retracing=True, autograph=False)
    def train_step(batch):
        loss, tokens = strategy.run(replica_step, args=(batch,))
        return local(loss), local(tokens)

    return train_step


def _weighted_sum(gradients, weights):
    """`sum(w * g)` over towers, in tower order; sparse (`IndexedSlices`)
    gradients stay sparse, their rows concatenated."""
    present = [(g, w) for g, w in zip(gradients, weights) if g is not None]
    if not present:
        return None
    if all(isinstance(g, tf.IndexedSlices) for g, _ in present):
        return tf.IndexedSlices(
            tf.concat([g.values * tf.cast(w, g.values.dtype) for g, w in present], 0),
            tf.concat([g.indices for g, _ in present], 0),
            present[0][0].dense_shape,
        )
    return tf.add_n(
        [tf.convert_to_tensor(g) * tf.cast(w, g.dtype) for g, w in present]
    )


def _save_weights_atomically(model: keras.Model, path: str) -> None:
    atomic_write_with(path, model.save_weights)


def read_history(run_dir: str) -> list:
    """The evaluations a run folder's training logged (`history.json`)."""
    return _load_history(os.path.join(run_dir, "history.json"))


def _load_history(path: str) -> list:
    if not os.path.exists(path):
        return []

    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def set_seed(seed: int) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras, and asks TF for deterministic
    kernels: without it, multi-threaded CPU kernels at real model sizes give
    runs of one seed that differ in the last digits after a few steps."""
    keras.utils.set_random_seed(seed)
    np.random.seed(seed)
    tf.config.experimental.enable_op_determinism()
