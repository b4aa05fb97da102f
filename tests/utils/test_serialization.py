"""Layers that wrap `keras.layers.Bidirectional` survive Keras' object-sharing
scope (on while a `.keras` file loads), whatever addresses its temporary
layers get."""

import keras
import pytest
from keras.src.saving import serialization_lib

from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from nlp_lstm.layers.word_embedding import WordEmbedder
from nlp_lstm.utils import serialization


@pytest.fixture
def stale_sharing_scope(monkeypatch):
    """A sharing scope in which every lookup finds a backward LSTM built
    earlier, as when a freed temporary's address comes round again (the way
    `test_tagger.py::test_model[crf-lstm]` once failed in a full run)."""
    stale = keras.layers.LSTM(3, go_backwards=True, return_sequences=True,
                              name="stale")
    monkeypatch.setattr(serialization_lib, "get_shared_object", lambda obj_id: stale)
    with serialization_lib.ObjectSharingScope():
        yield stale


def directions(wrappers):
    return [layer for w in wrappers for layer in (w.forward_layer, w.backward_layer)]


def test_encoder_from_config_builds_fresh_directions(stale_sharing_scope):
    encoder = StackedBidirectionalEncoder(num_layers=3, units=4)
    rebuilt = StackedBidirectionalEncoder.from_config(encoder.get_config())
    layers = directions(rebuilt.rnn_layers)
    assert stale_sharing_scope not in layers
    assert len({id(layer) for layer in layers}) == 6
    assert [layer.go_backwards for layer in layers] == [False, True] * 3


def test_char_lstm_from_config_builds_fresh_directions(stale_sharing_scope):
    embedder = WordEmbedder(vocabulary_size=10, word_dim=4, char_encoder="lstm",
                            char_vocabulary_size=6, char_dim=3, char_units=2)
    rebuilt = WordEmbedder.from_config(embedder.get_config())
    layers = directions([rebuilt.char_layer])
    assert stale_sharing_scope not in layers
    assert [layer.go_backwards for layer in layers] == [False, True]


def test_the_sharing_scope_comes_back_as_it_was():
    with serialization_lib.ObjectSharingScope():
        before = serialization_lib.get_shared_object(1)
        record = serialization_lib.record_object_after_deserialization
        marker = object()
        record(marker, 7)
        with serialization.outside_object_sharing():
            assert serialization_lib.get_shared_object(7) is None
            record(object(), 8)  # not kept: no scope in here
        assert serialization_lib.get_shared_object(7) is marker
        assert serialization_lib.get_shared_object(8) is None
        assert before is None
    assert serialization_lib.get_shared_object(7) is None
