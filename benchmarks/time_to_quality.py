"""Time to quality of a translation run beside a peer: the test BLEU of every
checkpoint the run kept against its training seconds, and the time the peer
needs for its steps at the throughput it logged in the same sitting.

    python pipelines/translation.py \
        --config pipelines/configs/translation_multi30k_en_de.yaml \
        --set run_dir=RUN --set training.keep_checkpoints=20
    ../shared/peers/bench.sh -d /tmp/peers/m30k -n 300 -p py --tok sp --sp-vocab 8000
    python benchmarks/time_to_quality.py --run RUN \
        --source ../shared/data/multi30k/test_2016_flickr.en.gz \
        --reference ../shared/data/multi30k/test_2016_flickr.de.gz \
        --peer-summary /tmp/peers/runs/m30k-n300/summary.json \
        --peer-steps 6000 --target-bleu 34.44

Prints a table and writes `OUTPUT/results.json`, `results.md` and
`bleu_vs_time.png` (default output: benchmarks/results/time_to_quality/).
`--target-bleu` is the peer's score after `--peer-steps` (OpenNMT-py 3.5.1,
6,000 steps: 34.44, ../shared/peers/README.md). Run nothing else while the
peer's throughput is measured; the checkpoints' scores do not depend on load.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os

from nlp_lstm import load
from nlp_lstm.benchmarking import time_to_quality as ttq
from nlp_lstm.evaluation import plots
from nlp_lstm.utils.files import atomic_write_bytes, atomic_write_json

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_lines(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as stream:
        return [line.rstrip("\n") for line in stream]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="translation run folder")
    parser.add_argument("--source", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--peer-summary", help="bench.sh summary.json, this sitting")
    parser.add_argument("--peer-steps", type=int, default=6000)
    parser.add_argument("--target-bleu", type=float, default=34.44)
    parser.add_argument("--output", default=os.path.join(
        REPO_ROOT, "benchmarks", "results", "time_to_quality"))
    args = parser.parse_args(argv)

    sources, references = read_lines(args.source), read_lines(args.reference)
    if len(sources) != len(references):
        raise SystemExit(
            f"--source has {len(sources)} lines and --reference {len(references)}: "
            "give the two sides of one test set"
        )
    rows = ttq.checkpoint_scores(load(args.run), args.run, sources, references,
                                 args.beam_size)
    peers = {}
    if args.peer_summary:
        with open(args.peer_summary, encoding="utf-8") as stream:
            peers = ttq.peer_seconds(json.load(stream), args.peer_steps)
    reached = ttq.seconds_to_reach(rows, args.target_bleu)
    result = {
        "run": os.path.abspath(args.run),
        "beam_size": args.beam_size,
        "target_bleu": args.target_bleu,
        "checkpoints": rows,
        "seconds_to_target": reached,
        "peer_steps": args.peer_steps,
        "peer_seconds": peers,
        "ratio_to_peer": {
            name: (None if reached is None else round(reached / seconds, 3))
            for name, seconds in peers.items()
        },
    }
    lines = [ttq.table(rows), ""]
    lines.append(
        f"BLEU {args.target_bleu} first reached after "
        + ("never" if reached is None else f"{reached:.0f} training seconds")
    )
    for name, seconds in peers.items():
        ratio = result["ratio_to_peer"][name]
        lines.append(
            f"{name}: {args.peer_steps} steps = {seconds:.0f} s at its logged "
            f"throughput; ratio {'-' if ratio is None else ratio}"
        )
    text = "\n".join(lines)
    print(text)
    os.makedirs(args.output, exist_ok=True)
    atomic_write_json(os.path.join(args.output, "results.json"), result)
    atomic_write_bytes(os.path.join(args.output, "results.md"),
                       (text + "\n").encode("utf-8"))
    plots.time_to_quality(rows, peers, args.target_bleu,
                          os.path.join(args.output, "bleu_vs_time.png"))
    return result


if __name__ == "__main__":
    main()
