"""Translation speed and memory of an exported translator beside OpenNMT-tf and
OpenNMT-py, in one sitting (issue 13).

    ../shared/peers/bench.sh setup && ../shared/peers/prepare_multi30k.sh
    ../shared/peers/bench.sh -d /tmp/peers/m30k -n 2000 --tok sp --sp-vocab 8000 \\
        --infer-copies 3 -o /tmp/peers/runs/m30k-n2000          # trains the peers
    python benchmarks/translation_speed.py --model saved_models/multi30k_en_de \\
        --peers /tmp/peers/runs/m30k-n2000 [--before LABEL CODE MODEL] [--rounds 3] \\
        [--tflite LABEL FILE.tflite] [--output DIR]

Translates test_2016_flickr three times over (3,000 sentences) greedy and with
beam 5 at batch 64: the peers with the commands `bench.sh` uses, then the
project in-process and as `nlp-lstm translate` (and `--tflite` files, exported
with `--batch-size 64`, as `nlp-lstm translate` on LiteRT), one process at a
time. Prints
a table and writes `results.json` and `results.md` to `--output` (default
`benchmarks/results/translation_speed`). Run nothing else on the machine
meanwhile. The logic is in `nlp_lstm/benchmarking/translation_speed.py`.
"""

from __future__ import annotations

import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from nlp_lstm.benchmarking.translation_speed import Setup, run  # noqa: E402

DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "multi30k")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="translator SavedModel")
    parser.add_argument("--label", default="nlp_lstm SavedModel", help="its row's name")
    parser.add_argument("--peers", default=None, help="bench.sh output folder")
    parser.add_argument(
        "--sources", default=os.path.join(DATA, "test_2016_flickr.en.gz")
    )
    parser.add_argument(
        "--references", default=os.path.join(DATA, "test_2016_flickr.de.gz")
    )
    parser.add_argument(
        "--before",
        nargs=3,
        metavar=("LABEL", "CODE", "MODEL"),
        default=None,
        help="also measure another checkout of the project (CODE, on PYTHONPATH) "
        "with its export MODEL, as a row named LABEL, before this one",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every system this many times in turn; the table gives "
        "medians, each round's figures and the ratios to OpenNMT-py per round",
    )
    parser.add_argument(
        "--tflite",
        nargs=2,
        action="append",
        default=[],
        metavar=("LABEL", "FILE"),
        help="also run `nlp-lstm translate` on this .tflite (exported with "
        "--batch-size), as a row named LABEL after the SavedModel's; repeatable",
    )
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latency-sentences", type=int, default=200)
    parser.add_argument(
        "--output",
        default=os.path.join(REPO_ROOT, "benchmarks", "results", "translation_speed"),
    )
    args = parser.parse_args(argv)
    setup = Setup(
        model=os.path.abspath(args.model),
        label=args.label,
        sources=args.sources,
        references=args.references,
        copies=args.copies,
        batch_size=args.batch_size,
        latency_sentences=args.latency_sentences,
        rounds=args.rounds,
        peers=args.peers,
        others=[
            {
                "label": args.before[0],
                "code": os.path.abspath(args.before[1]),
                "model": os.path.abspath(args.before[2]),
            }
        ]
        if args.before
        else [],
        tflite=[
            {"label": label, "path": os.path.abspath(path)}
            for label, path in args.tflite
        ],
    )
    run(setup, os.path.abspath(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
