"""Benchmarks of issue #6: training throughput, achieved FLOP/s against the
measured matmul peak, inference latency/throughput/size/quality of every
export format.

    python benchmarks/run.py [--suite smoke|quick|full] [--output DIR]

Writes `results.json`, `results.md` (also printed) and PNG plots into DIR
(default `benchmarks/results/<suite>`). The logic is in `nlp_lstm.benchmarking`.
"""

from __future__ import annotations

import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
sys.path.insert(0, REPO_ROOT)

from nlp_lstm.benchmarking.runner import run  # noqa: E402 (after sys.path)
from nlp_lstm.benchmarking.suites import SUITES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="quick")
    parser.add_argument(
        "--output", default=None, help="default: benchmarks/results/<suite>"
    )
    args = parser.parse_args(argv)
    output = os.path.abspath(
        args.output or os.path.join(REPO_ROOT, "benchmarks", "results", args.suite)
    )
    # The configs name their corpora relative to the repository root.
    os.chdir(REPO_ROOT)
    run(args.suite, output, command=["python", "benchmarks/run.py", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
