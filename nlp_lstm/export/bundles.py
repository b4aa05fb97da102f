"""SavedModel export of a model bundle, and the bundle behind any model path.

Every export (the pipelines', `nlp-lstm serving export`, TFLite, the
benchmarks) starts from a bundle (`nlp_lstm.bundle`): a run folder, or the
copy each SavedModel version carries in `assets.extra/bundle/`.
"""

from __future__ import annotations

import os

from nlp_lstm import config as config_lib
from nlp_lstm.bundle import card as card_lib
from nlp_lstm.bundle.files import is_bundle, read_bundle, read_json, weights_digest
from nlp_lstm.bundle.models import TaggerBundle, TranslatorBundle, load_bundle
from nlp_lstm.export import layout
from nlp_lstm.export.tagger import TaggerServing, export_tagger
from nlp_lstm.export.tflite import convert as tflite_convert
from nlp_lstm.export.translator import TranslatorModule, export_translator
from nlp_lstm.text import sentencepiece as sp


def check_model_folder(path: str) -> None:
    """Raises `FileNotFoundError`, saying what to pass, unless `path` is a folder."""
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"model folder not found: {path}. Pass a run folder (runs/NAME), a "
            "SavedModel model folder (saved_models/NAME) or a version folder "
            "(saved_models/NAME/N)."
        )


def bundle_path(path: str) -> str:
    """The bundle folder of a run folder, a SavedModel version folder or a
    model folder (its highest version)."""
    check_model_folder(path)
    if is_bundle(path):
        return path
    try:
        version = layout.resolve(path)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is neither a run folder (bundle.json) nor a SavedModel "
            "folder. Pass a run folder (runs/NAME), a model folder "
            "(saved_models/NAME) or a version folder (saved_models/NAME/N)."
        ) from None
    inside = layout.bundle_directory(version)
    if not is_bundle(inside):
        raise FileNotFoundError(
            f"the SavedModel {version} carries no model bundle (it was exported "
            "before nlp_lstm wrote one): pass its run folder, or re-export the "
            "run with `nlp-lstm serving export RUN`."
        )
    return inside


def bundle_of(path: str):
    """The `TranslatorBundle` or `TaggerBundle` of any model path (see
    `bundle_path`); the training corpus is never read."""
    return load_bundle(bundle_path(path))


def _export_translator(bundle: TranslatorBundle, directory, name, warmup, extra):
    metadata = {
        "name": bundle.config.name,
        "special_ids": {
            "pad": sp.PAD_ID, "unk": sp.UNK_ID, "bos": sp.BOS_ID, "eos": sp.EOS_ID,
        },
        "config": config_lib.to_dict(bundle.config),
        **extra,
    }
    return export_translator(
        TranslatorModule.from_bundle(bundle), directory, name, metadata, warmup,
        bundle=bundle,
    )


def _export_tagger(bundle: TaggerBundle, directory, name, warmup, extra):
    config = bundle.config
    metadata = {
        "name": config.name,
        "scheme": bundle.tag_vocabulary.scheme,
        "entity_task": config.is_entity_task,
        **extra,
    }
    return export_tagger(
        TaggerServing.from_bundle(bundle), directory, name, metadata,
        warmup_sentences=warmup, bundle=bundle,
    )


def run_origin(run_dir: str) -> dict:
    """What identifies the trained model of a run folder in its exports: the
    folder and the digest of the weight values its bundle holds."""
    files = read_bundle(run_dir)
    return {
        "run_dir": os.path.abspath(run_dir),
        "weights_sha256": weights_digest(files.weights_path),
    }


def published_version(base_dir: str, origin: dict) -> str | None:
    """The newest version under `base_dir` exported from `origin`
    (`run_origin`), if any: a pipeline killed after publishing its export
    but before writing `report.json` reuses it when run again rather than
    publishing the same model twice."""
    for version in reversed(layout.versions(base_dir)):
        path = os.path.join(base_dir, str(version))
        try:
            metadata = layout.read_metadata(path)
        except (OSError, ValueError):
            continue
        if metadata.get("origin") == origin:
            return path
    return None


def export_saved_model(
    bundle,
    directory: str | None = None,
    name: str | None = None,
    warmup: list[str] | None = None,
    extra_metadata: dict | None = None,
    run_dir: str | None = None,
) -> str:
    """Writes the next SavedModel version of `bundle` under `directory/name`
    (default: the config's `export.directory` and `name`), carrying a copy of
    the bundle; returns the version folder.

    With `run_dir` (the run folder the bundle was saved to), a version
    already exported from that run's weights is returned instead of a new
    one (`published_version`).

    Args:
        bundle: `TranslatorBundle` or `TaggerBundle`.
        directory: str. SavedModel root.
        name: str. Model folder name.
        warmup: list of str. Sample inputs for the warmup file; the bundle's
            `samples` (test sentences saved at training time) when None.
        extra_metadata: dict. Added to `assets.extra/nlp_lstm.json`.
    """
    directory = directory or bundle.config.export.directory
    name = name or bundle.config.name
    if warmup is None:
        warmup = bundle.metadata.get("samples")
    extra = dict(extra_metadata or {})
    if run_dir is not None:
        extra["origin"] = run_origin(run_dir)
        published = published_version(os.path.join(directory, name), extra["origin"])
        if published is not None:
            return published
    if isinstance(bundle, TranslatorBundle):
        return _export_translator(bundle, directory, name, warmup, extra)
    return _export_tagger(bundle, directory, name, warmup, extra)


def model_card(path: str) -> dict:
    """The model card of any model path: a `.tflite` (`FILE.card.json`
    beside it), a run folder or a SavedModel folder (the card written with
    it; built from its bundle when an older export has none)."""
    if path.endswith(".tflite"):
        card_path = tflite_convert.sidecar_paths(path)["card"]
        if not os.path.isfile(card_path):
            raise FileNotFoundError(
                f"{path} has no model card beside it ({card_path}): export it "
                "again with `nlp-lstm export-tflite`, which writes one"
            )
        return read_json(card_path)
    check_model_folder(path)
    if is_bundle(path):
        written = os.path.join(path, card_lib.JSON_FILE)
        copy = {"format": "run folder"}
    else:
        version = layout.resolve(path)
        written = layout.card_paths(version)[0]
        copy = {"format": "SavedModel"}
    if os.path.isfile(written):
        return read_json(written)
    return card_lib.build_card(read_bundle(bundle_path(path)), copy)
