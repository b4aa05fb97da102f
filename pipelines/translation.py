"""Trains, evaluates and exports a translator.

Usage:
    python pipelines/translation.py --config pipelines/configs/FILE.yaml [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
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
        config = config_lib.load(config_lib.TranslationConfig, args.config, args.overrides)
    except config_lib.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from nlp_lstm.pipelines.translation import run

    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
