"""The shared test helper of the layer and model tests (keras-hub's
`src/tests/test_case.py`).

Each test file supplies tiny constructor kwargs and inputs; the helper builds
the layer or model, checks the output shapes, the JSON config round trip and a
`.keras` save and reload, all with equal outputs. A layer that takes several
call arguments gets them from `call_fn(layer, input_data, **call_kwargs)`, an
adapter the test supplies; the helper has no special cases for particular
layers.
"""

from __future__ import annotations

import json
import os
import tempfile

import keras
import numpy as np

ATOL = 1e-6


def default_call(layer, input_data, **call_kwargs):
    """Calls `layer` on `input_data` as its one positional argument."""
    return layer(input_data, **call_kwargs)


@keras.saving.register_keras_serializable(package="nlp_lstm_tests")
class LayerModel(keras.Model):
    """A `keras.Model` that holds one layer, so that a layer can be saved to a
    `.keras` file. Tests call the reloaded `.layer` through their adapter;
    loading builds the layer from its own build config, as a model holding the
    layer would."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, inputs):
        return default_call(self.layer, inputs)

    def build(self, input_shape=None):
        self.built = True

    def build_from_config(self, config):
        self.build()

    def get_config(self):
        config = super().get_config()
        config["layer"] = keras.saving.serialize_keras_object(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)


def _is_shape(value) -> bool:
    return isinstance(value, tuple | list) and all(
        dim is None or isinstance(dim, int) for dim in value
    )


def _to_numpy(outputs):
    return keras.tree.map_structure(lambda x: np.asarray(keras.ops.convert_to_numpy(x)),
                                    outputs)


SIMPLE_TYPES = (bool, int, float, str, type(None))


def simple_attributes(instance) -> dict:
    """The public attributes of `instance` that hold plain values (or lists of
    them): what a config must carry, whether or not `get_config` names them."""

    def simple(value):
        if isinstance(value, list | tuple):
            return all(simple(item) for item in value)
        return isinstance(value, SIMPLE_TYPES)

    return {
        key: json_round_trip(value)
        for key, value in vars(instance).items()
        if not key.startswith("_") and simple(value)
    }


def json_round_trip(config: dict) -> dict:
    """`config` as it comes back from a JSON file."""
    return json.loads(json.dumps(config))


class TestCase:
    """Base class of the layer and model tests: pytest collects its subclasses
    named `Test*` (a plain class, no `unittest`, so parametrize works)."""

    def assertAllClose(self, expected, actual, atol=ATOL, rtol=0.0):
        """Equal nests of arrays, within `atol`; integer and boolean arrays exactly."""
        expected, actual = _to_numpy(expected), _to_numpy(actual)
        keras.tree.assert_same_structure(expected, actual)
        for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(actual)):
            assert a.shape == b.shape, (a.shape, b.shape)
            if a.dtype.kind in "biu":
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, atol=atol, rtol=rtol)

    def assertShapes(self, outputs, expected_shapes):
        """`outputs` (a nest of tensors) has the nest of shapes `expected_shapes`
        (tuples of ints, None for any size)."""
        if _is_shape(expected_shapes):
            shape = tuple(outputs.shape)
            assert len(shape) == len(expected_shapes), (shape, expected_shapes)
            for dim, expected in zip(shape, expected_shapes):
                assert expected is None or dim == expected, (shape, expected_shapes)
            return
        if isinstance(expected_shapes, dict):
            assert isinstance(outputs, dict) and set(outputs) == set(expected_shapes)
            for key, value in expected_shapes.items():
                self.assertShapes(outputs[key], value)
            return
        assert isinstance(outputs, tuple | list), type(outputs)
        assert len(outputs) == len(expected_shapes), (len(outputs), expected_shapes)
        for output, expected in zip(outputs, expected_shapes):
            self.assertShapes(output, expected)

    def run_serialization_test(
        self, instance, call_fn, input_data, expected=None, atol=ATOL
    ):
        """`from_config` of the JSON'd config rebuilds `instance` with the same
        config; with the same weights the rebuilt one computes the same
        outputs (`expected`: `call_fn(instance, input_data)` when known).
        Returns the rebuilt instance."""
        config = instance.get_config()
        as_json = json_round_trip(config)
        rebuilt = type(instance).from_config(as_json)
        assert type(rebuilt) is type(instance)
        assert json_round_trip(rebuilt.get_config()) == as_json
        # Also through the registered name, as a `.keras` file stores it.
        revived = keras.saving.deserialize_keras_object(
            json_round_trip(keras.saving.serialize_keras_object(instance))
        )
        assert type(revived) is type(instance)
        assert json_round_trip(revived.get_config()) == as_json

        if expected is None:
            expected = call_fn(instance, input_data)
        call_fn(rebuilt, input_data)  # creates the variables
        assert len(rebuilt.weights) == len(instance.weights)
        rebuilt.set_weights(instance.get_weights())
        self.assertAllClose(expected, call_fn(rebuilt, input_data), atol=atol)
        # A value left out of `get_config` comes back as its default.
        assert simple_attributes(rebuilt) == simple_attributes(instance)
        return rebuilt

    def run_saving_test(self, instance, call_fn, input_data, expected=None,
                        atol=ATOL):
        """`.keras` save and reload (in this process) gives the same outputs; a
        layer is saved inside a `LayerModel`. Returns the reloaded instance."""
        if expected is None:
            expected = call_fn(instance, input_data)
        is_model = isinstance(instance, keras.Model)
        if is_model:
            saved = instance
        else:
            saved = LayerModel(instance)
            saved.build()
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model.keras")
            saved.save(path)
            reloaded = keras.saving.load_model(path)
        if not is_model:
            assert type(reloaded) is LayerModel
            reloaded = reloaded.layer
        assert type(reloaded) is type(instance)
        assert len(reloaded.weights) == len(instance.weights)
        assert json_round_trip(reloaded.get_config()) == json_round_trip(
            instance.get_config()
        )
        self.assertAllClose(expected, call_fn(reloaded, input_data), atol=atol)
        assert simple_attributes(reloaded) == simple_attributes(instance)
        return reloaded

    def run_layer_test(
        self,
        cls,
        init_kwargs,
        input_data,
        call_kwargs=None,
        expected_output_shape=None,
        call_fn=None,
        expected_num_trainable_weights=None,
        run_serialization=True,
        run_saving=True,
        atol=ATOL,
        seed=0,
    ):
        """Builds `cls(**init_kwargs)`, calls it on `input_data` and checks the
        output shapes, the config round trip and `.keras` saving.

        Args:
            cls: the layer class.
            init_kwargs: dict of constructor arguments.
            input_data: the first call argument, or whatever `call_fn` takes.
            call_kwargs: dict of extra call arguments (`mask=...`).
            expected_output_shape: a shape tuple, or a nest of them for nested
                outputs.
            call_fn: `call_fn(layer, input_data, **call_kwargs) -> outputs`, the
                adapter for layers with several call arguments or methods
                other than `__call__`; defaults to `layer(input_data, **kw)`.
            expected_num_trainable_weights: optional int.

        Returns:
            `(layer, outputs)`.
        """
        call_kwargs = call_kwargs or {}
        adapter = call_fn or default_call

        def run(layer, data):
            return adapter(layer, data, **call_kwargs)

        keras.utils.set_random_seed(seed)
        layer = cls(**init_kwargs)
        outputs = run(layer, input_data)
        assert layer.built
        config = json_round_trip(layer.get_config())
        for key, value in init_kwargs.items():
            assert key in config, f"get_config() lacks the argument {key!r}"
            assert config[key] == json_round_trip(value), key
        if expected_output_shape is not None:
            self.assertShapes(outputs, expected_output_shape)
        if expected_num_trainable_weights is not None:
            assert len(layer.trainable_weights) == expected_num_trainable_weights
        if run_serialization:
            self.run_serialization_test(layer, run, input_data, outputs, atol=atol)
        if run_saving:
            self.run_saving_test(layer, run, input_data, outputs, atol=atol)
        return layer, outputs

    def run_model_test(
        self,
        model,
        input_data,
        call_fn=None,
        expected_output_shape=None,
        atol=ATOL,
    ):
        """Calls `model`, checks the output shapes, the config round trip and
        `.keras` save and reload with equal outputs. Returns the outputs."""
        run = call_fn or (lambda instance, data: instance(data))
        outputs = run(model, input_data)
        if expected_output_shape is not None:
            self.assertShapes(outputs, expected_output_shape)
        self.run_serialization_test(model, run, input_data, outputs, atol=atol)
        self.run_saving_test(model, run, input_data, outputs, atol=atol)
        return outputs

