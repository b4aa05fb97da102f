"""Per-op profile of the translator's or the tagger's training step at the
benchmark size.

    python benchmarks/profile_training.py [--task translator|tagger|tagger-ud]
        [--steps 10]
        [--precision float32|bfloat16] [--threads N] [--output DIR]

`translator`: the Multi30k en->de translator of `benchmarks/run.py` (embedding
256, BiLSTM 2 x 128, decoder 2 x 256, batch 64, joint SentencePiece vocabulary
of 8,000) on fixed batches. `tagger`: the UD English-EWT tagger of the
benchmark suite (its config at the suite's size, with issue 14's char CNN) on
batches of its training dataset; `tagger-ud`: the shipped UD config as it is
(char BiLSTM). Traces `--steps` training steps with the TensorFlow profiler
after a warm-up over the same batch shapes, and prints the self time of each
op type summed over the CPU threads (the executor's own events, between the
ops, left out), with its share, then the same time by
where it ran (`place`: the decoder's loop, the encoder's loops, the
hand-written backward loops, outside the loops), matmuls apart from the rest.
The raw trace stays in DIR for TensorBoard's profile plugin.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from nlp_lstm import config as config_lib
from nlp_lstm.benchmarking import suites
from nlp_lstm.benchmarking import training as bench_training
from nlp_lstm.data.batching import translation_examples
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.training import trainer
from nlp_lstm.training.losses import tagger_loss

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "pipelines/configs/translation_multi30k_en_de.yaml")
TOKENIZER = os.path.join(ROOT, "tokenizers/multi30k_en_de.model")


def op_type(event_name: str) -> str | None:
    """The op type of a traced op (`scope/name:Type`); None for the
    executor's own events (`ExecutorState::Process`, callbacks)."""
    if ":" not in event_name or "::" in event_name:
        return None
    return event_name.rsplit(":", 1)[-1]


def place(event_name: str) -> tuple[str, str] | None:
    """`(where, kind)` of a traced op: where it ran (the decoder's loop, the
    encoder's loops, the hand-written backward loops, whose ops carry no
    layer scope, or outside the loops) and whether it is a matmul; None for
    the executor's own events (`Process`, callbacks). The towers' scopes
    (`decoder_1/...`) count as one."""
    kind = op_type(event_name)
    if kind is None:
        return None
    scope = event_name.rsplit(":", 1)[0]
    scope = re.sub(r"_\d+", "", scope)
    kind = "matmul" if "MatMul" in kind else "other"
    for where, marker in (
        ("decoder loop", "decoder/while"),
        ("encoder loops", "encoder/while"),
        ("backward loops", "while/body"),
    ):
        if marker in scope:
            return where, kind
    return "outside the loops", kind


def op_self_times(
    logdir: str, key=op_type
) -> tuple[collections.Counter, collections.Counter]:
    """Self time (ms) and count of every `key(event name)` (the op type, or
    e.g. `place`; events whose key is None are left out) in the newest trace
    of `logdir`.

    Events on one thread line nest (an executor's `Process` event holds the
    op it runs); each event's self time is its duration minus its children's.
    """
    path = sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as stream:
        space.ParseFromString(stream.read())
    times, counts = collections.Counter(), collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if line.name == "python":
                continue
            events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
            stack = []  # (end, name, self time)

            def close(until):
                while stack and stack[-1][0] <= until:
                    _, name, self_ps = stack.pop()
                    times[name] += self_ps / 1e9

            for event in events:
                close(event.offset_ps)
                name = key(plane.event_metadata[event.metadata_id].name)
                if stack:
                    end, parent, self_ps = stack[-1]
                    stack[-1] = (end, parent, self_ps - event.duration_ps)
                stack.append(
                    (event.offset_ps + event.duration_ps, name, event.duration_ps)
                )
                counts[name] += 1
            close(float("inf"))
    times.pop(None, None)
    counts.pop(None, None)
    return times, counts


# "tagger": issue 14's tagger (the UD config at the suite's size with the
# baseline's char CNN); "tagger-ud": the shipped UD config as it is (char
# BiLSTM, word dropout 0.3).
TASKS = ("translator", "tagger", "tagger-ud")


def task_config(task: str, settings: tuple = ()):
    """The config of `task`'s benchmark model, with `settings` (`KEY=VALUE`,
    as the pipelines' `--set`)."""
    if task == "translator":
        return config_lib.load(config_lib.TranslationConfig, CONFIG, list(settings))
    return bench_training.tagging_config(
        suites.SUITES["full"], size=task == "tagger", settings=settings
    )


def translator_inputs(config) -> tuple:
    """`(corpus, processor)`: the Multi30k corpus and the benchmark's
    tokenizer, loaded once for `translator_step` and
    `translator_pair_tokens`."""
    if not os.path.isfile(TOKENIZER):
        raise SystemExit(
            f"error: {TOKENIZER} not found: run the Multi30k pipeline or "
            "benchmarks/run.py first"
        )
    corpus, _ = load_parallel_corpus(config.data)
    return corpus, sp.processor(sp.load_model(TOKENIZER))


def translator_step(config, steps: int, precision: str, inputs=None):
    """The translator's training step and `steps` fixed batches
    (`inputs`: `translator_inputs(config)`, loaded here when None)."""
    corpus, processor = inputs or translator_inputs(config)
    batches = bench_training.fixed_batches(config, corpus, processor, steps)
    model = build_translator(
        config.model, processor.vocab_size(), processor.vocab_size()
    )
    loss_fn = bench_training.translator_step_loss(config.training)
    return bench_training.training_step(model, config, loss_fn, precision), batches


def translator_pair_tokens(config, corpus, processor) -> float:
    """Real tokens of an average pair among those `fixed_batches` draws from
    (the source with its EOS, the target input with its BOS): the fixed
    batches' pairs can be shorter or longer than that (a checkout's own
    batching), so `benchmarks/training_step.py` divides tokens a second by
    it into pairs a second. The pairs of `fixed_pairs`, encoded here and not
    by the checkout's code, so that checkouts from before `fixed_pairs` give
    it too."""
    train = corpus["train"].select(range(64 * 40))
    sources, targets, _ = translation_examples(
        processor.encode(list(train["source"])),
        processor.encode(list(train["target"])),
        config.data.max_length,
    )
    return sum(len(s) + len(t) - 1 for s, t in zip(sources, targets)) / len(sources)


def tagger_step(config, steps: int, precision: str):
    """The benchmark tagger's training step and `steps` batches of its
    training dataset (as `benchmarks/run.py` times it)."""
    setup = bench_training.tagging_setup(config)
    trainer.set_seed(config.training.seed)
    batches = bench_training.tagger_batches(setup, steps)
    model = bench_training.build_benchmark_tagger(setup)
    loss_fn = tagger_loss(setup.featurizer)
    return bench_training.training_step(model, config, loss_fn, precision), batches


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="translator")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--precision", choices=("float32", "bfloat16"), default="float32"
    )
    parser.add_argument("--output", default="benchmarks/results/profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra- and inter-op threads (0: as the pipelines train)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    config = task_config(args.task)
    if not args.threads:  # as the pipelines train this model
        trainer.configure_threads(trainer.resolve_towers(config.training.towers))

    make = translator_step if args.task == "translator" else tagger_step
    train_step, batches = make(config, args.steps, args.precision)

    for _ in range(2):  # every shape traced before the trace starts
        for batch in batches:
            train_step(batch)[0].numpy()
    shutil.rmtree(args.output, ignore_errors=True)
    tf.profiler.experimental.start(args.output)
    for batch in batches:
        train_step(batch)[0].numpy()
    tf.profiler.experimental.stop()
    times, counts = op_self_times(args.output)
    total = sum(times.values())
    print("| op | self ms / step | share | calls / step |\n|---|---:|---:|---:|")
    for name, value in times.most_common(args.top):
        print(
            f"| {name} | {value / args.steps:.1f} | {100 * value / total:.1f}% | "
            f"{counts[name] / args.steps:.0f} |"
        )
    print(
        f"\nop time per step (both threads, the executor's own events left "
        f"out): {total / args.steps:.1f} ms over {args.steps} steps; trace in "
        f"{args.output}"
    )
    times, counts = op_self_times(args.output, key=place)
    print(
        "\n| where | matmuls, ms / step | other ops, ms / step | other ops / step |"
        " us / other op |\n|---|---:|---:|---:|---:|"
    )
    for where in sorted({where for where, _ in times}):
        other = times[where, "other"] / args.steps
        calls = counts[where, "other"] / args.steps
        print(
            f"| {where} | {times[where, 'matmul'] / args.steps:.1f} | {other:.1f} | "
            f"{calls:.0f} | {1000 * other / max(calls, 1):.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
