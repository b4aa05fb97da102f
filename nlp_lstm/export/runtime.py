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

Nor does loading and calling a SavedModel need TensorFlow's public API
(`tf.*`), whose 1,400 Python modules are most of what `import tensorflow`
still costs: `import_runtime` imports the runtime alone (the C++ library,
eager execution, the SavedModel loader), and the functions here use it.
"""

from __future__ import annotations

import glob
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
import types

from nlp_lstm.export import layout
from nlp_lstm.utils import imports, pages

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
    if isinstance(sys.modules.get("tensorflow"), _DeferredPackage):
        _complete(sys.modules["tensorflow"])
    if "tensorflow" not in sys.modules and "keras" not in sys.modules:
        with imports.missing(["keras"]):
            import tensorflow  # noqa: F401, PLC0415
    import tensorflow as tf  # noqa: PLC0415

    return tf


class _DeferredPackage(types.ModuleType):
    """The `tensorflow` package as `import_runtime` registers it: its
    submodules import, its `__init__` (the public API) has not run. The
    first attribute it lacks runs it, Keras missing as in
    `import_tensorflow`, so that `import tensorflow as tf; tf.constant(1)`
    later in the process works as after a usual import; so does the import
    of a submodule that only `__init__` makes (`tensorflow.compat.v1`,
    `_APIModuleFinder`)."""

    def __getattr__(self, name):
        with _COMPLETION_LOCK:  # another thread may be completing it
            if self.__dict__.get("_completing"):  # one `__init__` lacks
                raise AttributeError(name)
            if isinstance(self, _DeferredPackage):
                _complete(self)
        return getattr(self, name)


class _APIModuleFinder(importlib.abc.MetaPathFinder):
    """Finds a child of the deferred `tensorflow` package that is none of its
    files (`tensorflow.compat`, which `tensorflow/__init__` makes) by
    completing the package first. Deeper modules that are missing (the
    optional ones TensorFlow tries, `tensorflow.python.framework.
    fast_tensor_util`) stay missing."""

    def find_spec(self, name, path=None, target=None):
        package = sys.modules.get("tensorflow")
        parent, _, _ = name.rpartition(".")
        if parent != "tensorflow" or not isinstance(package, _DeferredPackage):
            return None
        if importlib.machinery.PathFinder.find_spec(name, package.__path__):
            return None  # a file of the package: imported as usual
        _complete(package)
        return importlib.machinery.PathFinder.find_spec(name, package.__path__)


_API_MODULE_FINDER = _APIModuleFinder()


# Held while the deferred package's `__init__` runs (reentrant: `__init__`
# itself reads attributes of the package).
_COMPLETION_LOCK = threading.RLock()


def _complete(package) -> None:
    """Runs the deferred `tensorflow` package's `__init__` in it, once."""
    with _COMPLETION_LOCK:
        if not isinstance(package, _DeferredPackage):
            return  # completed by another thread meanwhile
        package.__dict__["_completing"] = True
        try:
            with imports.missing([] if "keras" in sys.modules else ["keras"]):
                package.__spec__.loader.exec_module(package)
        finally:
            del package.__dict__["_completing"]
            package.__class__ = types.ModuleType
            if _API_MODULE_FINDER in sys.meta_path:
                sys.meta_path.remove(_API_MODULE_FINDER)


def import_runtime(release_pages: bool = False) -> None:
    """Imports what loads and runs a SavedModel: TensorFlow's C++ runtime,
    eager execution and the SavedModel loader, without the public API.

    With `release_pages`, the clean pages of library files that linking
    TensorFlow made resident are handed back as soon as its C++ library is
    linked, and again after the import (`utils.pages.release_file_pages`):
    288 of a 436 MB import on the 2-core machine (2026-12-05), nearly all of
    it TensorFlow's symbol names, relocations and start-up code, which the
    process does not read again. The commands do it; so can a process that
    imports TensorFlow only to run an export.

    `tensorflow` is registered as a package whose `__init__` runs on first
    use of an attribute it lacks (`tf.constant`, `tf.__version__`): a
    program that imports TensorFlow afterwards gets all of it. Measured on
    the 2-core machine (2026-12-05, a fresh process loading a bfloat16
    translator and translating a batch, `benchmarks/results/runtime_import/
    corerun.py full|stub MODEL 1`; `docs/benchmarks.md`, "Start-up
    without TensorFlow's public API"): 1.24-1.31 s against 1.98-2.07 s for
    `import_tensorflow`, 1,145 modules against 2,530, peak RSS 654 against
    750 MB. Does nothing when TensorFlow is imported already; where
    TensorFlow's internal layout differs from what this expects, imports
    all of it.
    """
    if "tensorflow" in sys.modules:
        return
    release = pages.release_file_pages if release_pages else lambda: 0
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        import_tensorflow()  # the usual error: TensorFlow is not installed
        release()
        return
    package = _DeferredPackage("tensorflow")
    package.__spec__ = spec
    package.__loader__ = spec.loader
    package.__file__ = spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = "tensorflow"
    sys.modules["tensorflow"] = package
    sys.meta_path.insert(0, _API_MODULE_FINDER)
    try:
        # The C++ library alone first: most of the import's resident memory
        # is the pages linking it read (`release_pages`).
        from tensorflow.python import pywrap_tensorflow  # noqa: F401, PLC0415

        release()
        from tensorflow.python.compat import v2_compat  # noqa: PLC0415
        from tensorflow.python.saved_model import load  # noqa: F401, PLC0415

        # What `import tensorflow` turns on: eager execution, resource
        # variables, control flow v2.
        v2_compat.enable_v2_behavior()
    except (ImportError, AttributeError):
        _complete(package)
    release()


def strings(values):
    """A string tensor of `values` (a list of str or bytes, or of lists of
    them), without TensorFlow's public API."""
    from tensorflow.python.framework import constant_op, dtypes  # noqa: PLC0415

    return constant_op.constant(values, dtypes.string)


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
    Nor does a tagger: a UD tagger's export tagged 2,388-2,617 sentences/s
    at batch 32 with oneDNN and 2,427-2,493 without (`benchmarks/tagger_ab.py`
    in each setting, two processes each), and `nlp-lstm tag --pretokenized`
    of the 2,077 test sentences took 3.87-4.29 s with them and 4.15-4.36 s
    without, at 1,178-1,189 MB against 1,150-1,159, where oneDNN also logged
    an error line about bool tensors (2026-12-05; docs/benchmarks.md,
    "Start-up without TensorFlow's public API").
    """
    if metadata.get("task") != "translation":
        return False
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
    import_runtime()
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
    import_runtime()
    from tensorflow.python.framework import load_library  # noqa: PLC0415

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
        load_library.load_op_library(library)
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
    import_runtime()
    from tensorflow.python.saved_model import load  # noqa: PLC0415

    logger = logging.getLogger("absl")
    logger.addFilter(_not_unsaved_gradient_notice)
    try:
        return load.load(saved_model_dir, tags=tags)
    finally:
        logger.removeFilter(_not_unsaved_gradient_notice)


class LoadedSignatures:
    """What `load_signatures` loaded partially: `signatures`, by name, and
    the loaded `root` object, which owns the variables and resources they
    capture (a resource is destroyed with its object: keep this one)."""

    def __init__(self, root, signatures: dict):
        self.root = root
        self.signatures = signatures


def load_signatures(saved_model_dir: str, names):
    """A SavedModel with only the signatures `names` loaded: an object whose
    `signatures[name]` is each (`LoadedSignatures`, or the whole loaded
    SavedModel where a partial load is not possible).

    `tf.saved_model.load` turns every function of the library into a Python
    graph, whichever signatures the caller runs: a translator export's 45
    functions took 0.66 s, against 0.30 s for the 18 that `translate_greedy`
    calls (docs/benchmarks.md, "Loading one signature"). This loads a copy
    of the SavedModel's graph whose library holds only the functions that
    the signatures `names` reach, and of its objects only those signatures
    and the root's other children (the variables and resources they
    capture), through TensorFlow's partial loader. Where that fails (a
    SavedModel laid out otherwise, or a TensorFlow whose internal loader
    changed), it falls back to `load_saved_model`: the same functions,
    loaded slower. Register the graph's tensorflow-text ops first
    (`load_text_ops`).
    """
    names = list(names)
    import_runtime()
    try:
        loaded = _load_partially(saved_model_dir, names)
    except (ImportError, AttributeError, TypeError, LookupError, ValueError):
        loaded = None
    return load_saved_model(saved_model_dir) if loaded is None else loaded


def _load_partially(saved_model_dir: str, names: list) -> LoadedSignatures | None:
    """`load_signatures`' partial load; None when the SavedModel lacks one of
    `names` or is not laid out as a root with `signatures` among its
    children."""
    from tensorflow.python.checkpoint import (  # noqa: PLC0415
        checkpoint_options,
    )
    from tensorflow.python.framework import ops  # noqa: PLC0415
    from tensorflow.python.saved_model import (  # noqa: PLC0415
        load as saved_model_load,
    )
    from tensorflow.python.saved_model import (  # noqa: PLC0415
        load_options,
        loader_impl,
    )

    proto = loader_impl.parse_saved_model(saved_model_dir)
    if len(proto.meta_graphs) != 1:
        return None
    meta_graph = proto.meta_graphs[0]
    objects = meta_graph.object_graph_def
    children = {child.local_name: child.node_id for child in objects.nodes[0].children}
    if "signatures" not in children:
        return None
    signature_nodes = {
        child.local_name: child.node_id
        for child in objects.nodes[children["signatures"]].children
    }
    if any(name not in signature_nodes for name in names):
        return None
    # The functions to keep: those the signatures call, and those of the
    # other objects (a resource's creator, initializer and destroyer).
    wanted = set()
    for name in names:
        node = objects.nodes[signature_nodes[name]]
        if node.WhichOneof("kind") != "bare_concrete_function":
            return None
        wanted.add(node.bare_concrete_function.concrete_function_name)
    for node in objects.nodes:
        if node.WhichOneof("kind") == "function":
            wanted.update(node.function.concrete_functions)
    library = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    kept, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name in kept or name not in library:
            continue
        kept.add(name)
        for node in library[name].node_def:
            for value in node.attr.values():
                todo.extend([value.func.name] + [f.name for f in value.list.func])
    functions = [f for f in meta_graph.graph_def.library.function
                 if f.signature.name in kept]
    del meta_graph.graph_def.library.function[:]
    meta_graph.graph_def.library.function.extend(functions)
    for name in list(objects.concrete_functions):
        if name not in kept:
            del objects.concrete_functions[name]
    paths = [f"root.signatures.{name}" for name in names] + [
        f"root.{child}" for child in children if child != "signatures"
    ]
    logger = logging.getLogger("absl")
    logger.addFilter(_not_unsaved_gradient_notice)
    try:
        with ops.init_scope():
            loader = saved_model_load.Loader(
                objects,
                proto,
                saved_model_dir,
                checkpoint_options.CheckpointOptions(),
                load_options.LoadOptions(),
                paths,
            )
    finally:
        logger.removeFilter(_not_unsaved_gradient_notice)
    return LoadedSignatures(
        loader.get(0),
        {name: loader.get(f"root.signatures.{name}") for name in names},
    )


def use_threads(parallel_calls: int) -> bool:
    """Sets TensorFlow to run `parallel_calls` graph calls at once, each on
    one thread (1 intra-op thread, `parallel_calls` inter-op threads).

    A decoding loop is a long chain of small ops that one core runs best:
    on the 2-core machine, two batches decoded at once on one thread each
    translated 2.2-2.4x the sentences/s of one batch at a time on both
    (`benchmarks/translation_speed.py`). Only possible before TensorFlow
    runs its first op; returns whether it was set.
    """
    import_runtime()
    from tensorflow.python.eager import context  # noqa: PLC0415

    # What tf.config.threading's setters do.
    try:
        context.context().intra_op_parallelism_threads = 1
        context.context().inter_op_parallelism_threads = parallel_calls
    except RuntimeError:  # the runtime is already initialized
        return False
    return True
