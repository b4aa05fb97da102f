"""`nlp-lstm evaluate`: scores an exported model on a test set, as JSON.

nlp-lstm evaluate --model DIR --source FILE --reference FILE [--beam-size N]
nlp-lstm evaluate --model DIR --data FILE [--data-format conll|conllu]
    [--token-column N] [--tag-column N] [--tag-field upos|xpos] [--scheme S]

The model's own metadata (`assets.extra/nlp_lstm.json`, `task`) says which:
translators print BLEU and chrF of their translations of `--source` against
`--reference`; taggers print entity F1 (or accuracy, for POS tags) on the
annotated `--data`. Flags of the other task are an error.
"""

from __future__ import annotations

import json
import os
import sys

from nlp_lstm.cli import common, translation
from nlp_lstm.data import files
from nlp_lstm.utils import imports

# Flags of each task: argparse dest -> flag. Their defaults are None, so that a
# flag given for the wrong task can be told from one left out.
TASK_FLAGS = {
    "translation": {"source": "--source", "reference": "--reference",
                    "beam_size": "--beam-size"},
    "tagging": {"data": "--data", "data_format": "--data-format",
                "format": "--format", "token_column": "--token-column",
                "tag_column": "--tag-column", "tag_field": "--tag-field",
                "scheme": "--scheme"},
}
NEEDED = {
    "translation": "--source FILE --reference FILE",
    "tagging": "--data FILE [--data-format conll|conllu]",
}
DATA_FORMATS = ("conll", "conllu")


def add_commands(subparsers) -> None:
    """Adds `evaluate` to the `nlp-lstm` parser."""
    evaluate = subparsers.add_parser(
        "evaluate", help="score a model on a test set (translator or tagger, "
                         "as its metadata says)"
    )
    translation.add_model_arguments(evaluate)
    translator = evaluate.add_argument_group("translation models")
    translator.add_argument("--source",
                            help="source sentences, one a line (plain or .gz)")
    translator.add_argument("--reference",
                            help="reference translations, aligned (plain or .gz)")
    translator.add_argument("--beam-size", type=common.beam_size, default=None,
                            help="1 for greedy; default: the exported beam size")
    tagger = evaluate.add_argument_group("tagging models")
    tagger.add_argument("--data", help="annotated CoNLL or CoNLL-U file (or .gz)")
    tagger.add_argument("--data-format", choices=DATA_FORMATS,
                        help="file format of --data (default conll)")
    tagger.add_argument("--format", choices=DATA_FORMATS,
                        help="deprecated: the old name of --data-format")
    tagger.add_argument("--token-column", type=common.non_negative_int,
                        help="conll: column of the tokens (default 0)")
    tagger.add_argument("--tag-column", type=int,
                        help="conll: column of the tags (default -1, the last)")
    tagger.add_argument("--tag-field", choices=["upos", "xpos"],
                        help="conllu: which tag column (default upos)")
    tagger.add_argument("--scheme", choices=["iob1", "iob2", "bioes", "none"],
                        help="scheme of the file's tags; default: iob2 for conll "
                             "with an entity model, none otherwise")
    evaluate.set_defaults(handler=evaluate_command)


def check_task_flags(args, task: str, path: str) -> None:
    """Fails on flags of the other task, and on missing ones of `task`."""
    for other, flags in TASK_FLAGS.items():
        if other == task:
            continue
        for dest, flag in flags.items():
            if getattr(args, dest) is not None:
                raise common.fail(
                    f"{flag} is a flag of {other} models, but {path} holds a "
                    f"{task} model: evaluate it with {NEEDED[task]}"
                )
    needed = ("source", "reference") if task == "translation" else ("data",)
    if any(getattr(args, dest) is None for dest in needed):
        raise common.fail(f"evaluate of the {task} model {path} needs {NEEDED[task]}")


def evaluate_command(args) -> int:
    """`nlp-lstm evaluate`: picks the task from the model itself
    (`nlp_lstm.load`: a run folder runs its Keras model, a SavedModel its
    exported graph)."""
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow.
    # `nlp_lstm.loading` imports Keras: first, without its optional extras.
    imports.import_keras()
    from nlp_lstm.export.runners import RunnerWarning
    from nlp_lstm.loading import load, model_task

    with common.user_errors():
        task = model_task(args.model)
    check_task_flags(args, task, args.model)
    file_format = data_format(args) if task == "tagging" else None
    with common.user_errors(), common.plain_warnings(RunnerWarning):
        model = load(args.model)
    if task == "translation":
        return evaluate_translator(args, model)
    return evaluate_tagger(args, model, file_format)


def evaluate_translator(args, translator) -> int:
    """Prints BLEU and chrF of the translations of `--source`."""
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow.
    from nlp_lstm.evaluation.translation import corpus_scores
    from nlp_lstm.export.runners import RunnerWarning

    sources, references = read_pairs(args.source, args.reference)
    with common.user_errors(), common.plain_warnings(RunnerWarning):
        hypotheses = translator.translate(sources, args.beam_size, args.batch_size)
    print(json.dumps(corpus_scores(hypotheses, references), indent=2))
    return 0


def read_pairs(source: str, reference: str) -> tuple[list[bytes], list[str]]:
    """The lines of `--source` (bytes: text that is not valid UTF-8 reaches
    the model's own handling) and of `--reference` (text), plain or `.gz`;
    exits with a message for a missing, unreadable, empty or misaligned
    file."""
    for file in (source, reference):
        if not os.path.isfile(file):
            raise common.fail(f"file not found: {file}")
    try:
        sources = [raw for _, raw in files.raw_lines(source)]
        references = [
            raw.decode("utf-8", errors="replace")
            for _, raw in files.raw_lines(reference)
        ]
    except files.CorpusFileError as error:
        raise common.fail(str(error)) from None
    if len(sources) != len(references):
        raise common.fail(
            f"{source} has {len(sources)} lines but {reference} has "
            f"{len(references)}: give aligned files"
        )
    if not sources:
        raise common.fail(
            f"{source} is empty: give one source sentence a line, and "
            "its reference translation on the same line of --reference"
        )
    return sources, references


def data_format(args) -> str:
    """`--data-format`, or the deprecated `--format` (with a warning)."""
    if args.format is None:
        return args.data_format or "conll"
    if args.data_format not in (None, args.format):
        raise common.fail(
            f"--format {args.format} and --data-format {args.data_format} disagree; "
            "give only --data-format"
        )
    print("warning: evaluate's --format is deprecated; use --data-format "
          f"{args.format}", file=sys.stderr)
    return args.format


def evaluate_tagger(args, tagger, file_format: str) -> int:
    """Prints the tagging metrics of the model on `--data`."""
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow.
    from nlp_lstm.config import TaggingDataConfig
    from nlp_lstm.data.conll import SchemeReport, read_tagged_file
    from nlp_lstm.data.parallel import SkipReport
    from nlp_lstm.evaluation.tagging import score_tagging
    from nlp_lstm.export.runners import RunnerWarning

    with common.user_errors(), common.plain_warnings(RunnerWarning):
        model_scheme = tagger.scheme
        scheme = args.scheme
        if scheme is None:
            entity = model_scheme != "none"
            scheme = "iob2" if entity and file_format == "conll" else "none"
        config = TaggingDataConfig(
            format=file_format,
            token_column=0 if args.token_column is None else args.token_column,
            tag_column=-1 if args.tag_column is None else args.tag_column,
            tag_field=args.tag_field or "upos",
            scheme=scheme,
            repair=True,
        )
        skipped, repairs = SkipReport(), SchemeReport()
        sentences = read_tagged_file(config, args.data, skipped, repairs)
        results = tagger.tag_tokens([s.tokens for s in sentences], args.batch_size)
        scores = score_tagging([s.tags for s in sentences],
                               [result["tags"] for result in results],
                               scheme, model_scheme)
    scores["skipped_lines"] = skipped.as_dict()
    scores["repaired_tags"] = repairs.repaired
    print(json.dumps(scores, indent=2, ensure_ascii=False))
    return 0
