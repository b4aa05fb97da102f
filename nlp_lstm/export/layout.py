"""Where an export's files are: `saved_models/<name>/<version>/` and the
project's files in a version's `assets.extra/`. Reading only, without
TensorFlow, so that runners and commands can find a model before they load
anything heavy (`nlp_lstm.export.saved_model` writes the layout).
"""

from __future__ import annotations

import json
import os

METADATA_FILE = "nlp_lstm.json"
# The model bundle inside `assets.extra/` (`nlp_lstm.bundle`).
BUNDLE_DIRECTORY = "bundle"
# The model card inside `assets.extra/` (`nlp_lstm.bundle.card`).
CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"


def versions(base_dir: str) -> list[int]:
    """The numeric version folders under `base_dir`, sorted."""
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(name) for name in os.listdir(base_dir) if name.isdigit())


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


def bundle_directory(saved_model_dir: str) -> str:
    """Where a version folder keeps its model bundle."""
    return os.path.join(saved_model_dir, "assets.extra", BUNDLE_DIRECTORY)


def read_metadata(saved_model_dir: str) -> dict:
    path = os.path.join(saved_model_dir, "assets.extra", METADATA_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def card_paths(saved_model_dir: str) -> tuple[str, str]:
    """`(json, markdown)` paths of a version folder's model card."""
    extra = os.path.join(saved_model_dir, "assets.extra")
    return os.path.join(extra, CARD_JSON), os.path.join(extra, CARD_MARKDOWN)
