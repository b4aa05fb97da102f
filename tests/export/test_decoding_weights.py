"""An export makes what its searches read every call once: the tied output
kernel (the embeddings transposed), the cells' merged kernels, the first
decoder cell's product with every target embedding and the encoder's first
layer's input projections of every source embedding become variables of the
SavedModel; the model's own variables are not copied."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from nlp_lstm.decoding.translate import decoding_variables, translate_ids
from nlp_lstm.export.saved_model import saved_root
from nlp_lstm.export.translator import TranslatorModule
from nlp_lstm.text import sentencepiece as sp
from tests import helpers

TEXT = ["the cat sat on the mat", "a dog runs in the park", "hello world"] * 30


def tiny_translator(tied: bool, vocab_size: int = 60):
    return helpers.tiny_translator(vocab_size, tied=tied, seed=3)


def variable_reads_transposed(function) -> list[str]:
    """Names of the Transpose ops of `function`'s graph, and of the functions
    it calls, that transpose a variable as read (work a call would redo
    every time)."""
    graph_def = function.graph.as_graph_def()
    bodies = [list(graph_def.node)] + [
        list(f.node_def) for f in graph_def.library.function
    ]
    found = []
    for nodes in bodies:
        op_of = {node.name: node.op for node in nodes}
        for node in nodes:
            source = node.input[0].lstrip("^").split(":")[0] if node.input else ""
            if node.op == "Transpose" and op_of.get(source) == "ReadVariableOp":
                found.append(node.name)
    return found


@pytest.mark.parametrize("tied", [True, False])
def test_decoding_variables_hold_the_decoding_weights(tied):
    model = tiny_translator(tied)
    variables = decoding_variables(model)
    made = model.decoding_weights(input_tables=True)
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
    embeddings = model._target_embedding().embeddings.numpy()
    width = embeddings.shape[1]
    for index, (layer, cell) in enumerate(
        zip(variables["cells"], model.decoder.cells)
    ):
        # An LSTM's [kernel; recurrent_kernel], kept transposed, is made
        # once; its bias is the cell's.
        assert isinstance(layer["kernel_t"], tf.Variable) and layer["kernel"] is None
        merged = np.concatenate([cell.kernel.numpy(), cell.recurrent_kernel.numpy()])
        assert layer["bias"] is cell.bias
        if index == 0:
            # The first cell's product with each embedding (and its bias) is
            # a table; its kernel keeps the other inputs' rows.
            table = embeddings @ merged[:width] + cell.bias.numpy()
            np.testing.assert_allclose(layer["input_table"].numpy(), table, atol=1e-5)
            merged = merged[width:]
        else:
            assert "input_table" not in layer
        np.testing.assert_array_equal(layer["kernel_t"].numpy(), merged.T)
    # The encoder's first layer's input projections of every source
    # embedding: the forward direction's rows, then the backward's.
    first = model.encoder.rnn_layers[0]
    source = model.source_embedding.embeddings.numpy()
    expected = np.concatenate([
        source @ direction.cell.kernel.numpy() + direction.cell.bias.numpy()
        for direction in (first.forward_layer, first.backward_layer)
    ])
    table = variables["encoder_table"]
    assert isinstance(table, tf.Variable) and not table.trainable
    np.testing.assert_allclose(table.numpy(), expected, atol=1e-5)


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


def called_functions(graph_def, name: str) -> set[str]:
    """The library functions that function `name` of `graph_def` calls,
    directly or through others (while loops' bodies included)."""
    library = {f.signature.name: f for f in graph_def.library.function}
    found, todo = set(), [name]
    while todo:
        for node in library[todo.pop()].node_def:
            for value in node.attr.values():
                names = [value.func.name] + [f.name for f in value.list.func]
                for callee in names:
                    if callee in library and callee not in found:
                        found.add(callee)
                        todo.append(callee)
    return found


def test_the_signatures_share_one_encoder_and_one_beam_search(tmp_path):
    model_bytes = sp.train_sentencepiece(TEXT, vocab_size=300)
    size = sp.processor(model_bytes).vocab_size()
    model = tiny_translator(tied=True, vocab_size=size)
    module = TranslatorModule(model, model_bytes, model_bytes, beam_size=2)
    # Saved as `saved_model.write_version` saves it.
    options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
    tf.saved_model.save(
        saved_root(module), str(tmp_path), signatures=module.signatures(),
        options=options,
    )
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((tmp_path / "saved_model.pb").read_bytes())
    graph_def = saved.meta_graphs[0].graph_def
    signature_defs = saved.meta_graphs[0].signature_def
    signature_function = {
        key: signature_defs[key].outputs[next(iter(signature_defs[key].outputs))].name
        for key in module.signatures()
    }
    # The signatures' functions, by the call in the top-level graph.
    top = {node.name: node for node in graph_def.node}
    calls = {
        key: top[output.split(":")[0]].attr["f"].func.name
        for key, output in signature_function.items()
    }
    reached = {key: called_functions(graph_def, name) for key, name in calls.items()}
    encoders = [f.signature.name for f in graph_def.library.function
                if f.signature.name.startswith("__inference__encode_")]
    searches = [f.signature.name for f in graph_def.library.function
                if f.signature.name.startswith("__inference__beam_search_")]
    # One copy of each, called by the signatures that need it.
    assert len(encoders) == 1 and len(searches) == 1
    assert all(encoders[0] in functions for functions in reached.values())
    assert searches[0] in reached["serving_default"]
    assert searches[0] in reached["translate_ids"]
    # The encoder's loops are its function's, not copies in each signature.
    encoder_bodies = called_functions(graph_def, encoders[0])
    assert encoder_bodies
    for functions in reached.values():
        assert encoder_bodies <= functions
