"""`nlp-lstm translate`: translates stdin lines with an exported translator.

nlp-lstm translate --model DIR [--beam-size N] [--batch-size N] < sources.txt

`DIR` is a SavedModel version folder, a `saved_models/<name>` folder (its
highest version) or a run folder. One translation a line goes to stdout.
"""

from __future__ import annotations

import sys

from nlp_lstm.cli import common


def add_model_arguments(parser) -> None:
    """`--model`, `--beam-size` and `--batch-size`, shared with `evaluate`."""
    parser.add_argument("--model", required=True, help="SavedModel, model or run dir")
    parser.add_argument(
        "--batch-size", type=common.positive_int, default=common.DEFAULT_BATCH_SIZE
    )


def add_commands(subparsers) -> None:
    """Adds `translate` to the `nlp-lstm` parser."""
    translate = subparsers.add_parser(
        "translate", help="translate stdin lines to stdout"
    )
    add_model_arguments(translate)
    translate.add_argument(
        "--beam-size",
        type=common.beam_size,
        default=None,
        help="1 for greedy; default: the exported beam size",
    )
    common.add_threads_argument(translate)
    translate.set_defaults(handler=translate_command)


def translate_command(args) -> int:
    """`nlp-lstm translate`: one translation per stdin line, on stdout."""
    # Start-up: TensorFlow (imported when the command runs, so that
    # `nlp-lstm --help` starts without it), the model and its first call.
    with common.without_native_noise(), common.user_errors():
        from nlp_lstm.export import runtime
        from nlp_lstm.export.runners import RunnerWarning, SavedModelTranslator

        runtime.use_threads(args.threads)
        translator = SavedModelTranslator(args.model, workers=args.threads)
        translator.warm_up(args.beam_size)
    with common.user_errors(), common.plain_warnings(RunnerWarning):
        # Raw bytes: lines that are not UTF-8 reach the model as they are.
        translations = translator.iter_translate(
            common.stdin_lines(), args.beam_size, args.batch_size
        )
        for line in translations:
            print(line, flush=False)
    sys.stdout.flush()
    return 0
