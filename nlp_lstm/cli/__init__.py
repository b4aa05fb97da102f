"""The `nlp-lstm` command: runs exported models; imports the library, never the reverse.

nlp-lstm translate --model DIR [--beam-size N] [--batch-size N] < sources.txt
nlp-lstm tag --model DIR [--format conll|json] [--pretokenized] < sentences.txt
nlp-lstm evaluate --model DIR --source FILE --reference FILE      (translators)
nlp-lstm evaluate --model DIR --data FILE [--data-format conll|conllu]  (taggers)
nlp-lstm export-tflite | tflite-run | inspect ...
nlp-lstm card MODEL [--json]          (the model card)
nlp-lstm align --model DIR [--plot OUT.png] < sources.txt   (attention)
nlp-lstm serving config | check | client | export ...

One module per command group adds its commands with `add_commands(subparsers)`;
each command's handler imports TensorFlow only when it runs, so that
`nlp-lstm --help` starts fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from nlp_lstm.cli import card, common, evaluate, serving, tagging, tflite, translation

__all__ = ["build_parser", "console_main", "main"]

# Read by TensorFlow when a command imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COMMAND_GROUPS = (translation, evaluate, tagging, tflite, serving, card)


def build_parser() -> argparse.ArgumentParser:
    """The `nlp-lstm` parser: each parsed command carries its `handler`."""
    parser = argparse.ArgumentParser(
        prog="nlp-lstm", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one `nlp-lstm` command; returns its exit status."""
    args = build_parser().parse_args(argv)
    with common.user_errors():
        return args.handler(args)


def console_main() -> None:
    """The `nlp-lstm` script: `main`, then an exit that skips the
    interpreter's teardown.

    Tearing down a process that has loaded a SavedModel (its thousands of
    graph objects, TensorFlow's runtime) took 0.9-1.1 s on the 2-core machine
    after the work was done, a tenth of translating 3,000 sentences (README,
    "Translation speed beside OpenNMT"). When the command has returned, its
    files are written and closed; stdout and stderr are flushed here (a
    failing flush, such as a closed pipe, raises and exits the usual way).
    Errors and `SystemExit` (argparse, `fail`) take the usual way too.
    """
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(status)
