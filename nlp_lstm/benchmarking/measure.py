"""Timing statistics, memory, the machine's description and its matmul peak."""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm.benchmarking.flops import matmul_chain_flops


def summarize(seconds) -> dict:
    """Median, p10, p90, mean, min and count of a list of durations (seconds)."""
    values = np.asarray(list(seconds), dtype=np.float64)
    if values.size == 0:
        raise ValueError("no durations to summarize")
    return {
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
        "p90": float(np.percentile(values, 90)),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "count": int(values.size),
    }


def timed(function, *args, **kwargs):
    """`(seconds, result)` of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    On Linux, `VmHWM` of /proc/self/status: the peak of the memory this
    program mapped. `getrusage`'s `ru_maxrss` survives `execve`, so a process
    that a large one started (fork, then exec: every benchmark's child)
    would report its parent's size instead.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector-unit flags of the CPU that matter to matmul speed."""
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "neon")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [flag for flag in wanted if flag in flags]
    except OSError:
        pass
    return []


def environment(command: list[str]) -> dict:
    """Versions, threads, CPU and the command, for the results file."""
    versions = {}
    for package in ("ai-edge-litert", "tensorflow-text"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # not installed: recorded as such
            versions[package] = None
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = list(range(os.cpu_count() or 1))
    threading = tf.config.threading
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "command": " ".join(command),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "tf_intra_op_threads": threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": threading.get_inter_op_parallelism_threads(),
        "thread_env": {
            name: os.environ[name]
            for name in (
                "OMP_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS",
                "TF_ENABLE_ONEDNN_OPTS",
            )
            if name in os.environ
        },
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "tensorflow_text": versions["tensorflow-text"],
            "ai_edge_litert": versions["ai-edge-litert"],
            "numpy": np.__version__,
        },
    }


def matmul_peak(size: int = 2048, chain: int = 10, repeats: int = 3,
                dtype: str = "float32") -> dict:
    """The measured dense matmul peak in `dtype` (float32 or bfloat16): a
    `tf.function` chaining `chain` dependent matmuls `c = c @ b` (distinct
    ops, so Grappler cannot merge them), best of `repeats` timed calls after
    one warm-up call.

    Returns:
        `{"gflops", "size", "chain", "repeats", "seconds", "dtype"}`,
        `gflops` the best (highest) rate and `seconds` every call's duration.
    """
    generator = tf.random.Generator.from_seed(0)
    a = tf.cast(generator.normal((size, size)), dtype)
    # Scaled so that the chain keeps its magnitude (no overflow, no denormals).
    b = tf.cast(generator.normal((size, size)) / float(np.sqrt(size)), dtype)

    @tf.function
    def chained(c, b):
        for _ in range(chain):
            c = tf.matmul(c, b)
        return tf.reduce_sum(c)

    chained(a, b).numpy()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        chained(a, b).numpy()
        seconds.append(time.perf_counter() - start)
    flops = matmul_chain_flops(size, chain)
    return {
        "gflops": flops / min(seconds) / 1e9,
        "size": size,
        "chain": chain,
        "repeats": repeats,
        "seconds": seconds,
        "dtype": dtype,
    }


def matmul_peak_fresh_process(size: int = 2048, chain: int = 10, repeats: int = 3,
                              dtype: str = "float32"):
    """`matmul_peak` in a new Python process with TensorFlow's default thread
    pools (every core on each matmul), whatever this process's thread settings
    (training uses one intra-op thread per tower): the peak is the machine's."""
    code = (
        "import json, os\n"
        "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')\n"
        "from nlp_lstm.benchmarking.measure import matmul_peak\n"
        f"print(json.dumps(matmul_peak({size}, {chain}, {repeats}, {dtype!r})))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["process"] = "fresh, default TensorFlow threads"
    return result
