"""Shared test helpers (the layer and model checks are in `tests/test_case.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_benchmark(name: str):
    """The module of `benchmarks/<name>.py` (the scripts are not a package)."""
    import importlib.util

    path = os.path.join(REPO_ROOT, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_fresh_process(code: str, timeout: int = 300, env: dict | None = None) -> str:
    """Runs `code` in a new Python process; returns its stdout (fails on error).
    `env` sets variables of that process over this one's (None: unset)."""
    changes = dict(env or {})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def tiny_translator(vocab_size: int, tied: bool = True, seed: int = 3):
    """A translator small enough for a test (embeddings 8, encoder 4 units
    a direction, decoder 8), shared embeddings when `tied`."""
    import tensorflow as tf

    from nlp_lstm.config import TranslatorModelConfig
    from nlp_lstm.models.translator import build_translator

    tf.keras.utils.set_random_seed(seed)
    config = TranslatorModelConfig(embedding_dim=8, tie_output=tied)
    config.share_embeddings = tied
    config.encoder.units = 4
    config.decoder.units = 8
    return build_translator(config, vocab_size, vocab_size)


# Prints the outputs of SavedModel version folders as JSON; only TF and
# tf-text are imported. ARGS (inputs, paths) is prepended.
SAVED_MODEL_OUTPUTS = """
import json
import tensorflow as tf
import tensorflow_text  # noqa: F401
inputs, paths = ARGS
outputs = []
for path in paths:
    signature = tf.saved_model.load(path).signatures["serving_default"]
    result = signature(**{inputs["name"]: tf.constant(inputs["values"])})
    row = {}
    for key, value in result.items():
        value = value.numpy()
        if value.dtype == object:
            value = [[t.decode() for t in r] if value.ndim == 2 else r.decode()
                     for r in value]
        else:
            value = value.tolist()
        row[key] = value
    outputs.append(row)
print(json.dumps(outputs))
"""


def saved_model_outputs(inputs: dict, paths: list[str]) -> list[dict]:
    args = json.dumps([inputs, [str(path) for path in paths]])
    output = run_in_fresh_process(
        f"import json\nARGS = json.loads({args!r})\n" + SAVED_MODEL_OUTPUTS
    )
    return json.loads(output.strip().splitlines()[-1])


def copy_lines(source: str, destination, count: int, opener=open) -> str:
    with opener(source, "rt", encoding="utf-8") as stream:
        lines = [next(stream) for _ in range(count)]
    with opener(destination, "wt", encoding="utf-8") as stream:
        stream.writelines(lines)
    return str(destination)
