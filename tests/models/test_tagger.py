"""Tagger: call, decode, config round trip and `.keras` save and reload."""

import keras
import numpy as np
import pytest

from nlp_lstm.config import TaggerModelConfig
from nlp_lstm.models.tagger import build_tagger
from nlp_lstm.text.tags import TagVocabulary
from tests.test_case import TestCase

FEATURES = {
    "word_ids": np.array([[2, 3, 1, 0], [4, 0, 0, 0]], "int32"),
    "char_ids": np.random.default_rng(0).integers(0, 6, (2, 4, 5)).astype("int32"),
    "casing_ids": np.array([[1, 2, 3, 0], [4, 0, 0, 0]], "int32"),
}
TAGS = TagVocabulary(["O", "B-PER", "I-PER"], scheme="iob2")


def tiny_config(head, char_encoder):
    config = TaggerModelConfig(head=head)
    config.embedder.word_dim = 4
    config.embedder.char_encoder = char_encoder
    config.embedder.char_dim = 3
    config.embedder.char_units = 2
    config.embedder.casing_dim = 2
    config.encoder.num_layers = 1
    config.encoder.units = 3
    return config


def scores_and_tags(tagger, features):
    return tagger(features), tagger.decode(features)


class TestTagger(TestCase):
    @pytest.mark.parametrize(
        "head, char_encoder", [("softmax", "cnn"), ("crf", "lstm"), ("crf", "none")]
    )
    def test_model(self, head, char_encoder):
        keras.utils.set_random_seed(0)
        tagger = build_tagger(tiny_config(head, char_encoder), TAGS, 8, 6)
        _, tags = self.run_model_test(
            tagger,
            FEATURES,
            call_fn=scores_and_tags,
            expected_output_shape=((2, 4, 3), (2, 4)),
        )
        tags = np.asarray(tags)
        assert (tags[FEATURES["word_ids"] == 0] == 0).all()
        if head == "crf":
            # IOB2: no sentence starts inside an entity.
            assert 2 not in tags[:, 0]
