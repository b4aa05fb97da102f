"""Trains, evaluates and exports a translator.

Usage:
    python pipelines/translation.py --config pipelines/configs/FILE.yaml \
        [--set KEY=VALUE ...]
"""

import sys

from nlp_lstm.cli.pipeline import main

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], "TranslationConfig", "translation"))
