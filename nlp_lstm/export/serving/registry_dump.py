"""Prints the op names registered in the running TensorFlow (and tf-text).

This is how the op sets in `opsets/` were made; run it with the interpreter of
a virtual environment that has exactly the release of interest installed (it
imports nothing from `nlp_lstm`, so it runs as a plain script there):

    python -m venv --system-site-packages /tmp/venv2.19
    /tmp/venv2.19/bin/pip install --no-deps tensorflow-cpu==2.19.0
    /tmp/venv2.19/bin/python nlp_lstm/export/serving/registry_dump.py core \
        > nlp_lstm/export/serving/opsets/tf_core_2.19.txt

`core` lists every op in the C++ op registry of `import tensorflow`; `text`
lists the ops that importing `tensorflow_text` and loading each of its op
libraries adds to it (the ops a server that links tf-text has on top). Each
line is an op name followed by the names of its attrs (a graph node with an
attr its server's op does not declare fails to load too).
"""

from __future__ import annotations

import glob
import os
import sys


def registered_ops() -> dict[str, list[str]]:
    """`{op name: [attr names]}` of the C++ op registry."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    buffer = pywrap_tf_session.TF_GetAllOpList()
    ops = op_def_pb2.OpList()
    ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(buffer))
    return {op.name: sorted(attr.name for attr in op.attr) for op in ops.op}


def text_ops() -> dict[str, list[str]]:
    import tensorflow as tf

    core = registered_ops()
    import tensorflow_text

    package = os.path.dirname(tensorflow_text.__file__)
    for library in sorted(
        glob.glob(os.path.join(package, "**", "*.so"), recursive=True)
    ):
        try:
            tf.load_op_library(library)
        except Exception as error:  # a library without ops, or an ABI mismatch
            print(
                f"# not loaded: {os.path.basename(library)}: {error}", file=sys.stderr
            )
    return {name: attrs for name, attrs in registered_ops().items() if name not in core}


def main(argv: list[str]) -> int:
    import tensorflow as tf

    kind = argv[1] if len(argv) > 1 else "core"
    names = registered_ops() if kind == "core" else text_ops()
    version = tf.__version__
    if kind == "text":
        import tensorflow_text

        version = (
            f"tensorflow-text {tensorflow_text.__version__} on tensorflow {version}"
        )
    print(f"# {kind} ops registered by {version}: {len(names)}")
    for name in sorted(names):
        print(" ".join([name, *names[name]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
