"""`main` of the pipeline scripts in `pipelines/`: `--config FILE [--set
KEY=VALUE ...]`, then `nlp_lstm.pipelines.<name>.run(config)`."""

from __future__ import annotations

import argparse
import json
import os
import sys

# Before TensorFlow is imported: its C++ start-up notices are not for users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nlp_lstm.utils import imports  # noqa: E402

# Keras (and TensorFlow) without the optional libraries Keras imports for
# features a pipeline never uses: two seconds of start-up.
imports.import_keras()

from nlp_lstm import config as config_lib  # noqa: E402
from nlp_lstm.cli import common  # noqa: E402
from nlp_lstm.pipelines import tagging, translation  # noqa: E402
from nlp_lstm.training import trainer  # noqa: E402

PIPELINES = {"translation": translation, "tagging": tagging}
SUMMARY_KEYS = ("bleu", "chrf", "f1", "accuracy", "export_path", "train_seconds")


def main(description: str, config_class: str, pipeline: str, argv=None) -> int:
    """Parses `--config FILE [--set KEY=VALUE ...]`, validates the whole config
    before any work, runs `nlp_lstm.pipelines.<pipeline>.run` and prints a summary.

    Args:
        description: str. The script's `--help` text.
        config_class: str. `"TranslationConfig"` or `"TaggingConfig"`.
        pipeline: str. `"translation"` or `"tagging"`.

    Returns 2 (and prints the error) when the config is wrong.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set training.steps=100 (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        config = config_lib.load(
            getattr(config_lib, config_class), args.config, args.overrides
        )
    except config_lib.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Before TensorFlow's first op: thread pools for the training towers.
    trainer.configure_threads(trainer.resolve_towers(config.training.towers))
    with common.user_errors():
        report = PIPELINES[pipeline].run(config)
    summary = {key: report[key] for key in SUMMARY_KEYS if key in report}
    print(json.dumps(summary, indent=2))
    return 0
