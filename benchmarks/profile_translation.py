"""Where a translator SavedModel spends its time: a TF profiler trace of one
signature translating a test file at batch 64, summed by op type and by op.

    python benchmarks/profile_translation.py --model saved_models/multi30k_en_de \
        --sources ../shared/data/multi30k/test_2016_flickr.en.gz \
        [--signature translate_greedy]

Prints the ops' self time (host, microseconds) by type and the top ops by name,
and the share of the wall time they cover (the rest is executor overhead
between ops). Writes nothing but the trace in a temporary folder.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
from tensorflow.python.profiler.internal import (  # noqa: E402
    _pywrap_profiler_plugin as profiler_plugin,
)

from nlp_lstm.export import layout, runtime  # noqa: E402
from nlp_lstm.utils.iterables import sorted_map  # noqa: E402


def read_sources(path: str, limit: int) -> list[bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as stream:
        return [line.rstrip(b"\r\n") for line in stream][:limit]


def op_stats(trace_dir: str) -> list[dict]:
    """The `framework_op_stats` rows of the newest trace under `trace_dir`."""
    path = sorted(
        glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    )[-1]
    data, ok = profiler_plugin.xspace_to_tools_data([path], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"could not read the trace {path}")
    table = json.loads(data)[0]
    names = [column["id"] for column in table["cols"]]
    return [
        dict(zip(names, [cell.get("v") for cell in row["c"]])) for row in table["rows"]
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--sources", required=True)
    parser.add_argument("--signature", default="translate_greedy")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--threads", type=int, default=0,
        help="TensorFlow's intra-op and inter-op threads (0: its default); 1 "
        "profiles one worker of the in-process benchmark, whose op times "
        "two-thread matmuls and concurrent ops otherwise blur",
    )
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    runtime.load_text_ops()
    loaded = tf.saved_model.load(layout.resolve(args.model))
    signature = loaded.signatures[args.signature]
    sources = read_sources(args.sources, args.sentences)

    def translate(batch):
        return list(signature(sources=tf.constant(batch))["translations"].numpy())

    list(sorted_map(translate, sources[: args.batch_size], args.batch_size, len, 1024))
    trace_dir = tempfile.mkdtemp(prefix="nlp_lstm_profile_")
    tf.profiler.experimental.start(trace_dir)
    start = time.perf_counter()
    list(sorted_map(translate, sources, args.batch_size, len, 1024))
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()

    rows = [row for row in op_stats(trace_dir) if row["host_or_device"] == "Host"]
    by_type = collections.Counter()
    counts = collections.Counter()
    for row in rows:
        by_type[row["type"]] += row["total_self_time"]
        counts[row["type"]] += row["occurrences"]
    total = sum(by_type.values())
    print(
        f"{len(sources)} sentences, {args.signature}, batch {args.batch_size}: "
        f"{wall:.2f} s wall ({len(sources) / wall:.1f} sentences/s); ops' self time "
        f"{total / 1e6:.2f} s; {int(sum(counts.values()))} op runs "
        f"({sum(counts.values()) / wall / 1e3:.1f}k/s)"
    )
    print(f"\n{'op type':32s} {'self s':>8s} {'share':>6s} {'runs':>9s} {'us/run':>7s}")
    for kind, micros in by_type.most_common(args.top):
        runs = int(counts[kind])
        print(
            f"{kind:32s} {micros / 1e6:8.3f} {micros / total:6.1%} {runs:9d} "
            f"{micros / max(runs, 1):7.1f}"
        )
    by_scope = collections.Counter()
    for row in rows:
        name = row["operation"]
        if "encoder" in name:
            scope = "encoder"
        else:
            scope = "decoder loop" if "/while/body/" in name else "other"
        by_scope[scope] += row["total_self_time"]
    print(
        "\nby scope: "
        + ", ".join(
            f"{scope} {micros / 1e6:.3f} s" for scope, micros in by_scope.most_common()
        )
    )
    print(f"\n{'op':60s} {'self s':>8s} {'runs':>8s}")
    for row in sorted(rows, key=lambda row: -row["total_self_time"])[: args.top]:
        print(
            f"{row['operation'][-60:]:60s} {row['total_self_time'] / 1e6:8.3f} "
            f"{int(row['occurrences']):8d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
