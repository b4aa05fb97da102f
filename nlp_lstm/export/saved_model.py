"""TF Serving layout: `saved_models/<name>/<version>/`, written atomically.

A version folder is written under a hidden temporary name beside its final
place and renamed only when complete, so that a polling TF Serving never
loads half a model.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from nlp_lstm.utils.files import atomic_directory

METADATA_FILE = "nlp_lstm.json"


def versions(base_dir: str) -> list[int]:
    """The numeric version folders under `base_dir`, sorted."""
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(name) for name in os.listdir(base_dir) if name.isdigit())


def next_version(base_dir: str) -> int:
    existing = versions(base_dir)
    return existing[-1] + 1 if existing else 1


def write_version(
    module: tf.Module, signatures: dict, base_dir: str, metadata: dict
) -> str:
    """Saves `module` as the next version under `base_dir`; returns its path.

    `metadata` goes to `assets.extra/nlp_lstm.json` (what the CLI needs to know
    about the model: task, signatures, special ids, config).
    """
    path = os.path.join(base_dir, str(next_version(base_dir)))
    with atomic_directory(path) as temporary:
        tf.saved_model.save(module, temporary, signatures=signatures)
        extra = os.path.join(temporary, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, METADATA_FILE), "w", encoding="utf-8") as stream:
            json.dump(metadata, stream, indent=2, sort_keys=True)
    return path


def resolve(model_dir: str) -> str:
    """A SavedModel folder from a version folder, a model folder (its highest
    version) or a run folder (its `report.json`'s `export_path`)."""
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    found = versions(model_dir)
    if found:
        return os.path.join(model_dir, str(found[-1]))
    report = os.path.join(model_dir, "report.json")
    if os.path.isfile(report):
        with open(report, encoding="utf-8") as stream:
            export_path = json.load(stream).get("export_path")
        if export_path:
            return resolve(export_path)
    raise FileNotFoundError(
        f"No SavedModel under {model_dir}: pass a version folder "
        "(saved_models/NAME/N), a model folder (saved_models/NAME) or a run folder "
        "with a report.json"
    )


def read_metadata(saved_model_dir: str) -> dict:
    path = os.path.join(saved_model_dir, "assets.extra", METADATA_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)
