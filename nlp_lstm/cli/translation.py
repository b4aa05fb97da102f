"""`nlp-lstm translate`: translates stdin lines with an exported translator.

nlp-lstm translate --model DIR [--beam-size N] [--batch-size N] < sources.txt
nlp-lstm translate --model FILE.tflite [--beam-size 1] [--threads N] < sources.txt

`DIR` is a SavedModel version folder, a `saved_models/<name>` folder (its
highest version) or a run folder. A `.tflite` runs on LiteRT, without
TensorFlow: through its batch signatures when it was exported with
`--batch-size`, one interpreter per thread (the fastest and smallest way to
translate a file here: README, "Where the ceiling is"), else a sentence a
call. One translation a line goes to stdout.
"""

from __future__ import annotations

import os
import sys

from nlp_lstm.cli import common
from nlp_lstm.utils import heap, pages


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
    if args.model.endswith(".tflite"):
        return _translate_tflite(args)
    # Start-up: TensorFlow (imported when the command runs, so that
    # `nlp-lstm --help` starts without it), the model and its first call.
    with common.without_native_noise(), common.user_errors():
        common.start_runtime(args.model, args.threads)
        from nlp_lstm.export.runners import RunnerWarning, SavedModelTranslator

        # Only the signature this beam size runs is loaded (faster).
        translator = SavedModelTranslator(
            args.model, workers=args.threads, beam_sizes=[args.beam_size]
        )
        translator.warm_up(args.beam_size)
        pages.release_file_pages()  # and those loading the model read
    with common.user_errors(), common.plain_warnings(RunnerWarning):
        # Raw bytes: lines that are not UTF-8 reach the model as they are.
        translations = translator.iter_translate(
            common.stdin_lines(), args.beam_size, args.batch_size
        )
        for line in translations:
            print(line, flush=False)
    sys.stdout.flush()
    return 0


def _translate_tflite(args) -> int:
    """`translate_command` of a `.tflite` on LiteRT (`--batch-size` is the
    file's: it is fixed at export)."""
    if not os.path.isfile(args.model):
        raise common.fail(f"file not found: {args.model}")
    heap.keep_large_blocks_off_the_heap()
    with common.user_errors():
        from nlp_lstm.export.tflite.runtime import TFLiteTranslator

        with common.without_native_noise():
            translator = TFLiteTranslator(args.model, workers=args.threads)
        exported = translator.metadata.get("beam_size")
        if args.beam_size not in (None, 1, exported):
            raise common.fail(
                f"{args.model} was exported with beam size {exported}; pass "
                f"--beam-size 1 or {exported} (or re-export with --beam-size "
                f"{args.beam_size})"
            )
        decode = translator.target_processor.decode
        beam = args.beam_size != 1
        with common.without_native_noise():  # LiteRT's start-up notice
            translator.warm_up(beam)
        for ids, _ in translator.iter_translate_ids(common.stdin_text(), beam):
            print(decode(ids), flush=False)
    sys.stdout.flush()
    return 0
