"""The TensorFlow an exported graph needs to run: TF core and the
tensorflow-text kernels, without Keras.

An exported SavedModel holds plain TF functions; running it needs TensorFlow
and the tensorflow-text op kernels (its tokenizers), nothing else. But
`import tensorflow` imports all of Keras (to register Keras optimizers for
loading Keras-saved models), and Keras imports scikit-learn, pandas,
matplotlib and IPython when they are installed; `import tensorflow_text`
imports Keras again for its Keras layers. Measured on the 2-core machine
(2026-12-01, `benchmarks/translation_speed.py`), that is seconds of start-up
and about 200 MB of resident memory that a command translating stdin never
uses. `import_tensorflow` and `load_text_ops` skip both.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys


def import_tensorflow():
    """Imports TensorFlow without its eager import of Keras; returns `tf`.

    TensorFlow tolerates a missing Keras at import time (it catches the
    ImportError and loads `tf.keras` lazily, on first use), so Keras is made
    missing for the duration of the import and restored right after: a later
    `import keras` or `tf.keras` works as usual. Does nothing but return `tf`
    when TensorFlow is already imported.
    """
    if "tensorflow" not in sys.modules and "keras" not in sys.modules:
        sys.modules["keras"] = None  # an import of it raises ImportError
        try:
            import tensorflow  # noqa: F401, PLC0415
        finally:
            del sys.modules["keras"]
    import tensorflow as tf  # noqa: PLC0415

    return tf


def text_op_libraries() -> list[str]:
    """The op libraries (`.so`) of the installed tensorflow-text."""
    spec = importlib.util.find_spec("tensorflow_text")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "tensorflow-text is not installed; the exported tokenizers need it "
            "(pip install tensorflow-text, the version matching tensorflow)"
        )
    folder = os.path.join(spec.submodule_search_locations[0], "python", "ops")
    return sorted(glob.glob(os.path.join(folder, "_*.so")))


def load_text_ops() -> None:
    """Registers every tensorflow-text op kernel, as `import tensorflow_text`
    does, without importing its Python package (and Keras with it)."""
    tf = import_tensorflow()
    if "tensorflow_text" in sys.modules:
        return
    for library in text_op_libraries():
        tf.load_op_library(library)
