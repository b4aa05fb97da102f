"""Keras serialization of models composed of injected layers."""

from __future__ import annotations

import keras


def serialize_parts(model, names) -> dict:
    """`{name: serialized layer or None}` for the named sub-layers of `model`."""
    serialize = keras.saving.serialize_keras_object
    return {
        name: None if getattr(model, name) is None else serialize(getattr(model, name))
        for name in names
    }


def deserialize_parts(config: dict, names) -> dict:
    """A copy of `config` with the named serialized sub-layers rebuilt."""
    config = dict(config)
    for name in names:
        if config.get(name) is not None:
            config[name] = keras.saving.deserialize_keras_object(config[name])
    return config
