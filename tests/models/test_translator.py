"""Translator: call, config round trip and `.keras` save and reload."""

import keras
import numpy as np
import pytest

from nlp_lstm.models.translator import build_translator
from tests.models.test_translator_parts import tiny_config as parts_config
from tests.test_case import TestCase

SOURCE = np.array([[5, 6, 3, 0], [7, 3, 0, 0]], "int32")
TARGET_IN = np.array([[2, 4, 5], [2, 6, 0]], "int32")


def tiny_config(**changes):
    """The parts tests' tiny config, with one encoder and one decoder layer."""
    return parts_config(**{"encoder.num_layers": 1, "decoder.num_layers": 1, **changes})


class TestTranslator(TestCase):
    @pytest.mark.parametrize(
        "changes",
        [
            {},
            {"share_embeddings": False, "tie_output": True},
            {"decoder.attention": "bahdanau", "decoder.cell": "gru",
             "encoder.cell": "gru"},
            {"decoder.attention": "luong_dot", "decoder.input_feeding": False,
             "decoder.bridge": "copy"},
            {"decoder.bridge": "zero", "decoder.num_layers": 2,
             "encoder.num_layers": 2},
        ],
    )
    def test_model(self, changes):
        keras.utils.set_random_seed(0)
        model = build_translator(tiny_config(**changes), 30, 30)
        self.run_model_test(
            model, (SOURCE, TARGET_IN), expected_output_shape=(2, 3, 30)
        )

    def test_decoding_step_after_reload(self):
        keras.utils.set_random_seed(1)
        model = build_translator(tiny_config(), 30, 30)

        def first_step(translator, source):
            memory, mask, state = translator.encode(source)
            constants = translator.decoding_constants(memory, mask)
            ids = np.full((2,), translator.bos_id, "int32")
            return translator.decoding_step(ids, state, constants)

        log_probs, state, weights = first_step(model, SOURCE)
        self.assertShapes((log_probs, weights), ((2, 30), (2, 4)))
        self.run_saving_test(model, first_step, SOURCE)
