"""TF Serving layout: `saved_models/<name>/<version>/`, written atomically.

A version folder is written under a hidden temporary name beside its final
place and renamed only when complete, so that a polling TF Serving never
loads half a model. Before the rename, the export writes the warmup file and
checks every op of the graph against the op sets of the TF Serving releases
it targets (`nlp_lstm.export.serving`); a failing check publishes nothing.
Temporary folders left by a killed export are removed by the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time

import psutil
import tensorflow as tf

from nlp_lstm.bundle import card as card_lib
from nlp_lstm.export import layout
from nlp_lstm.export.layout import BUNDLE_DIRECTORY, METADATA_FILE, versions
from nlp_lstm.export.serving import opcheck
from nlp_lstm.export.serving import warmup as warmup_lib
from nlp_lstm.utils.files import atomic_directory

# TF Serving releases an export must load in (op sets in export/serving/opsets).
DEFAULT_SERVER_VERSIONS = ("2.19", "2.20", "2.21")
# Written in a temporary version folder while it is being exported (removed
# before the rename): who writes it, so that a later export can tell a folder
# left by a killed process from one still being written.
OWNER_FILE = ".nlp_lstm_export_owner"
TEMPORARY_PREFIX = ".tmp-"


def next_version(base_dir: str) -> int:
    existing = versions(base_dir)
    return existing[-1] + 1 if existing else 1


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _is_abandoned(temporary: str) -> bool:
    """Whether a hidden temporary version folder was left by a dead export."""

    try:
        with open(os.path.join(temporary, OWNER_FILE), encoding="utf-8") as stream:
            host, pid = stream.read().split()
    except (OSError, ValueError):
        # No owner yet: the exporter may have just created it; old ones go.
        try:
            return os.path.getmtime(temporary) < _now() - 3600
        except OSError:
            return False
    return host == socket.gethostname() and not psutil.pid_exists(int(pid))


def _now() -> float:

    return time.time()


def remove_abandoned(base_dir: str) -> list[str]:
    """Removes the temporary version folders of exports killed midway.

    TF Serving ignores them (they are not numeric), but they hold a whole
    model each. Folders of live exports, even on another host, are kept.
    """
    if not os.path.isdir(base_dir):
        return []
    removed = []
    for name in sorted(os.listdir(base_dir)):
        path = os.path.join(base_dir, name)
        if name.startswith(TEMPORARY_PREFIX) and os.path.isdir(path):
            if _is_abandoned(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def saved_root(module) -> tf.Module:
    """What a SavedModel of `module`'s signatures tracks besides them: its
    variables and resources (tokenizers), not its `tf.function` attributes or
    its Keras model. Those would be saved as functions of their own, each
    traced a second time beside the signatures' (and the Keras model's own
    forward pass, with its custom gradients), about half of the graph that a
    server or runner then loads. The TFLite converter, which saves its
    functions as a SavedModel first, gets the same root."""
    root = tf.Module()
    # The module's own tf.Variables, and its Keras model's weights as the
    # tf.Variables that the functions capture.
    weights = module.model.weights if hasattr(module, "model") else []
    root.variables_of_module = list(module.variables) + [
        getattr(weight, "value", weight) for weight in weights
    ]
    root.resources_of_module = [
        child
        for name, child in vars(module).items()
        if not name.startswith("_") and isinstance(child, tf.Module)
    ]
    return root


def write_version(
    module: tf.Module,
    signatures: dict,
    base_dir: str,
    metadata: dict,
    warmup=None,
    server_versions=DEFAULT_SERVER_VERSIONS,
    bundle=None,
) -> str:
    """Saves `module` as the next version under `base_dir`; returns its path.

    Args:
        module: tf.Module. What gets saved.
        signatures: dict. Signature name -> concrete or `tf.function`.
        base_dir: str. The model folder (`saved_models/<name>`).
        metadata: dict. Written to `assets.extra/nlp_lstm.json` (what the CLI
            needs to know about the model: task, signatures, special ids,
            config).
        warmup: list of `(signature_name, {input_name: array})`. Requests
            written to `assets.extra/tf_serving_warmup_requests`; none if None.
        server_versions: TF Serving releases (`"2.19"` to `"2.21"`) whose op
            sets every op of the graph must be in; the version is not
            published otherwise (`OpCompatibilityError`).
        bundle: a `TranslatorBundle` or `TaggerBundle` (anything with
            `save(directory)`), written to `assets.extra/bundle/` so that the
            version folder describes itself (`nlp_lstm.load` rebuilds the
            Keras model from it), with its model card beside it
            (`assets.extra/model_card.{json,md}`); none if None.
    """

    remove_abandoned(base_dir)

    chosen = []

    def next_path():
        chosen.append(os.path.join(base_dir, str(next_version(base_dir))))
        return chosen[-1]

    # The version number is taken when the folder is published: two exports
    # of one model at once get two versions.
    with atomic_directory(next_path) as temporary:
        owner = os.path.join(temporary, OWNER_FILE)
        with open(owner, "w", encoding="utf-8") as stream:
            stream.write(_owner())
        # Serving never asks for a gradient: the custom gradients of the
        # training loops (`layers.rnn_loops`) are not saved (they were a third
        # of the graph's functions, traced outside the search's precision).
        options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
        tf.saved_model.save(
            saved_root(module), temporary, signatures=signatures, options=options
        )
        extra = os.path.join(temporary, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        info = dict(metadata)
        if server_versions:
            opcheck.require_compatible(temporary, server_versions)
            info["serving_op_check"] = sorted(server_versions)
        if warmup:
            warmup_lib.write_warmup(temporary, os.path.basename(base_dir), warmup)
        if bundle is not None:
            bundle.save(os.path.join(extra, BUNDLE_DIRECTORY))
            card = card_lib.build_card(bundle, {"format": "SavedModel"})
            card_lib.write_card(card, *layout.card_paths(temporary))
        with open(os.path.join(extra, METADATA_FILE), "w", encoding="utf-8") as stream:
            json.dump(info, stream, indent=2, sort_keys=True)
        os.remove(owner)
    return chosen[-1]
