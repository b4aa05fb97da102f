"""Importing Keras without the optional libraries it imports for features
this package never uses.

When they are installed, `import keras` (and so `import tensorflow`, which
imports Keras' optimizers) imports scikit-learn, and with it SciPy, for the
scikit-learn estimator wrappers of `keras.wrappers`, and IPython for the
notebook view of `keras.saving.KerasFileEditor`. scikit-learn is installed
here as seqeval's dependency. Measured on the 2-core machine (2026-12-03,
`python -X importtime -c "import nlp_lstm.cli.pipeline"`): 1.3 s for
scikit-learn and SciPy and 0.8 s for IPython of a 7.3 s import.

The package's own entry points (the pipeline scripts, the `nlp-lstm`
commands that load run folders or bundles: `export-tflite`, `serving
export`, `evaluate`, `card`, `align`; the test workers) call
`import_keras`; importing the library does not, so that a program that
imports it keeps Keras' wrappers. The CLI's commands that run exports import
TensorFlow without Keras at all (`export.runtime.import_tensorflow`).
"""

from __future__ import annotations

import contextlib
import sys

# Optional imports of Keras that this package does not need.
KERAS_EXTRAS = ("sklearn", "IPython")


@contextlib.contextmanager
def missing(names):
    """Within the block, the modules `names` that are not imported yet import
    as if not installed (`ImportError`); afterwards they import as usual.
    Libraries that treat them as optional skip them for good in this
    process."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # an import of it raises ImportError
    try:
        yield
    finally:
        for name in blocked:
            del sys.modules[name]


def import_keras():
    """Imports Keras (and TensorFlow) with `KERAS_EXTRAS` made missing for
    the duration of the import, as when they are not installed; returns
    `keras`. They import as usual afterwards (seqeval's scikit-learn, say);
    only Keras' wrappers of them stay off in this process. Does nothing but
    return `keras` when Keras is already imported.
    """
    if "keras" not in sys.modules:
        with missing(KERAS_EXTRAS):
            import keras  # noqa: F401, PLC0415
    import keras  # noqa: PLC0415

    return keras
