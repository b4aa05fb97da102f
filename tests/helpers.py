"""Shared test helpers: generic layer checks used by every layer test file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_serialization_test(layer, call_fn):
    """`from_config(get_config())` rebuilds `layer`; with copied weights the
    rebuilt layer computes the same outputs (`call_fn(layer) -> array`)."""
    config = layer.get_config()
    rebuilt = layer.__class__.from_config(config)
    assert rebuilt.get_config() == config
    expected = keras.tree.map_structure(np.asarray, call_fn(layer))
    call_fn(rebuilt)  # creates the variables
    rebuilt.set_weights(layer.get_weights())
    actual = keras.tree.map_structure(np.asarray, call_fn(rebuilt))
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), expected, actual
    )
    return rebuilt


def run_keras_roundtrip_test(layer, call_fn):
    """`keras.saving.serialize_keras_object` / `deserialize` (the registered
    name) rebuild the same class with the same config."""
    serialized = keras.saving.serialize_keras_object(layer)
    rebuilt = keras.saving.deserialize_keras_object(serialized)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()
    return run_serialization_test(layer, call_fn)


def run_in_fresh_process(code: str, timeout: int = 300) -> str:
    """Runs `code` in a new Python process; returns its stdout (fails on error)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
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
