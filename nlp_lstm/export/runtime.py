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
import logging
import os
import sys

from nlp_lstm.export import layout
from nlp_lstm.utils import imports

# TensorFlow's switch for its oneDNN graph rewrite (oneDNN kernels for
# MatMul, BatchMatMul and the like); read once, when TensorFlow is imported.
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def import_tensorflow():
    """Imports TensorFlow without its eager import of Keras; returns `tf`.

    TensorFlow tolerates a missing Keras at import time (it catches the
    ImportError and loads `tf.keras` lazily, on first use), so Keras is made
    missing for the duration of the import and restored right after: a later
    `import keras` or `tf.keras` works as usual. Does nothing but return `tf`
    when TensorFlow is already imported.
    """
    if "tensorflow" not in sys.modules and "keras" not in sys.modules:
        with imports.missing(["keras"]):
            import tensorflow  # noqa: F401, PLC0415
    import tensorflow as tf  # noqa: PLC0415

    return tf


def onednn_suits(metadata: dict) -> bool:
    """Whether an export runs best with TensorFlow's oneDNN kernels: only a
    translator whose search multiplies in bfloat16 (`decoding.precision`),
    which needs oneDNN's AMX or AVX512-BF16 kernels.

    A float32 translator does not gain from them: on the 2-core Intel
    machine with AMX (2026-12-04, `benchmarks/translation_speed.py`, two
    rounds, 3,000 test sentences, the same translations) `nlp-lstm
    translate` without them ran 677 greedy sentences/s against 585 and 311
    beam-5 against 294, at 766 MB peak RSS against 912 (greedy) and 798
    against 993 (beam): TensorFlow's oneDNN operators keep primitives per
    thread and input shape, a cache that grows with every new batch shape.
    Taggers keep TensorFlow's default: a UD tagger's export tagged 2,388-2,617
    sentences/s at batch 32 with oneDNN and 2,427-2,493 without
    (`benchmarks/tagger_ab.py` in each setting, two processes each), within
    the spread.
    """
    if metadata.get("task") != "translation":
        return True
    decoding = metadata.get("config", {}).get("decoding", {})
    return decoding.get("precision", "float32") != "float32"


def choose_kernels(model_path: str) -> bool:
    """Before TensorFlow is imported: turns its oneDNN rewrite off
    (`TF_ENABLE_ONEDNN_OPTS=0`) for a SavedModel that does not gain from it
    (`onednn_suits`); returns whether it did. A variable the user set, an
    already imported TensorFlow or a path that is not an export (the loader
    says why later) leave everything as it is."""
    if ONEDNN_VARIABLE in os.environ or "tensorflow" in sys.modules:
        return False
    try:
        metadata = layout.read_metadata(layout.resolve(model_path))
    except (OSError, ValueError):
        return False
    if not metadata or onednn_suits(metadata):
        return False
    os.environ[ONEDNN_VARIABLE] = "0"
    return True


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


def graph_ops(saved_model_dir: str) -> set[str]:
    """The op types of a SavedModel's graph and function library."""
    import_tensorflow()
    # After TensorFlow: the op check reads protos from `tensorflow.core`,
    # whose import would otherwise import TensorFlow with Keras.
    from nlp_lstm.export.serving import opcheck  # noqa: PLC0415

    meta_graph = opcheck.read_meta_graph(saved_model_dir)
    ops = {node.op for node in meta_graph.graph_def.node}
    for function in meta_graph.graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def _unregistered(ops) -> set[str]:
    from tensorflow.python.framework import op_def_registry  # noqa: PLC0415

    return {op for op in ops if op_def_registry.get(op) is None}


# Words of library names that say nothing about which ops they hold.
_GENERIC_WORDS = {"op", "ops", "tokenizer"}


def _named_after(library: str, ops) -> bool:
    """Whether every telling word of `library`'s name (`_sentencepiece_tokenizer.so`:
    sentencepiece) is in the name of one of `ops`."""
    words = set(os.path.basename(library)[1:-3].split("_")) - _GENERIC_WORDS
    return any(all(word in op.lower() for word in words) for op in ops)


def load_text_ops(saved_model_dir: str | None = None) -> None:
    """Registers the tensorflow-text op kernels, as `import tensorflow_text`
    does, without importing its Python package (and Keras with it).

    With `saved_model_dir`, only the libraries of the ops that its graph uses
    and TensorFlow lacks (each library is about 5 MB of memory; all of them,
    100 MB), found by name and checked; without it, all of them.
    """
    tf = import_tensorflow()
    if "tensorflow_text" in sys.modules:
        return
    libraries = text_op_libraries()
    missing = _unregistered(graph_ops(saved_model_dir)) if saved_model_dir else None
    if missing is not None:
        # Likely libraries first, the others only if ops are still missing.
        libraries.sort(key=lambda library: not _named_after(library, missing))
    for library in libraries:
        if missing is not None and not missing:
            return
        tf.load_op_library(library)
        if missing is not None:
            missing = _unregistered(missing)
    if missing:
        raise ValueError(
            f"{saved_model_dir} uses ops that neither TensorFlow nor tensorflow-text "
            f"registers: {sorted(missing)}; install the versions it was exported with"
        )


# What TensorFlow logs once per function of a SavedModel saved without its
# custom gradients (`saved_model.write_version` leaves them out: serving never
# asks for a gradient).
_UNSAVED_GRADIENTS = "with ops with unsaved custom gradients"


def _not_unsaved_gradient_notice(record) -> bool:
    return _UNSAVED_GRADIENTS not in str(record.msg)


def load_saved_model(saved_model_dir: str, tags=None):
    """`tf.saved_model.load`, without its notice, once per function, that the
    export left out the training loops' custom gradients (other warnings
    pass). Register the graph's tensorflow-text ops first
    (`load_text_ops`)."""
    tf = import_tensorflow()
    logger = logging.getLogger("absl")
    logger.addFilter(_not_unsaved_gradient_notice)
    try:
        return tf.saved_model.load(saved_model_dir, tags=tags)
    finally:
        logger.removeFilter(_not_unsaved_gradient_notice)


def use_threads(parallel_calls: int) -> bool:
    """Sets TensorFlow to run `parallel_calls` graph calls at once, each on
    one thread (1 intra-op thread, `parallel_calls` inter-op threads).

    A decoding loop is a long chain of small ops that one core runs best:
    on the 2-core machine, two batches decoded at once on one thread each
    translated 2.2-2.4x the sentences/s of one batch at a time on both
    (`benchmarks/translation_speed.py`). Only possible before TensorFlow
    runs its first op; returns whether it was set.
    """
    tf = import_tensorflow()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(parallel_calls)
    except RuntimeError:  # the runtime is already initialized
        return False
    return True
