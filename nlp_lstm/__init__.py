"""LSTM NLP pipelines for Keras 3 / TensorFlow.

`nlp_lstm.load(path)` returns a trained model from a run folder or an export
(`nlp_lstm.loading`). It is imported on first use, so that `import nlp_lstm`
alone does not import TensorFlow.
"""

__all__ = ["load"]


def __getattr__(name):
    if name == "load":
        from nlp_lstm.loading import load  # noqa: PLC0415 (TensorFlow on demand)

        return load
    raise AttributeError(f"module 'nlp_lstm' has no attribute {name!r}")
