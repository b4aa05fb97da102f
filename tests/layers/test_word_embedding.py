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
def test_training_cuts_char_padding_without_changing_features(char_encoder):
    """In training the char ids are cut after the batch's longest word: the
    features equal those of the full padded width (dropout off)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    layer = WordEmbedder(8, 4, char_vocabulary_size=6, char_encoder=char_encoder,
                         char_dim=3, char_units=3, num_casing=8, casing_dim=2)
    more_padding = np.pad(FEATURES["char_ids"], [(0, 0), (0, 0), (0, 9)])
    wide = dict(FEATURES, char_ids=more_padding)
    trained = layer(wide, training=True)
    np.testing.assert_allclose(trained, layer(wide, training=False), atol=1e-6)
    # What is cut: the char encoder sees 5 columns, not 14.
    seen = []
    layer(wide, training=True, char_fn=lambda e, m: seen.append(e.shape[1]) or
          tf.zeros([tf.shape(e)[0], layer.output_dim - 4 - 2]))
    assert seen == [5]
