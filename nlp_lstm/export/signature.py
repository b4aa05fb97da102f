"""Serving signatures whose inputs are checked when the graph runs.

A SavedModel's signature declares its inputs' dtypes and shapes, but a server
feeds whatever a request holds: TF Serving (like a TF1 session) checks the
dtype and not the shape, and the Python loader does not check the shape
either. A rank-0 string reaching a tokenizer op that expects a vector reads
out of bounds and kills the server. So every exported signature starts with
`EnsureShape` on each input, a runtime check that Grappler keeps (a rank
assertion built from `tf.rank` or `tf.shape` would be folded away, as the
declared shape already "proves" it). A wrong request then fails alone, with
`InvalidArgument: Shape of tensor sources [] is not compatible with expected
shape [?]`, naming the input and the shape it must have.
"""

from __future__ import annotations

import functools
import inspect

import tensorflow as tf


def serving_signature(*specs: tf.TensorSpec):
    """`tf.function(input_signature=specs)` for a method whose inputs are
    checked against `specs` at run time before its body sees them."""

    def decorate(method):
        names = list(inspect.signature(method).parameters)[1:]
        if len(names) != len(specs):
            raise TypeError(f"{method.__name__} takes {names}, specs are {specs}")

        @functools.wraps(method)
        def checked(self, *inputs):
            inputs = [
                tf.ensure_shape(value, spec.shape, name=f"check_{spec.name}")
                for value, spec in zip(inputs, specs)
            ]
            return method(self, *inputs)

        return tf.function(checked, input_signature=list(specs), autograph=False)

    return decorate
