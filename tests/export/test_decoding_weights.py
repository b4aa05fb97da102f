"""An export makes what its searches read every call once: the tied output
kernel (the embeddings transposed) and the cells' merged kernels become
variables of the SavedModel; the model's own variables are not copied."""

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config import TranslatorModelConfig
from nlp_lstm.decoding.translate import decoding_variables, translate_ids
from nlp_lstm.export.translator import TranslatorModule
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp

TEXT = ["the cat sat on the mat", "a dog runs in the park", "hello world"] * 30


def tiny_translator(tied: bool, vocab_size: int = 60):
    tf.keras.utils.set_random_seed(3)
    config = TranslatorModelConfig(embedding_dim=8, tie_output=tied)
    config.share_embeddings = tied
    config.encoder.units = 4
    config.decoder.units = 8
    return build_translator(config, vocab_size, vocab_size)


def variable_reads_transposed(function) -> list[str]:
    """Names of the Transpose ops of `function`'s graph that transpose a
    variable as read (work a call would redo every time)."""
    return [
        op.name
        for op in function.graph.get_operations()
        if op.type == "Transpose" and op.inputs[0].op.type == "ReadVariableOp"
    ]


@pytest.mark.parametrize("tied", [True, False])
def test_decoding_variables_hold_the_decoding_weights(tied):
    model = tiny_translator(tied)
    variables = decoding_variables(model)
    made = model.decoding_weights()
    flat_variables = tf.nest.flatten(variables)
    flat_made = tf.nest.flatten(made)
    assert len(flat_variables) == len(flat_made)
    for variable, value in zip(flat_variables, flat_made):
        if value is None:
            assert variable is None
        else:
            np.testing.assert_array_equal(np.asarray(variable), np.asarray(value))
    kernel = variables["output_kernel"]
    if tied:  # the embeddings transposed: a variable of its own
        assert isinstance(kernel, tf.Variable) and not kernel.trainable
        np.testing.assert_array_equal(
            kernel.numpy(), model.source_embedding.embeddings.numpy().T
        )
    else:  # the projection's own kernel, not a copy
        assert kernel is model.output_projection.kernel
    for layer, cell in zip(variables["cells"], model.decoder.cells):
        # An LSTM's [kernel; recurrent_kernel], kept transposed, is made
        # once; its bias is the cell's.
        assert isinstance(layer["kernel_t"], tf.Variable) and layer["kernel"] is None
        merged = np.concatenate([cell.kernel.numpy(), cell.recurrent_kernel.numpy()])
        np.testing.assert_array_equal(layer["kernel_t"].numpy(), merged.T)
        assert layer["bias"] is cell.bias


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_search_with_the_variables_translates_as_without(beam_size):
    model = tiny_translator(tied=True)
    source_ids = tf.constant([[5, 9, 12, 2], [7, 2, 0, 0]], tf.int32)
    expected = translate_ids(model, source_ids, beam_size=beam_size)
    found = translate_ids(
        model, source_ids, beam_size=beam_size, weights=decoding_variables(model)
    )
    for key in ("ids", "lengths"):
        np.testing.assert_array_equal(found[key], expected[key])
    np.testing.assert_allclose(found["scores"], expected["scores"], rtol=1e-6)


def test_the_exported_search_does_not_transpose_a_variable_per_call():
    model_bytes = sp.train_sentencepiece(TEXT, vocab_size=300)
    size = sp.processor(model_bytes).vocab_size()
    model = tiny_translator(tied=True, vocab_size=size)
    module = TranslatorModule(model, model_bytes, model_bytes, beam_size=2)
    for function in (module.serve_greedy, module.serve):
        concrete = function.get_concrete_function()
        assert variable_reads_transposed(concrete) == []
    # The same search made without the prepared weights transposes the
    # embeddings at every call: what the check above looks for.
    search = tf.function(
        lambda ids: translate_ids(model, ids)["ids"],
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    assert variable_reads_transposed(search.get_concrete_function()) != []
