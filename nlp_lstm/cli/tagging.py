"""`nlp-lstm tag`: tags stdin sentences with an exported tagger.

nlp-lstm tag --model DIR [--format conll|json] [--pretokenized] [--threads N]
    < sentences.txt

One raw sentence a line on stdin; `conll` prints `token<TAB>tag` lines with a
blank line after each sentence, `json` one `{"tokens": [...], "tags": [...]}`
object a line. `DIR` is a SavedModel version folder or a `saved_models/<name>`
folder (its highest version is used). Sentences are read 16 batches at a
time and sorted by length within them (less padding), `--threads` batches
are tagged at once, and the output keeps the input's order.
"""

from __future__ import annotations

import json
import sys

from nlp_lstm.cli import common
from nlp_lstm.text.unicode import split_white_space
from nlp_lstm.utils import pages


def add_commands(subparsers) -> None:
    """Adds `tag` to the `nlp-lstm` parser."""
    tag = subparsers.add_parser("tag", help="tag stdin sentences to stdout")
    tag.add_argument("--model", required=True,
                     help="SavedModel version folder or saved_models/<name>")
    tag.add_argument("--format", choices=["conll", "json"], default="conll",
                     help="output: token<TAB>tag lines (conll) or JSON lines")
    tag.add_argument("--batch-size", type=common.positive_int, default=None,
                     help="sentences per call (default: the tagger runner's, "
                          "runners.TAGGER_BATCH_SIZE, 16)")
    tag.add_argument("--pretokenized", action="store_true",
                     help="input tokens are separated by spaces; skip the "
                          "model's tokenizer")
    common.add_threads_argument(tag)
    tag.set_defaults(handler=tag_command)


def write_tagged(result: dict, output_format: str) -> None:
    """Prints one sentence's `{"tokens", "tags"}` as JSON or CoNLL lines."""
    if output_format == "json":
        print(json.dumps(result, ensure_ascii=False))
        return
    for token, tag in zip(result["tokens"], result["tags"], strict=True):
        print(f"{token}\t{tag}")
    print()


def tag_command(args) -> int:
    """`nlp-lstm tag`: tags stdin sentences, writes them to stdout."""
    # Start-up: TensorFlow (imported when the command runs, so that
    # `nlp-lstm --help` starts without it), the model and its first call.
    with common.without_native_noise(), common.user_errors():
        common.start_runtime(args.model, args.threads)
        from nlp_lstm.export.runners import (
            TAGGER_BATCH_SIZE,
            RunnerWarning,
            SavedModelTagger,
        )

        # Only the signature this input runs is loaded (faster).
        tagger = SavedModelTagger(
            args.model, workers=args.threads, pretokenized=args.pretokenized
        )
        tagger.warm_up(args.pretokenized)
        pages.release_file_pages()  # and those loading the model read
    batch_size = args.batch_size or TAGGER_BATCH_SIZE
    with common.user_errors(), common.plain_warnings(RunnerWarning):
        if args.pretokenized:
            tokens = (split_white_space(line) for line in common.stdin_text())
            results = tagger.iter_tag_tokens(tokens, batch_size)
        else:
            results = tagger.iter_tag(common.stdin_text(), batch_size)
        for result in results:
            write_tagged(result, args.format)
    sys.stdout.flush()
    return 0
