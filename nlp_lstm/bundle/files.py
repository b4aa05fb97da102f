"""A model bundle on disk: everything needed to use a trained model without
its training corpus (as keras-hub presets are).

A bundle is a folder (a run folder, or `assets.extra/bundle/` inside an
exported SavedModel) with:

- `bundle.json`: what the folder holds (written last: a folder without it is
  no bundle) — format, task, name, package / TensorFlow / Keras versions,
  creation time, the training data files with their sizes and SHA-256, a few
  test inputs (`samples`), the test-set evaluation the model card shows
  (`evaluation`, when the pipeline wrote it), and the names of the files below;
- `config.json`: the whole run config;
- `model.weights.h5`: the weights of the model as exported;
- translators: the SentencePiece model(s), named by
  `TokenizerConfig.model_files` (`tokenizer.model` when shared);
- taggers: `vocabularies.json` (words, characters, tags, as their
  `get_config()`);
- translators with `decoding.shortlist`: `shortlist.npz`, the lexical
  shortlist estimated on the training corpus (`nlp_lstm.decoding.shortlist`).

Paths inside `bundle.json` are relative to the bundle folder, so that it
loads from wherever it is moved to.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
from importlib import metadata as package_metadata

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.utils.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_with,
    sha256_file,
)

FORMAT = "nlp_lstm.bundle/1"
BUNDLE_FILE = "bundle.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
VOCABULARIES_FILE = "vocabularies.json"
SHORTLIST_FILE = "shortlist.npz"
TASKS = {
    "translation": config_lib.TranslationConfig,
    "tagging": config_lib.TaggingConfig,
}


class BundleError(FileNotFoundError):
    """A folder that is not (or not entirely) a model bundle."""


@dataclasses.dataclass
class BundleFiles:
    """The contents of a bundle folder, read but not yet turned into a model.

    Attributes:
        path: str. The bundle folder.
        task: str. `"translation"` or `"tagging"`.
        config: the run config (`TranslationConfig` or `TaggingConfig`); its
            data files need not exist.
        metadata: dict. `bundle.json`.
        tokenizers: dict. `{"source": bytes, "target": bytes}` (translators).
        vocabularies: dict. `{"words", "chars", "tags"}` configs (taggers).
        shortlist: bytes or None. `shortlist.npz` (translators that have one).
    """

    path: str
    task: str
    config: object
    metadata: dict
    tokenizers: dict = dataclasses.field(default_factory=dict)
    vocabularies: dict = dataclasses.field(default_factory=dict)
    shortlist: bytes | None = None

    @property
    def weights_path(self) -> str:
        return os.path.join(self.path, self.metadata["files"]["weights"])


def data_files(config) -> list[str]:
    """The training data files a run config reads."""
    data = config.data
    if isinstance(data, config_lib.TranslationDataConfig):
        if data.format == "tsv":
            return [data.path]
        return [
            getattr(data, f"{split}_{side}")
            for split in ("train", "dev", "test")
            for side in ("source", "target")
        ]
    return [data.train, data.dev, data.test]


def describe_files(paths: list[str]) -> list[dict]:
    """Path (absolute), size and SHA-256 of each existing file."""
    described = []
    for path in dict.fromkeys(paths):
        if path and os.path.isfile(path):
            described.append(
                {
                    "path": os.path.abspath(path),
                    "bytes": os.path.getsize(path),
                    "sha256": sha256_file(path),
                }
            )
    return described


def _versions() -> dict:
    try:
        package = package_metadata.version("nlp-lstm")
    except package_metadata.PackageNotFoundError:
        package = "unknown"
    return {
        "nlp_lstm": package, "tensorflow": tf.__version__, "keras": keras.__version__
    }


def write_bundle(
    directory: str,
    task: str,
    config,
    model,
    tokenizers: dict | None = None,
    vocabularies: dict | None = None,
    data: list[dict] | None = None,
    samples: list[str] | None = None,
    evaluation: dict | None = None,
    shortlist: bytes | None = None,
) -> str:
    """Writes a bundle into `directory` (created if needed); returns it.

    Every file is written atomically (no file is ever half-written) and
    `bundle.json` last: a folder whose first bundle was interrupted has no
    `bundle.json` and does not load.

    Args:
        directory: str. The run folder, or a folder inside an export.
        task: str. `"translation"` or `"tagging"`.
        config: the run config dataclass.
        model: the trained Keras model (its weights are saved).
        tokenizers: dict. `{"source": bytes, "target": bytes}` (translators).
        vocabularies: dict. `{"words", "chars", "tags"}` configs (taggers).
        data: list of dict. The training files (`describe_files`); described
            from `config` when None.
        samples: list of str. A few test inputs (the exports' warmup
            requests are made of them).
        evaluation: dict or None. The test-set metrics overall and per
            slice (`nlp_lstm.bundle.card.test_evaluation`), which the model
            card of every export shows.
        shortlist: bytes or None. A translator's `shortlist.npz`.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    os.makedirs(directory, exist_ok=True)
    files = {"config": CONFIG_FILE, "weights": WEIGHTS_FILE}
    atomic_write_json(os.path.join(directory, CONFIG_FILE), config_lib.to_dict(config))
    atomic_write_with(os.path.join(directory, WEIGHTS_FILE), model.save_weights)
    if task == "translation":
        names = config.tokenizer.model_files()
        for side, name in names.items():
            atomic_write_bytes(os.path.join(directory, name), tokenizers[side])
        files["tokenizers"] = names
        if shortlist is not None:
            atomic_write_bytes(os.path.join(directory, SHORTLIST_FILE), shortlist)
            files["shortlist"] = SHORTLIST_FILE
    else:
        atomic_write_json(os.path.join(directory, VOCABULARIES_FILE), vocabularies)
        files["vocabularies"] = VOCABULARIES_FILE
    metadata = {
        "format": FORMAT,
        "task": task,
        "name": config.name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "versions": _versions(),
        "data": describe_files(data_files(config)) if data is None else data,
        "samples": list(samples or []),
        "files": files,
    }
    if evaluation is not None:
        metadata["evaluation"] = evaluation
    atomic_write_json(os.path.join(directory, BUNDLE_FILE), metadata)
    return directory


def data_problem(metadata: dict) -> str | None:
    """Why the training data a bundle records (`metadata["data"]`) cannot be
    read again here: a file missing, or changed since training (its SHA-256
    differs); None when all are here as they were."""
    for record in metadata.get("data", []):
        path = record["path"]
        if not os.path.isfile(path):
            return f"the training data file {path} is not on this machine"
        if sha256_file(path) != record["sha256"]:
            return f"{path} changed since training (its SHA-256 differs)"
    return None


def located_config(config, metadata: dict):
    """`config` with its data file paths replaced by the absolute paths the
    bundle recorded when it was trained (`metadata["data"]`), so that a run
    trained with relative paths reads its data from any working folder."""
    paths = [path for path in dict.fromkeys(data_files(config)) if path]
    records = metadata.get("data", [])
    if len(paths) != len(records):
        return config
    recorded = {path: record["path"] for path, record in zip(paths, records)}
    data = config.data
    moved = {
        field.name: recorded[getattr(data, field.name)]
        for field in dataclasses.fields(data)
        if isinstance(getattr(data, field.name), str)
        and getattr(data, field.name) in recorded
    }
    return dataclasses.replace(config, data=dataclasses.replace(data, **moved))


def require_data(metadata: dict, purpose: str) -> None:
    """Raises `FileNotFoundError` naming the fix unless the training data is
    here as it was (`data_problem`); `purpose` says what needed it."""
    problem = data_problem(metadata)
    if problem is not None:
        raise FileNotFoundError(
            f"cannot {purpose}: {problem}. Put the data files the config names "
            "back (bundle.json lists them with their SHA-256)."
        )


def set_evaluation(directory: str, evaluation: dict) -> dict:
    """Puts `evaluation` into the bundle in `directory` (its `bundle.json`
    only, rewritten atomically: the weights, and so what identifies the
    trained model, stay as they are); returns the new metadata."""
    path = os.path.join(directory, BUNDLE_FILE)
    metadata = read_json(path)
    metadata["evaluation"] = evaluation
    atomic_write_json(path, metadata)
    return metadata


def copy_bundle(source: str, destination: str) -> None:
    """Copies the bundle files of folder `source` into `destination`."""
    metadata = read_json(os.path.join(source, BUNDLE_FILE))
    names = [BUNDLE_FILE, *_listed_files(metadata["files"])]
    os.makedirs(destination, exist_ok=True)
    for name in dict.fromkeys(names):
        shutil.copyfile(os.path.join(source, name), os.path.join(destination, name))


def _listed_files(files: dict) -> list[str]:
    names = []
    for value in files.values():
        names.extend(value.values() if isinstance(value, dict) else [value])
    return names


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def weights_digest(path: str) -> str:
    """The SHA-256 of the weight values in a `.weights.h5` file (every
    dataset's name, dtype, shape and bytes, in name order): equal for equal
    weights, which the file's own bytes are not (HDF5 metadata differs
    between two saves of the same values)."""
    import h5py  # noqa: PLC0415 (Keras's dependency; needed here only)

    digest = hashlib.sha256()
    with h5py.File(path, "r") as stream:
        names = []
        stream.visititems(
            lambda name, item: names.append(name)
            if isinstance(item, h5py.Dataset) else None
        )
        for name in sorted(names):
            value = np.asarray(stream[name][()])
            digest.update(f"{name} {value.dtype.str} {value.shape}\n".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def is_bundle(path: str) -> bool:
    return os.path.isfile(os.path.join(path, BUNDLE_FILE))


def read_bundle(path: str) -> BundleFiles:
    """Reads the bundle in folder `path` (no model is built yet)."""
    metadata_path = os.path.join(path, BUNDLE_FILE)
    if not os.path.isfile(metadata_path):
        raise BundleError(
            f"{path} holds no model bundle ({BUNDLE_FILE} is missing). Pass a run "
            "folder written by this version of nlp_lstm, or a SavedModel it "
            "exported; for an older run, train it again or resume it (the run "
            "writes its bundle when it ends)."
        )
    metadata = read_json(metadata_path)
    if metadata.get("format") != FORMAT:
        raise BundleError(
            f"{metadata_path}: unknown bundle format {metadata.get('format')!r}, "
            f"this version reads {FORMAT!r}"
        )
    missing = [
        name
        for name in _listed_files(metadata["files"])
        if not os.path.isfile(os.path.join(path, name))
    ]
    if missing:
        raise BundleError(f"the bundle in {path} lacks {', '.join(missing)}")
    task = metadata["task"]
    config = config_lib.from_dict(
        TASKS[task], read_json(os.path.join(path, metadata["files"]["config"]))
    )
    files = BundleFiles(path, task, config, metadata)
    if task == "translation":
        for side, name in metadata["files"]["tokenizers"].items():
            with open(os.path.join(path, name), "rb") as stream:
                files.tokenizers[side] = stream.read()
        if "shortlist" in metadata["files"]:
            shortlist_path = os.path.join(path, metadata["files"]["shortlist"])
            with open(shortlist_path, "rb") as stream:
                files.shortlist = stream.read()
    else:
        files.vocabularies = read_json(
            os.path.join(path, metadata["files"]["vocabularies"])
        )
    return files
