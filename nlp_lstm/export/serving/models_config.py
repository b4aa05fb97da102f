"""`models.config`: the TF Serving model config for every model of a root.

    nlp-lstm serving config saved_models/ --policy latest|all|specific:N,M

A model is a folder of the root holding at least one numeric version folder
with a `saved_model.pb`. The config is written with the `tensorflow-serving-api`
proto (`ModelServerConfig`), so its text is what `--model_config_file` parses.
"""

from __future__ import annotations

import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from nlp_lstm.export.layout import versions

POLICIES = ("latest", "all", "specific")


def parse_policy(text: str) -> tuple[str, list[int]]:
    """`"latest"`, `"all"` or `"specific:1,3"` -> `(kind, versions)`."""
    kind, _, rest = text.partition(":")
    if kind not in POLICIES:
        raise ValueError(
            f"policy must be latest, all or specific:N[,M...], got {text!r}"
        )
    if kind != "specific":
        if rest:
            raise ValueError(f"policy {kind!r} takes no versions, got {text!r}")
        return kind, []
    try:
        numbers = [int(part) for part in rest.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers or min(numbers) < 0:
        raise ValueError(
            f"policy specific needs version numbers, e.g. specific:1,2, got {text!r}"
        )
    return kind, sorted(set(numbers))


def find_models(root: str) -> dict[str, list[int]]:
    """`{model_name: [versions with a saved_model.pb]}` for the folders of `root`."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no SavedModel root at {root}")
    models = {}
    for name in sorted(os.listdir(root)):
        base = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(base):
            continue
        found = [
            version
            for version in versions(base)
            if os.path.isfile(os.path.join(base, str(version), "saved_model.pb"))
        ]
        if found:
            models[name] = found
    return models


def models_config(root: str, policy: str = "latest", base_path: str | None = None):
    """The `ModelServerConfig` proto for every model under `root`.

    Args:
        root: str. The SavedModel root (`saved_models/`).
        policy: str. `latest`, `all` or `specific:N,M` (each model gets the
            listed versions it has; a model with none of them is an error).
        base_path: str. What the server sees as `root` (`/models` in Docker);
            the absolute path of `root` when None.

    Returns:
        `(config, warnings)`: the proto and a list of messages.
    """

    kind, wanted = parse_policy(policy)
    models = find_models(root)
    if not models:
        raise FileNotFoundError(
            f"no models under {root}: expected {root}/<name>/<version>/saved_model.pb"
        )
    base_path = base_path or os.path.abspath(root)
    config = model_server_config_pb2.ModelServerConfig()
    warnings = []
    for name, found in models.items():
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = f"{base_path.rstrip('/')}/{name}"
        entry.model_platform = "tensorflow"
        policy_proto = entry.model_version_policy
        if kind == "latest":
            policy_proto.latest.num_versions = 1
        elif kind == "all":
            policy_proto.all.SetInParent()
        else:
            present = [version for version in wanted if version in found]
            if not present:
                raise ValueError(
                    f"model {name!r} has versions {found}, none of {wanted}"
                )
            absent = sorted(set(wanted) - set(present))
            if absent:
                warnings.append(f"model {name!r} has no version {absent}; left out")
            policy_proto.specific.versions.extend(present)
    return config, warnings


def config_text(config) -> str:

    return text_format.MessageToString(config)
