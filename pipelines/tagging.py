"""Trains, evaluates and exports a sequence tagger (NER or POS).

Usage:
    python pipelines/tagging.py --config pipelines/configs/FILE.yaml \
        [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set training.steps=100 (repeatable)",
    )
    args = parser.parse_args(argv)

    from nlp_lstm import config as config_lib

    try:
        config = config_lib.load(config_lib.TaggingConfig, args.config, args.overrides)
    except config_lib.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from nlp_lstm.pipelines.tagging import run

    report = run(config)
    summary = {
        key: report.get(key)
        for key in ("f1", "accuracy", "export_path", "train_seconds")
        if key in report
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
