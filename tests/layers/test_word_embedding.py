"""WordEmbedder: shapes and serialization for every character encoder."""

import numpy as np
import pytest

from nlp_lstm.layers.word_embedding import WordEmbedder
from tests.test_case import TestCase

FEATURES = {
    "word_ids": np.array([[2, 3, 1, 0], [4, 0, 0, 0]], "int32"),
    "char_ids": np.random.default_rng(0).integers(0, 6, (2, 4, 5)).astype("int32"),
    "casing_ids": np.array([[1, 2, 3, 0], [4, 0, 0, 0]], "int32"),
}


class TestWordEmbedder(TestCase):
    @pytest.mark.parametrize(
        "char_encoder, casing_dim, width",
        [("cnn", 2, 4 + 3 + 2), ("lstm", 2, 4 + 6 + 2), ("none", 0, 4)],
    )
    def test_layer(self, char_encoder, casing_dim, width):
        layer, _ = self.run_layer_test(
            WordEmbedder,
            init_kwargs={
                "vocabulary_size": 8,
                "word_dim": 4,
                "char_vocabulary_size": 6,
                "char_encoder": char_encoder,
                "char_dim": 3,
                "char_units": 3,
                "num_casing": 8,
                "casing_dim": casing_dim,
                "dropout": 0.1,
                "word_dropout": 0.1,
            },
            input_data=FEATURES,
            expected_output_shape=(2, 4, width),
        )
        assert layer.output_dim == width
        np.testing.assert_array_equal(
            np.asarray(layer.compute_mask(FEATURES)), FEATURES["word_ids"] != 0
        )

    def test_char_features_ignore_padding(self):
        embedder = WordEmbedder(8, 4, char_vocabulary_size=6, char_units=3)
        more_padding = np.pad(FEATURES["char_ids"], [(0, 0), (0, 0), (0, 3)])
        padded = dict(FEATURES, char_ids=more_padding)
        self.assertAllClose(embedder(FEATURES), embedder(padded))


@pytest.mark.parametrize("scale", [0.05, 0.2])
def test_embeddings_start_uniform_in_the_configured_range(scale):
    import keras

    keras.utils.set_random_seed(0)
    layer = WordEmbedder(
        2000, word_dim=20, char_vocabulary_size=200, char_encoder="lstm",
        char_dim=20, char_units=3, num_casing=200, casing_dim=20,
        embedding_init=scale,
    )
    layer.build()
    assert layer.get_config()["embedding_init"] == scale
    tables = (layer.word_embedding, layer.char_embedding, layer.casing_embedding)
    for embedding in tables:
        table = embedding.embeddings.numpy()
        assert np.abs(table).max() <= scale
        # A uniform draw of 4,000 values or more reaches near both bounds.
        assert table.min() < -0.95 * scale and table.max() > 0.95 * scale
        assert np.std(table) == pytest.approx(scale / np.sqrt(3), rel=0.05)


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_char_padding_is_cut_without_changing_features(char_encoder):
    """The char ids are cut after the batch's longest word (in training and
    inference; `trim_chars=False` keeps the width, as TFLite files do): the
    features equal those of the full padded width (dropout off)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    layer = WordEmbedder(8, 4, char_vocabulary_size=6, char_encoder=char_encoder,
                         char_dim=3, char_units=3, num_casing=8, casing_dim=2)
    more_padding = np.pad(FEATURES["char_ids"], [(0, 0), (0, 0), (0, 9)])
    wide = dict(FEATURES, char_ids=more_padding)
    full = layer(wide, training=False, trim_chars=False)
    np.testing.assert_allclose(layer(wide, training=False), full, atol=1e-6)
    np.testing.assert_allclose(layer(wide, training=True), full, atol=1e-6)
    # What is cut: the char encoder sees 5 columns, not 14.
    seen = []

    def char_fn(embedded, mask):
        seen.append(embedded.shape[1])
        return tf.zeros([tf.shape(embedded)[0], layer.output_dim - 4 - 2])

    for training in (True, False):
        layer(wide, training=training, char_fn=char_fn)
    layer(wide, char_fn=char_fn, trim_chars=False)
    assert seen == [5, 5, 14]
