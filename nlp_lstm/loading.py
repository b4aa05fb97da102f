"""`nlp_lstm.load(path)`: a trained model from a run folder or an export."""

from __future__ import annotations

import os

from nlp_lstm.bundle import is_bundle, load_bundle
from nlp_lstm.export.bundles import bundle_of


def load(path: str | os.PathLike):
    """Loads a trained translator or tagger.

    Args:
        path: a run folder (`runs/NAME`), a SavedModel model folder
            (`saved_models/NAME`, its highest version) or version folder
            (`saved_models/NAME/N`). The training corpus is never read.

    Returns:
        A `TranslatorBundle` (`.translate(list[str])`) or a `TaggerBundle`
        (`.tag(list[str])`), with `.config`, `.model` (Keras) and `.metadata`.

    Example:
    >>> translator = nlp_lstm.load("runs/tatoeba_es_en")  # doctest: +SKIP
    >>> translator.translate(["Me gusta leer libros."])  # doctest: +SKIP
    ['I like reading books.']
    """
    path = os.fspath(path)
    if is_bundle(path):
        return load_bundle(path)
    return bundle_of(path)
