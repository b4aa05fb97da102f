"""export.runtime: which tensorflow-text libraries a graph's ops come from."""

import os

import pytest

from nlp_lstm.export import runtime


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
