"""Keras serialization of models composed of injected layers."""

from __future__ import annotations

import contextlib

import keras
from keras.src.backend.common import global_state

# The two maps of Keras' object-sharing scope (`serialization_lib.
# ObjectSharingScope`, on while a `.keras` file is saved or loaded).
_SHARING_MAPS = ("shared_objects/id_to_obj_map", "shared_objects/id_to_config_map")


@contextlib.contextmanager
def outside_object_sharing():
    """Suspends Keras' object-sharing scope for the layers built inside.

    `keras.layers.Bidirectional.__init__` re-creates its directions by
    serializing the layer it is given and deserializing the config. Inside a
    sharing scope (loading a `.keras` file, or any `from_config` under it) the
    scope keys objects by `id()`: a temporary layer freed after one
    `Bidirectional` can share its address with the next one's, and the scope
    then hands back the earlier layer (a backward direction as the forward
    one, or one direction shared by two layers). Building the wrapper with
    the scope off gives fresh directions every time; the scope is restored
    as it was.
    """
    saved = {name: global_state.get_global_attribute(name) for name in _SHARING_MAPS}
    for name in _SHARING_MAPS:
        global_state.set_global_attribute(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            global_state.set_global_attribute(name, value)


def bidirectional(layer, **kwargs):
    """`keras.layers.Bidirectional(layer, **kwargs)`, built outside Keras'
    object-sharing scope (`outside_object_sharing`)."""
    with outside_object_sharing():
        return keras.layers.Bidirectional(layer, **kwargs)


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
