"""export.runtime: which tensorflow-text libraries a graph's ops come from."""

import os

import pytest

from nlp_lstm.export import runtime
from tests.helpers import run_in_fresh_process


@pytest.mark.parametrize(
    "library, ops, expected",
    [
        ("_sentencepiece_tokenizer.so", {"SentencepieceTokenizeOp"}, True),
        ("_fast_sentencepiece_tokenizer.so", {"SentencepieceTokenizeOp"}, False),
        (
            "_fast_sentencepiece_tokenizer.so",
            {"TFText>FastSentencepieceTokenize"},
            True,
        ),
        ("_regex_split_ops.so", {"RegexSplitWithOffsets"}, True),
        ("_regex_split_ops.so", {"SentencepieceOp"}, False),
    ],
)
def test_libraries_are_matched_by_their_telling_words(library, ops, expected):
    assert runtime._named_after(os.path.join("ops", library), ops) is expected


def test_the_installed_tensorflow_text_has_op_libraries():
    libraries = runtime.text_op_libraries()
    names = {os.path.basename(library) for library in libraries}
    assert "_sentencepiece_tokenizer.so" in names
    assert all(os.path.isfile(library) for library in libraries)


def _saved_without_gradients(directory):
    """A module whose function has a custom gradient, saved as the exports
    save (`experimental_custom_gradients=False`)."""
    import tensorflow as tf

    @tf.custom_gradient
    def doubled(x):
        return 2.0 * x, lambda upstream: 2.0 * upstream

    module = tf.Module()
    module.call = tf.function(
        lambda x: doubled(x), input_signature=[tf.TensorSpec([None], tf.float32)]
    )
    options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
    tf.saved_model.save(module, str(directory), options=options)
    return str(directory)


def test_loading_an_export_hides_only_the_unsaved_gradient_notice(tmp_path, caplog):
    import logging

    import tensorflow as tf

    path = _saved_without_gradients(tmp_path / "model")
    with caplog.at_level(logging.WARNING):
        tf.saved_model.load(path)
    assert "unsaved custom gradients" in caplog.text  # what TensorFlow says
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        loaded = runtime.load_saved_model(path)
        logging.getLogger("absl").warning("a real warning")
    assert "unsaved custom gradients" not in caplog.text
    assert "a real warning" in caplog.text
    assert loaded.call(tf.constant([1.5])).numpy().tolist() == [3.0]


def _export_folder(directory, metadata):
    """The files `choose_kernels` reads of an export: a SavedModel's
    `saved_model.pb` (empty here) and `assets.extra/nlp_lstm.json`."""
    import json

    (directory / "assets.extra").mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"")
    (directory / "assets.extra" / "nlp_lstm.json").write_text(json.dumps(metadata))
    return str(directory)


def _translator(precision=None):
    decoding = {"beam_size": 5} if precision is None else {"precision": precision}
    return {"task": "translation", "config": {"decoding": decoding}}


@pytest.mark.parametrize(
    "metadata, expected",
    [
        (_translator(), False),
        (_translator("float32"), False),
        (_translator("bfloat16"), True),
        ({"task": "tagging", "config": {}}, False),
    ],
)
def test_only_bfloat16_translators_keep_onednn(metadata, expected):
    assert runtime.onednn_suits(metadata) is expected


def _choose_in_fresh_process(path, onednn=None):
    """`choose_kernels(path)` in a new process (`TF_ENABLE_ONEDNN_OPTS` as
    `onednn`, None: unset), then TensorFlow imported: `[chosen, TensorFlow
    imported before, the variable, TensorFlow's oneDNN on]` as strings."""
    code = f"""
        import os, sys
        from nlp_lstm.export import runtime
        chosen = runtime.choose_kernels({path!r})
        before = "tensorflow" in sys.modules
        tf = runtime.import_tensorflow()
        from tensorflow.python.util import _pywrap_util_port
        print(chosen, before, os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
              _pywrap_util_port.IsMklEnabled())
    """
    output = run_in_fresh_process(code, env={"TF_ENABLE_ONEDNN_OPTS": onednn})
    return output.split()[-4:]


def test_a_float32_translator_runs_without_onednn_unless_the_user_says(tmp_path):
    float32 = _export_folder(tmp_path / "f32" / "1", _translator())
    bfloat16 = _export_folder(tmp_path / "bf16" / "1", _translator("bfloat16"))
    # Decided before TensorFlow is imported, and TensorFlow then has it off.
    assert _choose_in_fresh_process(float32) == ["True", "False", "0", "False"]
    # The model folder (its highest version) resolves as the runner does.
    assert _choose_in_fresh_process(str(tmp_path / "f32"))[:3] == ["True", "False", "0"]
    missing = _choose_in_fresh_process(str(tmp_path / "nowhere"))
    assert missing[:3] == ["False", "False", "None"]
    default = missing[3]  # TensorFlow's own choice on this CPU
    assert _choose_in_fresh_process(bfloat16) == ["False", "False", "None", default]
    assert _choose_in_fresh_process(float32, onednn="1") == [
        "False", "False", "1", "True",
    ]


def test_threads_that_first_use_tensorflow_at_once_all_get_it():
    """After `import_runtime`, the first `tf.*` attribute runs TensorFlow's
    `__init__`; threads asking at the same time wait for it, none sees a
    half-made package."""
    output = run_in_fresh_process("""
        import sys, threading
        from nlp_lstm.export import runtime
        runtime.import_runtime()
        deferred = type(sys.modules["tensorflow"]).__name__
        import tensorflow as tf
        values, errors = [], []

        def use():
            try:
                values.append(int(tf.constant(2).numpy()))
            except Exception as error:
                errors.append(repr(error))

        threads = [threading.Thread(target=use) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(deferred, values, errors)
    """)
    assert output.strip().splitlines()[-1] == "_DeferredPackage [2, 2, 2, 2] []"


RESIDENT_TENSORFLOW_FILES = """
    import os
    from nlp_lstm.cli import common
    from nlp_lstm.export import runtime
    from nlp_lstm.utils import pages
    if os.environ["PAGES"] == "command":  # as `translate` and `tag` start
        common.start_runtime("no-export-here", 2)
    else:
        runtime.import_runtime(release_pages=os.environ["PAGES"] == "release")
    with open(pages.SMAPS) as stream:
        smaps = stream.read()
    # Every resident page of TensorFlow's library files, released or not.
    mappings = pages.releasable_mappings(smaps, paths=["libtensorflow"])
    import tensorflow as tf  # TensorFlow still works: its public API, an op
    product = tf.matmul(tf.ones([2, 3]), tf.ones([3, 2])).numpy().sum()
    print(sum(resident for _, _, resident in mappings) >> 20, product)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="Linux's smaps")
def test_the_runtime_hands_back_the_pages_linking_tensorflow_read():
    kept = run_in_fresh_process(RESIDENT_TENSORFLOW_FILES, env={"PAGES": "keep"})
    released = run_in_fresh_process(
        RESIDENT_TENSORFLOW_FILES, env={"PAGES": "release"}
    )
    command = run_in_fresh_process(
        RESIDENT_TENSORFLOW_FILES, env={"PAGES": "command"}
    )
    kept, released, command = kept.split(), released.split(), command.split()
    assert kept[-1] == released[-1] == command[-1] == "12.0"
    # 2026-12-05, TF 2.21: 300 MB resident without, 25 MB with.
    assert int(released[-2]) < int(kept[-2]) / 3
    assert int(command[-2]) < int(kept[-2]) / 3
