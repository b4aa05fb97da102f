"""TFLite (LiteRT) export of translators and taggers, and app-like runners.

Public API (imported lazily, so that the runners load without TensorFlow):

- `export_tflite(model, output, quantize="none", tokenizer="app") -> path`
- `TFLiteTranslator(path).translate(texts)`, `TFLiteTagger(path).tag(texts)`
- `op_list(path)`: the op names of a `.tflite`, loop bodies included.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "export_tflite": "nlp_lstm.export.tflite.export",
    "op_list": "nlp_lstm.export.tflite.convert",
    "op_counts": "nlp_lstm.export.tflite.convert",
    "TFLiteTranslator": "nlp_lstm.export.tflite.runtime",
    "TFLiteTagger": "nlp_lstm.export.tflite.runtime",
    "load_runner": "nlp_lstm.export.tflite.runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
