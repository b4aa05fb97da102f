"""The `nlp-lstm` command: runs exported models; imports the library, never the reverse.

nlp-lstm translate --model DIR [--beam-size N] [--batch-size N] < sources.txt
nlp-lstm evaluate --model DIR --source FILE --reference FILE
nlp-lstm tag --model DIR [--format conll|json] < sentences.txt
nlp-lstm evaluate --model DIR --data FILE --format conll|conllu
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

from nlp_lstm.utils.iterables import batches

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Modules that add their own subcommands with `add_commands(subparsers)`:
# export-tflite, tflite-run and inspect; serving config, check and client.
COMMAND_MODULES = ("nlp_lstm.cli_tflite", "nlp_lstm.cli_serving")


def _load_signature(model_dir: str, name: str):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    from nlp_lstm.export.saved_model import read_metadata, resolve

    path = resolve(model_dir)
    loaded = tf.saved_model.load(path)
    if name not in loaded.signatures:
        raise SystemExit(
            f"error: {path} has no signature {name!r}; "
            f"it has {sorted(loaded.signatures)}"
        )
    return loaded, loaded.signatures[name], read_metadata(path)


def translate_lines(model_dir: str, lines, beam_size: int | None, batch_size: int):
    """Yields one translation per input line, with the SavedModel in `model_dir`."""
    import tensorflow as tf

    name = "translate_greedy" if beam_size == 1 else "serving_default"
    _, signature, metadata = _load_signature(model_dir, name)
    exported_beam = metadata.get("beam_size")
    if beam_size not in (None, 1) and exported_beam not in (None, beam_size):
        print(
            f"warning: the model was exported with beam size {exported_beam}; "
            f"using it (re-export with --set decoding.beam_size={beam_size})",
            file=sys.stderr,
        )
    for batch in batches(lines, batch_size):
        outputs = signature(sources=tf.constant(batch, tf.string))
        for text in outputs["translations"].numpy():
            yield text.decode("utf-8")


def _stdin_lines():
    for raw in sys.stdin.buffer:
        yield raw.rstrip(b"\r\n")


def translate_command(args) -> int:
    for line in translate_lines(
        args.model, _stdin_lines(), args.beam_size, args.batch_size
    ):
        print(line, flush=False)
    sys.stdout.flush()
    return 0


def evaluate_command(args) -> int:
    if args.data is not None:
        from nlp_lstm.cli_tagging import evaluate_tagger_command

        return evaluate_tagger_command(args)
    if args.source is None or args.reference is None:
        raise SystemExit(
            "error: evaluate needs --source and --reference (translators) or "
            "--data and --format (taggers)"
        )
    from nlp_lstm.evaluation.translation import corpus_scores

    for path in (args.source, args.reference):
        if not os.path.isfile(path):
            raise SystemExit(f"error: file not found: {path}")
    with open(args.source, "rb") as stream:
        sources = [line.rstrip(b"\r\n") for line in stream]
    with open(args.reference, encoding="utf-8", errors="replace") as stream:
        references = [line.rstrip("\r\n") for line in stream]
    if len(sources) != len(references):
        raise SystemExit(
            f"error: {args.source} has {len(sources)} lines but {args.reference} has "
            f"{len(references)}: give aligned files"
        )
    hypotheses = list(
        translate_lines(args.model, sources, args.beam_size, args.batch_size)
    )
    print(json.dumps(corpus_scores(hypotheses, references), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nlp-lstm", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    translate = commands.add_parser("translate", help="translate stdin lines to stdout")
    translate.add_argument(
        "--model", required=True, help="SavedModel, model or run dir"
    )
    translate.add_argument(
        "--beam-size",
        type=int,
        default=None,
        help="1 for greedy; default: the exported beam size",
    )
    translate.add_argument("--batch-size", type=int, default=32)
    translate.set_defaults(handler=translate_command)

    evaluate = commands.add_parser("evaluate", help="score a model on a test set")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--source", help="translator: source sentences, one a line")
    evaluate.add_argument("--reference", help="translator: reference translations")
    evaluate.add_argument("--data", help="tagger: annotated CoNLL or CoNLL-U file")
    evaluate.add_argument("--format", choices=["conll", "conllu"], default="conll")
    evaluate.add_argument("--beam-size", type=int, default=None)
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.set_defaults(handler=evaluate_command)

    from nlp_lstm import cli_tagging

    cli_tagging.add_evaluate_tagger_arguments(evaluate)
    tag = commands.add_parser("tag", help="tag stdin sentences to stdout")
    cli_tagging.add_tag_arguments(tag)
    tag.set_defaults(handler=cli_tagging.tag_command)

    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_commands(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if (
        getattr(args, "batch_size", 1) is not None
        and getattr(args, "batch_size", 1) < 1
    ):
        raise SystemExit(f"error: --batch-size must be positive, got {args.batch_size}")
    try:
        return args.handler(args)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}")


if __name__ == "__main__":
    sys.exit(main())
