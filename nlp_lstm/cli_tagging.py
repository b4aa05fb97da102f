"""The tagger's `nlp-lstm` commands: `tag` and `evaluate` (for taggers).

- `nlp-lstm tag --model DIR [--format conll|json]`: one raw sentence a line on
  stdin; `conll` prints `token<TAB>tag` lines with a blank line after each
  sentence, `json` one `{"tokens": [...], "tags": [...]}` object a line.
- `nlp-lstm evaluate --model DIR --data FILE --format conll|conllu`: tags the
  file's tokens with the exported model and prints the metrics as JSON.

`DIR` is a SavedModel version folder or a `saved_models/<name>` folder (its
highest version is used).
"""

from __future__ import annotations

import argparse
import json
import sys

from nlp_lstm.utils.iterables import batches

DEFAULT_BATCH_SIZE = 32


def _add_if_missing(parser: argparse.ArgumentParser, flag: str, **kwargs) -> None:
    if flag not in parser._option_string_actions:
        parser.add_argument(flag, **kwargs)


def add_tag_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `nlp-lstm tag` to `parser`."""
    _add_if_missing(parser, "--model", required=True,
                    help="SavedModel version folder or saved_models/<name>")
    _add_if_missing(parser, "--format", choices=["conll", "json"], default="conll",
                    help="output: token<TAB>tag lines (conll) or JSON lines")
    _add_if_missing(parser, "--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    _add_if_missing(parser, "--pretokenized", action="store_true",
                    help="input tokens are separated by single spaces; skip the "
                         "model's tokenizer")


def add_evaluate_tagger_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `nlp-lstm evaluate` for taggers to `parser` (those
    the parser already has, such as `--model`, are left as they are)."""
    _add_if_missing(parser, "--model", required=True,
                    help="SavedModel version folder or saved_models/<name>")
    _add_if_missing(parser, "--data", required=True,
                    help="annotated CoNLL or CoNLL-U file (plain or .gz)")
    _add_if_missing(parser, "--format", choices=["conll", "conllu"], default="conll")
    _add_if_missing(parser, "--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    _add_if_missing(parser, "--token-column", type=int, default=0,
                    help="conll: column of the tokens")
    _add_if_missing(parser, "--tag-column", type=int, default=-1,
                    help="conll: column of the tags (negative counts from the end)")
    _add_if_missing(parser, "--tag-field", choices=["upos", "xpos"], default="upos",
                    help="conllu: which tag column")
    _add_if_missing(parser, "--scheme", choices=["iob1", "iob2", "bioes", "none"],
                    default=None,
                    help="scheme of the file's tags; default: iob2 for conll with an "
                         "entity model, none otherwise")


def _rows(outputs):
    """Yields `(tokens, tags)` lists from a signature's dense outputs."""
    tokens = outputs["tokens"].numpy()
    tags = outputs["tags"].numpy()
    for row, length in enumerate(outputs["lengths"].numpy()):
        yield (
            [t.decode("utf-8") for t in tokens[row, :length]],
            [t.decode("utf-8") for t in tags[row, :length]],
        )


def _warn_truncated(outputs, max_tokens) -> None:
    count = int(outputs["truncated"].numpy().sum())
    if count:
        print(f"warning: {count} sentence(s) were cut to the model's maximum of "
              f"{max_tokens} tokens", file=sys.stderr)


def tag_sentences(loaded, sentences, batch_size: int = DEFAULT_BATCH_SIZE,
                  pretokenized: bool = False, max_tokens=None):
    """Yields `(tokens, tags)` for raw sentences (str) with a loaded tagger."""
    import tensorflow as tf

    for batch in batches(sentences, batch_size):
        if pretokenized:
            split = [sentence.split() for sentence in batch]
            width = max([1] + [len(tokens) for tokens in split])
            padded = [tokens + [""] * (width - len(tokens)) for tokens in split]
            outputs = loaded.signatures["tag_tokens"](tokens=tf.constant(padded))
        else:
            outputs = loaded.signatures["serving_default"](
                sentences=tf.constant(batch, tf.string)
            )
        _warn_truncated(outputs, max_tokens)
        yield from _rows(outputs)


def _stdin_sentences():
    for raw in sys.stdin.buffer:
        yield raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def tag_command(args) -> int:
    """`nlp-lstm tag`: tags stdin sentences, writes them to stdout."""
    from nlp_lstm.export.tagger import load_tagger

    batch_size = getattr(args, "batch_size", DEFAULT_BATCH_SIZE)
    if batch_size < 1:
        raise SystemExit(f"error: --batch-size must be positive, got {batch_size}")
    loaded, metadata = load_tagger(args.model)
    rows = tag_sentences(
        loaded, _stdin_sentences(), batch_size,
        pretokenized=getattr(args, "pretokenized", False),
        max_tokens=metadata.get("max_tokens"),
    )
    output_format = getattr(args, "format", "conll")
    for tokens, tags in rows:
        if output_format == "json":
            print(json.dumps({"tokens": tokens, "tags": tags}, ensure_ascii=False))
        else:
            for token, tag in zip(tokens, tags, strict=True):
                print(f"{token}\t{tag}")
            print()
    sys.stdout.flush()
    return 0


def evaluate_tagger(loaded, metadata: dict, sentences, file_scheme: str,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    """Scores an exported tagger on `TaggedSentence`s whose tags are in
    `file_scheme`; gold tags are converted to the model's scheme."""
    import tensorflow as tf

    from nlp_lstm.evaluation.tagging import tagging_scores
    from nlp_lstm.text import tags as tag_schemes

    scheme = metadata.get("scheme", "none")
    if (file_scheme == "none") != (scheme == "none"):
        raise ValueError(
            f"the data's scheme is {file_scheme!r} but the model's is {scheme!r}: "
            "evaluate POS models on POS tags and entity models on entity tags "
            "(set --scheme)"
        )
    gold, predicted = [], []
    truncated = 0
    for batch in batches(sentences, batch_size):
        width = max(len(sentence.tokens) for sentence in batch)
        padded = [s.tokens + [""] * (width - len(s.tokens)) for s in batch]
        outputs = loaded.signatures["tag_tokens"](tokens=tf.constant(padded))
        truncated += int(outputs["truncated"].numpy().sum())
        for sentence, (_, tags) in zip(batch, _rows(outputs), strict=True):
            # Tokens past the model's maximum count as untagged.
            filler = "O" if scheme != "none" else ""
            tags = tags + [filler] * (len(sentence.tokens) - len(tags))
            gold.append(tag_schemes.convert(sentence.tags, file_scheme, scheme)
                        if scheme != "none" else list(sentence.tags))
            predicted.append(tags)
    scores = tagging_scores(gold, predicted, scheme)
    scores.update({"sentences": len(gold), "truncated_sentences": truncated,
                   "scheme": scheme})
    return scores


def evaluate_tagger_command(args) -> int:
    """`nlp-lstm evaluate` for taggers: prints the metrics on `--data` as JSON."""
    from nlp_lstm.data.conll import SchemeReport, read_tagged_file
    from nlp_lstm.data.parallel import SkipReport
    from nlp_lstm.export.tagger import load_tagger

    loaded, metadata = load_tagger(args.model)
    data_format = getattr(args, "format", "conll")
    scheme = getattr(args, "scheme", None)
    if scheme is None:
        entity = metadata.get("scheme", "none") != "none"
        scheme = "iob2" if entity and data_format == "conll" else "none"
    data_config = argparse.Namespace(
        format=data_format,
        token_column=getattr(args, "token_column", 0),
        tag_column=getattr(args, "tag_column", -1),
        tag_field=getattr(args, "tag_field", "upos"),
        scheme=scheme,
        repair=True,
    )
    skipped, repairs = SkipReport(), SchemeReport()
    try:
        sentences = read_tagged_file(data_config, args.data, skipped, repairs)
        scores = evaluate_tagger(
            loaded, metadata, sentences, scheme,
            getattr(args, "batch_size", DEFAULT_BATCH_SIZE),
        )
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    scores["skipped_lines"] = skipped.as_dict()
    scores["repaired_tags"] = repairs.repaired
    print(json.dumps(scores, indent=2, ensure_ascii=False))
    return 0

