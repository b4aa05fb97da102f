"""The models' seams: the encoder's `implementation` switch (checked against
the Keras `Bidirectional(LSTM)` definition) and its `layer_fn`, the embedder's
`char_fn`, the tagger's `scores`/`decode` parts and `translate_ids`'
overrides."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.decoding.translate import translate_ids
from nlp_lstm.layers.crf import CRF
from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from nlp_lstm.layers.word_embedding import WordEmbedder
from nlp_lstm.models.tagger import Tagger
from nlp_lstm.models.translator import build_translator
from tests.models.test_translator_parts import tiny_config
from tests.test_case import TestCase

CHECKS = TestCase()

LENGTHS = np.array([6, 4, 1])


def padded_batch():
    x = np.random.default_rng(2).normal(size=(3, 6, 5)).astype(np.float32)
    mask = np.arange(6)[None, :] < LENGTHS[:, None]
    return tf.constant(x * mask[:, :, None]), tf.constant(mask)


def run_with_gradients(encoder, x, mask, weights, initial_states=None,
                       training=True):
    """Outputs, final states and gradients. The encoders have no dropout: with
    `training` the loops run their hand-written backward pass; without, the
    loop of inference, differentiated by TensorFlow."""
    initial = [s for layer in initial_states or [] for s in layer]
    with tf.GradientTape() as tape:
        tape.watch([x, *initial])
        outputs, states = encoder(
            x, mask=mask, initial_states=initial_states, training=training
        )
        loss = tf.reduce_sum(outputs * weights) + tf.reduce_sum(
            states[0][-1] * states[1][0]
        )
    gradients = tape.gradient(loss, [x] + encoder.trainable_variables + initial)
    return outputs, states, gradients


# (weights per direction of one layer, states per layer)
CELL_SHAPES = {"lstm": (3, 2), "peephole_lstm": (4, 2), "gru": (3, 1)}


@pytest.mark.parametrize("cell", sorted(CELL_SHAPES))
@pytest.mark.parametrize("with_initial_states", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_loops_implementation_matches_the_keras_definition_masked(
    cell, with_initial_states, training
):
    """Outputs, final states and every gradient (weights, inputs, initial
    states) of the whole residual stack on a right-padded batch, `"loops"`
    against `"keras"`, for every cell: the training loop (hand-written
    gradients) and the inference loop."""
    keras.utils.set_random_seed(8)
    x, mask = padded_batch()
    encoders = {
        name: StackedBidirectionalEncoder(2, 4, cell=cell, implementation=name)
        for name in ("keras", "loops")
    }
    for encoder in encoders.values():
        encoder.build(x.shape)
    encoders["loops"].set_weights(encoders["keras"].get_weights())
    num_weights, num_states = CELL_SHAPES[cell]
    rng = np.random.default_rng(5)
    initial_states = None
    if with_initial_states:
        initial_states = [
            [
                tf.constant(rng.normal(size=(3, 8)), tf.float32)
                for _ in range(num_states)
            ]
            for _ in range(2)
        ]
    weights = tf.constant(np.random.default_rng(4).normal(size=(3, 6, 8)), tf.float32)
    real = mask.numpy()[:, :, None]
    (outputs, states, gradients), (expected, expected_states, expected_gradients) = [
        run_with_gradients(
            encoders[name], x, mask, weights * real, initial_states, training
        )
        for name in ("loops", "keras")
    ]
    np.testing.assert_allclose(outputs * real, expected * real, atol=1e-5)
    for layer_states, layer_expected in zip(states, expected_states, strict=True):
        assert len(layer_states) == num_states
        for value, reference in zip(layer_states, layer_expected, strict=True):
            np.testing.assert_allclose(value, reference, atol=1e-5)
    num_initial = 2 * num_states if with_initial_states else 0
    assert len(gradients) == 1 + 4 * num_weights + num_initial
    for gradient, reference in zip(gradients, expected_gradients, strict=True):
        np.testing.assert_allclose(gradient, reference, atol=1e-5)
    # Padded positions of the input get no gradient.
    assert not np.any(gradients[0].numpy()[2, 1:])
    if with_initial_states:
        # The initial states matter (a wrong layout would not show otherwise).
        _, zero_states, _ = run_with_gradients(encoders["loops"], x, mask, weights)
        assert not np.allclose(zero_states[0][0], states[0][0], atol=1e-3)


def test_auto_picks_loops_for_every_cell():
    for cell in CELL_SHAPES:
        assert StackedBidirectionalEncoder(1, 2, cell=cell).uses_loops
        assert not StackedBidirectionalEncoder(
            1, 2, cell=cell, implementation="keras"
        ).uses_loops


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"implementation": "cudnn"}, "implementation must be one of .*'cudnn'"),
        ({"cell": "rnn"}, "cell must be one of lstm, peephole_lstm, gru, got 'rnn'"),
    ],
)
def test_implementation_errors_quote_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StackedBidirectionalEncoder(**kwargs)


@pytest.mark.parametrize("implementation", ["keras", "loops"])
def test_implementation_is_serialized(implementation):
    encoder = StackedBidirectionalEncoder(2, 3, implementation=implementation)
    x = np.random.RandomState(6).randn(2, 4, 5).astype("float32")
    rebuilt = CHECKS.run_serialization_test(encoder, lambda layer, _: layer(x)[0], None)
    assert rebuilt.implementation == implementation


def test_layer_fn_runs_each_layer_inside_the_encoders_residual_stack():
    keras.utils.set_random_seed(3)
    x, mask = padded_batch()
    encoder = StackedBidirectionalEncoder(3, 4)
    expected, expected_states = encoder(x, mask=mask)
    calls = []

    def layer_fn(layer, inputs, mask, training):
        calls.append(layer)
        return encoder.run_layer(layer, inputs, mask, training)

    outputs, states = encoder(x, mask=mask, layer_fn=layer_fn)
    assert calls == encoder.rnn_layers
    np.testing.assert_array_equal(outputs, expected)
    for value, reference in zip(
        tf.nest.flatten(states), tf.nest.flatten(expected_states), strict=True
    ):
        np.testing.assert_array_equal(value, reference)


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_char_fn_replaces_the_char_encoder_only(char_encoder):
    keras.utils.set_random_seed(4)
    embedder = WordEmbedder(
        10, 4, char_vocabulary_size=6, char_encoder=char_encoder, char_units=3
    )
    inputs = {
        "word_ids": tf.constant([[1, 2, 0]]),
        "char_ids": tf.constant([[[1, 2, 0], [3, 0, 0], [0, 0, 0]]]),
    }
    expected = embedder(inputs)
    np.testing.assert_array_equal(
        embedder(inputs, char_fn=embedder.encode_chars), expected
    )
    shapes = []

    def zeros(embedded, char_mask):
        shapes.append((tuple(embedded.shape), char_mask.numpy().tolist()))
        return tf.zeros((tf.shape(embedded)[0], 5))

    # The full width, as a TFLite export runs it (`trim_chars=False`).
    outputs = embedder(inputs, char_fn=zeros, trim_chars=False).numpy()
    assert shapes == [((3, 3, embedder.char_dim), [[1, 1, 0], [1, 0, 0], [0, 0, 0]])]
    assert outputs.shape == (1, 3, 4 + 5)
    np.testing.assert_array_equal(outputs[..., :4], np.asarray(expected)[..., :4])
    assert not outputs[..., 4:].any()


def test_tagger_scores_and_decode_take_the_parts_to_run():
    keras.utils.set_random_seed(5)
    embedder = WordEmbedder(10, 4, char_vocabulary_size=6, char_encoder="lstm",
                            char_units=3)
    model = Tagger(embedder, StackedBidirectionalEncoder(2, 3), 4, crf=CRF(4))
    inputs = {
        "word_ids": tf.constant([[1, 2, 3], [4, 0, 0]]),
        "char_ids": tf.constant([[[1, 2], [3, 0], [4, 5]], [[1, 0], [0, 0], [0, 0]]]),
    }
    expected_scores, expected_tags = model(inputs), model.decode(inputs)
    used = []

    def embedder_fn(inputs, training):
        used.append("embedder")
        return embedder(inputs, training=training, char_fn=embedder.encode_chars)

    encoder_fn = functools.partial(
        model.encoder, layer_fn=model.encoder.run_layer
    )
    scores = model.scores(inputs, embedder_fn=embedder_fn, encoder_fn=encoder_fn)
    tags = model.decode(inputs, embedder_fn=embedder_fn, encoder_fn=encoder_fn)
    assert used == ["embedder", "embedder"]
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
    np.testing.assert_array_equal(tags, expected_tags)
    assert not tags.numpy()[1, 1:].any()


def test_translate_ids_overrides_max_lengths_eos_and_the_encoder():
    keras.utils.set_random_seed(6)
    model = build_translator(tiny_config(), 30, 30)
    for variable in model.weights:
        variable.assign(variable.numpy() * 3.0)
    source = tf.constant([[5, 6, 7, 3], [8, 3, 0, 0]])
    expected = translate_ids(model, source)
    default = translate_ids(model, source, max_lengths=tf.constant([0, -1]))
    encoder_fn = functools.partial(model.encoder, layer_fn=model.encoder.run_layer)
    same = translate_ids(
        model, source, eos_id=tf.constant(model.eos_id), encoder_fn=encoder_fn
    )
    for result in (default, same):
        for key in ("ids", "lengths", "scores"):
            np.testing.assert_array_equal(result[key], expected[key])
    short = translate_ids(model, source, beam_size=2, max_lengths=tf.constant([1, 2]))
    assert short["ids"].shape[1] <= 3
    assert (short["lengths"].numpy() <= [1, 2]).all()
    # Another EOS id ends the output at its first occurrence.
    first = int(expected["ids"][0, 0])
    other = translate_ids(model, source, eos_id=tf.constant(first))
    assert int(other["lengths"][0]) == 0


@pytest.mark.parametrize("cell", sorted(CELL_SHAPES))
def test_a_first_layer_that_looks_up_its_input_projections_equals_the_encoder(cell):
    """`input_table`: token ids in, the first layer's input projections
    looked up from `input_table(embeddings)`: the same outputs and final
    states as the encoder given the embedded ids (right padding, 3 layers)."""
    keras.utils.set_random_seed(8)
    encoder = StackedBidirectionalEncoder(3, 4, cell=cell)
    embeddings = tf.constant(
        np.random.default_rng(5).normal(size=(9, 5)), tf.float32
    )
    mask = tf.constant(np.arange(6)[None, :] < LENGTHS[:, None])
    ids = tf.constant(np.random.default_rng(6).integers(1, 9, size=(3, 6)), tf.int32)
    ids = tf.where(mask, ids, 0)
    expected, expected_states = encoder(tf.gather(embeddings, ids), mask=mask)
    table = encoder.input_table(embeddings)
    assert table.shape[0] == 2 * 9
    found, states = encoder(ids, mask=mask, input_table=table)
    CHECKS.assertAllClose(found, expected, atol=1e-5)
    for got, want in zip(
        tf.nest.flatten(states), tf.nest.flatten(expected_states), strict=True
    ):
        CHECKS.assertAllClose(got, want, atol=1e-5)


def test_an_input_table_is_for_inference_through_the_loops():
    keras_encoder = StackedBidirectionalEncoder(1, 4, implementation="keras")
    keras_encoder(tf.zeros([1, 2, 5]))
    with pytest.raises(ValueError, match="implementation 'auto' or 'loops'"):
        keras_encoder.input_table(tf.zeros([9, 5]))
    encoder = StackedBidirectionalEncoder(1, 4)
    encoder(tf.zeros([1, 2, 5]))
    table = encoder.input_table(tf.zeros([9, 5]))
    with pytest.raises(ValueError, match="input_table is for inference"):
        encoder(tf.zeros([1, 2], tf.int32), training=True, input_table=table)
