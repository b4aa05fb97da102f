"""The Translator model: composition, serialization, shared and tied embeddings."""

import keras
import numpy as np
import pytest

from nlp_lstm.config import TranslatorModelConfig
from nlp_lstm.models.translator import Translator, build_translator
from tests.test_case import TestCase

CHECKS = TestCase()


SOURCE = np.array([[5, 6, 3, 0], [7, 3, 0, 0]])
TARGET_IN = np.array([[2, 4, 5], [2, 6, 0]])


def tiny_config(**changes):
    config = TranslatorModelConfig(embedding_dim=8)
    config.encoder.units = 4
    config.decoder.units = 8
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        setattr(getattr(config, section) if section else config, name, value)
    return config


# Serialization and `.keras` saving over the same configurations:
# tests/models/test_translator.py (the shared TestCase).


def test_shared_embeddings_are_one_variable():
    model = build_translator(
        tiny_config(share_embeddings=True, tie_output=True), 30, 30
    )
    names = [v.path for v in model.trainable_variables]
    assert sum("embedding" in name and "embeddings" in name for name in names) == 1
    assert not any("output_projection/kernel" in name for name in names)


def test_source_padding_does_not_change_logits():
    keras.utils.set_random_seed(1)
    model = build_translator(tiny_config(), 30, 30)
    short = model((SOURCE[1:, :2], TARGET_IN[1:]))
    padded = model((SOURCE[1:], TARGET_IN[1:]))
    np.testing.assert_allclose(np.asarray(short), np.asarray(padded), atol=1e-5)


def test_from_config_is_registered():
    model = build_translator(tiny_config(), 30, 30)
    assert isinstance(Translator.from_config(model.get_config()), Translator)


@pytest.mark.parametrize("share", [True, False])
def test_embeddings_start_uniform_in_the_configured_range(share):
    keras.utils.set_random_seed(0)
    for scale in (0.1, 0.3):
        model = build_translator(
            tiny_config(share_embeddings=share, embedding_init=scale), 500, 500
        )
        tables = [model.source_embedding.embeddings.numpy()]
        if not share:
            tables.append(model.target_embedding.embeddings.numpy())
        for table in tables:
            assert np.abs(table).max() <= scale
            # A uniform draw of 4,000 values reaches near both bounds.
            assert table.min() < -0.95 * scale and table.max() > 0.95 * scale
            assert np.std(table) == pytest.approx(scale / np.sqrt(3), rel=0.05)
