"""AttentionDecoder and Bridge: shapes, serialization, teacher forcing against
step-by-step decoding, the fast LSTM loop against the step loop."""

import keras
import numpy as np
import pytest

from nlp_lstm.layers.bridge import Bridge
from nlp_lstm.layers.decoder import AttentionDecoder
from tests.test_case import TestCase

INPUTS = np.random.RandomState(7).randn(2, 3, 5).astype("float32")
MEMORY = np.random.RandomState(8).randn(2, 6, 4).astype("float32")
MEMORY_MASK = np.array([[True] * 6, [True, True, True, False, False, False]])


def decode(layer, data, **call_kwargs):
    """The call adapter: `(inputs, layer_states, memory)` -> `layer(inputs,
    initial_state, memory)`."""
    inputs, layer_states, memory = data
    state = layer.initial_state(layer_states)
    return layer(inputs, state, memory, **call_kwargs)


class TestAttentionDecoder(TestCase):
    @pytest.mark.parametrize(
        "cell, attention, input_feeding, num_layers",
        [
            ("lstm", "luong_general", True, 2),
            ("lstm", "luong_dot", False, 1),
            ("lstm", "luong_general", False, 1),
            ("lstm", "bahdanau", True, 1),
            ("gru", "luong_general", True, 2),
            ("gru", "bahdanau", False, 1),
        ],
    )
    def test_layer(self, cell, attention, input_feeding, num_layers):
        parts = 2 if cell == "lstm" else 1
        rng = np.random.RandomState(0)
        layer_states = [
            rng.randn(2, 4).astype("float32") for _ in range(num_layers * parts)
        ]
        self.run_layer_test(
            AttentionDecoder,
            init_kwargs={
                "num_layers": num_layers,
                "units": 4,
                "cell": cell,
                "dropout": 0.1,
                "attention": attention,
                "input_feeding": input_feeding,
            },
            input_data=(INPUTS, layer_states, MEMORY),
            call_kwargs={"mask": MEMORY_MASK},
            call_fn=decode,
            expected_output_shape=((2, 3, 4), [(2, 4)] * (num_layers * parts + 1)),
        )

    def test_teacher_forcing_equals_stepwise_decoding(self):
        keras.utils.set_random_seed(5)
        decoder = AttentionDecoder(num_layers=2, units=6, attention="bahdanau")
        inputs = np.random.RandomState(4).randn(2, 5, 3).astype("float32")
        memory = np.random.RandomState(5).randn(2, 4, 8).astype("float32")
        mask = np.array([[True] * 4, [True, True, False, False]])
        decoder.build(inputs.shape, memory.shape)
        state = decoder.initial_state([np.ones((2, 6), "float32") * 0.1] * 4)
        outputs, _ = decoder(inputs, state, memory, mask=mask)
        keys = decoder.prepare(memory)
        for t in range(5):
            step_output, state, _ = decoder.step(
                inputs[:, t], state, memory, keys, mask=mask
            )
            np.testing.assert_allclose(
                np.asarray(outputs)[:, t], np.asarray(step_output), atol=1e-5
            )

    @pytest.mark.parametrize("attention", ["luong_general", "bahdanau"])
    @pytest.mark.parametrize("input_feeding", [True, False])
    def test_step_with_inference_weights_equals_step(self, attention, input_feeding):
        keras.utils.set_random_seed(6)
        decoder = AttentionDecoder(
            num_layers=2, units=6, attention=attention, input_feeding=input_feeding
        )
        inputs = np.random.RandomState(4).randn(2, 5, 3).astype("float32")
        memory = np.random.RandomState(5).randn(2, 4, 6).astype("float32")
        mask = np.array([[True] * 4, [True, True, False, False]])
        decoder.build(inputs.shape, memory.shape)
        keys = decoder.prepare(memory)
        weights = decoder.inference_weights()
        plain = fast = decoder.initial_state(
            [np.random.RandomState(i).randn(2, 6).astype("float32") for i in range(4)]
        )
        for t in range(5):
            expected, plain, _ = decoder.step(inputs[:, t], plain, memory, keys, mask)
            output, fast, _ = decoder.step(
                inputs[:, t], fast, memory, keys, mask, weights=weights
            )
            np.testing.assert_allclose(
                np.asarray(output), np.asarray(expected), atol=1e-5
            )
            for got, want in zip(fast, plain, strict=True):
                np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)

    def test_inference_weights_are_for_inference(self):
        decoder = AttentionDecoder(num_layers=1, units=4)
        decoder.build((2, 3, 4), (2, 5, 4))
        memory = np.ones((2, 5, 4), "float32")
        state = decoder.initial_state([np.zeros((2, 4), "float32")] * 2)
        with pytest.raises(ValueError, match="inference_weights are for inference"):
            decoder.step(
                np.ones((2, 4), "float32"),
                state,
                memory,
                decoder.prepare(memory),
                training=True,
                weights=decoder.inference_weights(),
            )

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"num_layers": 0}, "num_layers must be a positive integer, got 0"),
            ({"units": 2.5}, "units must be a positive integer, got 2.5"),
            ({"cell": "rnn"}, "cell must be one of"),
            ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
            ({"implementation": "cudnn"}, "implementation must be one of .*'cudnn'"),
        ],
    )
    def test_argument_errors_quote_the_value(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            AttentionDecoder(**kwargs)


# The fused decoder loop against the step loop (outputs, states, gradients):
# tests/layers/test_decoder_implementations.py.
ENCODER_STATES = [
    [np.full((2, 4), i, "float32"), np.random.RandomState(i).randn(2, 4)
     .astype("float32")]
    for i in range(2)
]



class TestBridge(TestCase):
    @pytest.mark.parametrize(
        "kind, num_weights", [("dense", 12), ("copy", 0), ("zero", 0)]
    )
    def test_layer(self, kind, num_weights):
        _, outputs = self.run_layer_test(
            Bridge,
            init_kwargs={"kind": kind, "num_layers": 3, "units": 4, "cell": "lstm"},
            input_data=ENCODER_STATES,
            expected_output_shape=[(2, 4)] * 6,
            expected_num_trainable_weights=num_weights,
        )
        outputs = [np.asarray(o) for o in outputs]
        # Decoder layer j of 3 takes encoder layer max(0, 2 - 3 + j) of 2.
        if kind == "copy":
            for j, source in enumerate([0, 0, 1]):
                np.testing.assert_array_equal(outputs[2 * j], ENCODER_STATES[source][0])
                np.testing.assert_array_equal(
                    outputs[2 * j + 1], ENCODER_STATES[source][1]
                )
        if kind == "zero":
            assert not any(o.any() for o in outputs)

    def test_gru_decoder_from_lstm_encoder_takes_h(self):
        bridge = Bridge(kind="copy", num_layers=2, units=4, cell="gru")
        outputs = bridge(ENCODER_STATES)
        assert len(outputs) == 2
        for output, states in zip(outputs, ENCODER_STATES):
            np.testing.assert_array_equal(np.asarray(output), states[0])

    def test_copy_rejects_other_widths(self):
        with pytest.raises(ValueError, match="copy bridge needs encoder states"):
            Bridge(kind="copy", num_layers=1, units=3)(ENCODER_STATES)

