"""`nlp_lstm.load(path)`: a trained model from a run folder or an export."""

from __future__ import annotations

import os

from nlp_lstm.bundle import is_bundle, load_bundle, read_bundle
from nlp_lstm.export import layout
from nlp_lstm.export.bundles import check_model_folder
from nlp_lstm.export.runners import SavedModelTagger, SavedModelTranslator

RUNNERS = {"translation": SavedModelTranslator, "tagging": SavedModelTagger}


def load(path: str | os.PathLike):
    """Loads a trained translator or tagger.

    Args:
        path: a run folder (`runs/NAME`), a SavedModel model folder
            (`saved_models/NAME`, its highest version) or version folder
            (`saved_models/NAME/N`). The training corpus is never read.

    Returns:
        For a run folder, a `TranslatorBundle` (`.translate(list[str])`) or a
        `TaggerBundle` (`.tag(list[str])`, `.tag_tokens`) that runs the Keras
        model, with `.config`, `.model` and `.metadata`. For a SavedModel, a
        `SavedModelTranslator` or `SavedModelTagger` with the same methods
        that runs the exported graph (what TF Serving runs); its `.bundle` is
        the Keras side. All have `.task`.

    Example:
    >>> translator = nlp_lstm.load("runs/tatoeba_es_en")  # doctest: +SKIP
    >>> translator.translate(["Me gusta leer libros."])  # doctest: +SKIP
    ['I like reading books.']
    """
    path = os.fspath(path)
    if is_bundle(path):
        return load_bundle(path)
    check_model_folder(path)
    version = layout.resolve(path)
    task = layout.read_metadata(version).get("task", "translation")
    return RUNNERS[task](version)


def model_task(path: str | os.PathLike) -> str:
    """`"translation"` or `"tagging"`: the task of the model at `path` (a run
    folder or a SavedModel folder), read from its metadata without loading
    the model."""
    path = os.fspath(path)
    if is_bundle(path):
        return read_bundle(path).task
    version = layout.resolve(path)
    return layout.read_metadata(version).get("task", "translation")
