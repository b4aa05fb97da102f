"""The bridge from the encoder's final states to the decoder's initial states."""

from __future__ import annotations

import keras
from keras import ops

from nlp_lstm.layers.cells import state_size


@keras.saving.register_keras_serializable(package="nlp_lstm")
class Bridge(keras.layers.Layer):
    """Maps the encoder's final states to the decoder's initial cell states.

    Decoder layer `j` of `M` takes encoder layer `max(0, N - M + j)` of `N`; its
    state part `k` (h, c) takes the encoder's part `min(k, parts - 1)`.

    Args:
        kind: str. `"dense"` (a linear map per state), `"copy"` (widths must
            match) or `"zero"` (zero initial states).
        num_layers: int. Decoder layers.
        units: int. Decoder units.
        cell: str. Decoder cell, `"lstm"` or `"gru"`.
    """

    KINDS = ("dense", "copy", "zero")

    def __init__(
        self,
        kind: str = "dense",
        num_layers: int = 2,
        units: int = 256,
        cell: str = "lstm",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"bridge kind must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        self.num_layers = num_layers
        self.units = units
        self.cell = cell
        parts = state_size(cell)
        self.projections = []
        if kind == "dense":
            self.projections = [
                keras.layers.Dense(units, name=f"projection_{i}")
                for i in range(num_layers * parts)
            ]

    def build(self, encoder_states_shape):
        parts = state_size(self.cell)
        num_encoder = len(encoder_states_shape)
        for j in range(self.num_layers if self.kind == "dense" else 0):
            source = encoder_states_shape[max(0, num_encoder - self.num_layers + j)]
            for k in range(parts):
                self.projections[j * parts + k].build(source[min(k, len(source) - 1)])
        self.built = True

    def call(self, encoder_states):
        """Takes a list (per encoder layer) of lists of states; returns a flat list."""
        parts = state_size(self.cell)
        num_encoder = len(encoder_states)
        outputs = []
        for j in range(self.num_layers):
            source = encoder_states[max(0, num_encoder - self.num_layers + j)]
            for k in range(parts):
                state = source[min(k, len(source) - 1)]
                if self.kind == "dense":
                    state = self.projections[j * parts + k](state)
                elif self.kind == "zero":
                    state = ops.zeros(
                        (ops.shape(state)[0], self.units), dtype=state.dtype
                    )
                elif state.shape[-1] != self.units:
                    raise ValueError(
                        f"copy bridge needs encoder states of width {self.units}, got "
                        f"{state.shape[-1]}; use the dense bridge"
                    )
                outputs.append(state)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kind": self.kind,
                "num_layers": self.num_layers,
                "units": self.units,
                "cell": self.cell,
            }
        )
        return config
