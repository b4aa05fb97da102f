"""The training step of this checkout against other checkouts and the peers,
in fresh processes taken in turn.

    python benchmarks/training_step.py [--task translator|tagger ...]
        [--before LABEL CHECKOUT ...] [--variant LABEL KEY=VALUE[,...] ...]
        [--precision float32 [bfloat16]]
        [--rounds 3] [--steps 30] [--peers DIR] [--output DIR]

Each round runs, for every checkout in turn (this one first), one fresh
process per task that builds the step of `benchmarks/profile_training.py` (the
benchmark model of `benchmarks/run.py`; this checkout's configs and tokenizer)
with that checkout's code (`PYTHONPATH` and the working directory set to it),
warms up on every batch shape and times one pass over the same batches: the
translator's 64-sentence Multi30k batches, the tagger's UD English-EWT ones.
Rounds alternate the checkouts because this machine's speed drifts by 10-20%
over minutes: a ratio is only worth something between runs close in time.
`--peers` adds the training step of OpenNMT-tf and OpenNMT-py from a
`../shared/peers/bench.sh` output folder (their own logs: steady seconds a
step), which should be run just before or after, with nothing else on the
machine. `--precision float32 bfloat16` times each checkout's step in both
(`training.precision`), as rows "LABEL, PRECISION". `--variant LABEL
training.sampled_softmax=1024` adds this checkout with those config settings
(comma-separated, as the pipelines' `--set`) as a row of its own.

Prints a table and writes `results.json` and `results.md` into `--output`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# profile_training.TASKS, not imported: this parent process runs without
# TensorFlow (tests check that the two agree).
TASKS = ("translator", "tagger", "tagger-ud")


def _child(task: str, steps: int, precision: str = "float32", settings=()) -> dict:
    """Times `task`'s step, built as `profile_training.py` builds it (this
    checkout's script), with the `nlp_lstm` on the path (a checkout's)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np  # noqa: PLC0415
    import profile_training  # noqa: PLC0415 (this script's folder)
    import tensorflow as tf  # noqa: PLC0415

    import nlp_lstm  # noqa: PLC0415
    from nlp_lstm.benchmarking import training as bench  # noqa: PLC0415
    from nlp_lstm.text.words import PAD  # noqa: PLC0415
    from nlp_lstm.training import trainer  # noqa: PLC0415

    config = profile_training.task_config(task, settings)
    trainer.configure_threads(trainer.resolve_towers(config.training.towers))
    if task == "translator":
        inputs = profile_training.translator_inputs(config)
        step, batches = profile_training.translator_step(
            config, steps, precision, inputs
        )

        def shape(batch):
            (source, target_in), _ = batch
            return tuple(source.shape) + tuple(target_in.shape)

        def tokens(batch):
            (source, target_in), _ = batch
            return int(np.count_nonzero(source)) + int(np.count_nonzero(target_in))

    else:
        step, batches = profile_training.tagger_step(config, steps, precision)

        def shape(batch):
            return tuple(batch[0].shape)

        def tokens(batch):
            return int(np.count_nonzero(tf.not_equal(batch[0], PAD)))

    seconds = bench.replay(step, batches, 3, shape)["seconds"]
    result = {
        "code": os.path.dirname(os.path.dirname(os.path.abspath(nlp_lstm.__file__))),
        "task": task,
        "precision": precision,
        "steps": len(seconds),
        "median_step_s": statistics.median(seconds),
        "total_s": sum(seconds),
        "tokens_per_s": sum(tokens(b) for b in batches) / sum(seconds),
        "batch_tokens": statistics.mean(tokens(b) for b in batches),
    }
    if task == "translator":
        # A 64-pair batch of the average pair, at this step's tokens a second:
        # what the peers' logs give (their tokens a second over their pairs).
        pair_tokens = profile_training.translator_pair_tokens(config, *inputs)
        result["pair_tokens"] = pair_tokens
        result["average_batch_s"] = 64 * pair_tokens / result["tokens_per_s"]
    return result


def run_child(checkout: str, task: str, steps: int, precision: str = "float32",
              settings=()) -> dict:
    """`_child` in a fresh process over `checkout`'s code."""
    env = dict(os.environ, PYTHONPATH=checkout, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", task,
         "--steps", str(steps), "--precision", precision,
         *[f"--set={setting}" for setting in settings]],
        cwd=checkout, env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"error: the {task} step of {checkout} failed:\n{result.stderr[-3000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def with_precisions(checkouts: list, precisions: list) -> list:
    """(label, checkout, precision, settings) for each (label, checkout,
    settings) in each precision, in turn; with several precisions the label
    names the precision."""
    if len(precisions) == 1:
        return [(label, path, precisions[0], sets) for label, path, sets in checkouts]
    return [
        (f"{label}, {precision}", path, precision, sets)
        for label, path, sets in checkouts
        for precision in precisions
    ]


def peer_steps(folder: str) -> dict:
    """Seconds a training step of each peer in a `bench.sh` output folder, by
    its own log: a batch's source and target tokens over its tokens/s."""
    with open(os.path.join(folder, "summary.json"), encoding="utf-8") as stream:
        summary = json.load(stream)
    batch_tokens = summary["batch"] * summary["tokens_per_pair"]
    return {
        row["peer"]: batch_tokens / row["tok_s_peer"]
        for row in summary["rows"]
        if row.get("ok") and row.get("tok_s_peer")
    }


def _seconds_per_batch(run: dict) -> float:
    """A run's time for a batch of its task's average length: the translator's
    `average_batch_s` (a checkout's own batching can draw shorter or longer
    pairs), else its median step."""
    return run.get("average_batch_s", run["median_step_s"])


def table(runs: list[dict], peers: dict) -> str:
    lines = [
        "| task | code | median step, ms, per round | tokens a batch | tokens/s | "
        "average batch, ms | x first code | x faster peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fastest_peer = min(peers.values()) if peers else None
    for task in TASKS:
        rows = [r for r in runs if r["task"] == task]
        if not rows:
            continue
        labels = list(dict.fromkeys(r["label"] for r in rows))
        speeds = {}
        for label in labels:
            mine = [r for r in rows if r["label"] == label]
            speeds[label] = statistics.median(r["tokens_per_s"] for r in mine)
        for label in labels:
            mine = [r for r in rows if r["label"] == label]
            per_round = " / ".join(f"{1000 * r['median_step_s']:.1f}" for r in mine)
            batch = statistics.median(_seconds_per_batch(r) for r in mine)
            tokens = statistics.median(r.get("batch_tokens", 0) for r in mine)
            # Time per real token against the first code's: batches of
            # different lengths compare.
            ratio = speeds[labels[0]] / speeds[label]
            versus = (
                f"{batch / fastest_peer:.2f}"
                if fastest_peer and task == "translator"
                else "-"
            )
            lines.append(
                f"| {task} | {label} | {per_round} | {tokens:,.0f} | "
                f"{speeds[label]:,.0f} | {1000 * batch:.1f} | {ratio:.2f} | {versus} |"
            )
    for name, seconds in sorted(peers.items()):
        lines.append(
            f"| translator | {name} (its log) | | | | {1000 * seconds:.1f} | | |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument(
        "--before", nargs=2, action="append", default=[],
        metavar=("LABEL", "CHECKOUT"), help="another checkout to time in turn",
    )
    parser.add_argument(
        "--variant", nargs=2, action="append", default=[],
        metavar=("LABEL", "SETTINGS"),
        help="this checkout with config settings KEY=VALUE[,KEY=VALUE...]",
    )
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--label", default="this checkout")
    parser.add_argument(
        "--precision", nargs="+", choices=("float32", "bfloat16"),
        default=["float32"], help="time each checkout's step in each of these",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--peers", help="a ../shared/peers/bench.sh output folder")
    parser.add_argument("--output", default="benchmarks/results/training_step")
    parser.add_argument("--child", choices=TASKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.steps, args.precision[0], args.set)))
        return 0
    checkouts = (
        [(args.label, ROOT, ())]
        + [(label, ROOT, tuple(sets.split(","))) for label, sets in args.variant]
        + [(label, os.path.abspath(path), ()) for label, path in args.before]
    )
    checkouts = with_precisions(checkouts, args.precision)
    peers = peer_steps(args.peers) if args.peers else {}
    runs = []
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for index in range(args.rounds):
        for task in args.task:
            for label, path, precision, settings in checkouts:
                run = run_child(path, task, args.steps, precision, settings)
                run.update(label=label, round=index, settings=list(settings))
                runs.append(run)
                print(
                    f"round {index} {task} {label}: median step "
                    f"{1000 * run['median_step_s']:.1f} ms",
                    flush=True,
                )
    text = table(runs, peers)
    print(text)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "results.json"), "w", encoding="utf-8") as out:
        arguments = argv if argv is not None else sys.argv[1:]
        command = ["python", "benchmarks/training_step.py", *arguments]
        record = {"started": started, "command": command, "runs": runs,
                  "peers_step_s": peers}
        json.dump(record, out, indent=1)
    with open(os.path.join(args.output, "results.md"), "w", encoding="utf-8") as out:
        out.write(f"Started {started}.\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
