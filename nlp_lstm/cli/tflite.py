"""`nlp-lstm export-tflite`, `nlp-lstm tflite-run` and `nlp-lstm inspect`.

nlp-lstm export-tflite --model RUN_OR_SAVEDMODEL --output FILE.tflite
    [--quantize none|float16|dynamic-int8] [--tokenizer in-graph|app]
    [--skip-quality] [--batch-size B]
nlp-lstm tflite-run --model FILE.tflite [--beam] [--format text|conll|json]
    [--threads N] [--workers N] < in
nlp-lstm inspect FILE.tflite
"""

from __future__ import annotations

import json
import os
import sys

from nlp_lstm.cli import common

# The LiteRT runners and the op listing need numpy only, not TensorFlow.
from nlp_lstm.export.tflite import TFLiteTranslator, load_runner, op_counts
from nlp_lstm.export.tflite.runtime import TruncationWarning
from nlp_lstm.utils import heap, imports

QUANTIZATIONS = ("none", "float16", "dynamic-int8")
TOKENIZERS = ("app", "in-graph")


def export_command(args) -> int:
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow.
    # Keras first, without the optional libraries it would import for nothing.
    imports.import_keras()
    from nlp_lstm.export.tflite import export_tflite

    if not args.output.endswith(".tflite"):
        raise SystemExit(f"error: --output must end with .tflite, got {args.output}")
    path = export_tflite(  # errors: one line, by cli.main's `user_errors`
        args.model,
        args.output,
        quantize=args.quantize,
        tokenizer=args.tokenizer,
        beam_size=args.beam_size,
        max_tokens=args.max_tokens,
        measure_quality=not args.skip_quality,
        batch_size=args.batch_size,
    )
    counts = op_counts(path)
    print(
        json.dumps(
            {
                "output": path,
                "size_bytes": os.path.getsize(path),
                "fused_lstm_ops": counts.get("UNIDIRECTIONAL_SEQUENCE_LSTM", 0),
                "ops": sorted(counts),
            },
            indent=2,
        )
    )
    return 0


def run_command(args) -> int:
    if not os.path.isfile(args.model):
        raise SystemExit(f"error: file not found: {args.model}")
    heap.keep_large_blocks_off_the_heap()
    runner = load_runner(args.model, num_threads=args.threads, workers=args.workers)
    with common.plain_warnings(TruncationWarning):
        _run_lines(runner, args)
    return 0


def _run_lines(runner, args) -> None:
    out = sys.stdout
    if isinstance(runner, TFLiteTranslator):
        for ids, score in runner.iter_translate_ids(common.stdin_text(), args.beam):
            text = runner.target_processor.decode(ids)
            if args.format == "json":
                text = json.dumps({"translation": text, "score": score},
                                  ensure_ascii=False)
            out.write(text + "\n")
        out.flush()
        return
    for line in common.stdin_text():
        (result,) = runner.tag([line])
        if args.format == "json":
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
        elif args.format == "conll":
            for token, tag in zip(result["tokens"], result["tags"], strict=True):
                out.write(f"{token}\t{tag}\n")
            out.write("\n")
        else:
            out.write(" ".join(result["tags"]) + "\n")
    out.flush()


def inspect_command(args) -> int:
    if not os.path.isfile(args.file):
        raise SystemExit(f"error: file not found: {args.file}")
    counts = op_counts(args.file)
    size = os.path.getsize(args.file)
    print(f"{args.file}: {size:,} bytes ({size / 2**20:.2f} MiB)")
    for name, count in sorted(counts.items()):
        print(f"  {name:32s} {count}")
    flex = [name for name in counts if name.startswith("Flex")]
    custom = [name for name in counts if not name.isupper()]
    print(f"fused LSTM ops: {counts.get('UNIDIRECTIONAL_SEQUENCE_LSTM', 0)}; "
          f"Flex ops: {len(flex)}; custom ops: {', '.join(custom) or 'none'}")
    return 0


def add_commands(subparsers) -> None:
    """Adds `export-tflite`, `tflite-run` and `inspect` to the `nlp-lstm` parser."""
    export = subparsers.add_parser(
        "export-tflite", help="export a run or SavedModel to a builtin-only .tflite"
    )
    export.add_argument("--model", required=True, help="run folder or SavedModel")
    export.add_argument("--output", required=True, help="FILE.tflite")
    export.add_argument("--quantize", choices=QUANTIZATIONS, default="none")
    export.add_argument("--tokenizer", choices=TOKENIZERS, default="app",
                        help="in-graph: text in (translator; TFText custom op)")
    export.add_argument("--beam-size", type=common.beam_size, default=None,
                        help="beam of translate_beam (default: the config's)")
    export.add_argument("--max-tokens", type=common.positive_int, default=512,
                        help="tagger: longest sentence (longer ones are cut)")
    export.add_argument("--skip-quality", action="store_true",
                        help="do not run the file on the test set for its card")
    export.add_argument("--batch-size", type=common.positive_int, default=None,
                        help="translator: also greedy and beam signatures for "
                        "batches of this size (translate and tflite-run then "
                        "translate a batch a call)")
    export.set_defaults(handler=export_command)

    run = subparsers.add_parser(
        "tflite-run", help="run a .tflite on stdin lines with LiteRT"
    )
    run.add_argument("--model", required=True, help="FILE.tflite")
    run.add_argument("--beam", action="store_true", help="translator: beam search")
    run.add_argument("--format", choices=["text", "conll", "json"], default="text")
    run.add_argument("--threads", type=common.positive_int, default=1,
                     help="LiteRT threads of each interpreter")
    run.add_argument("--workers", type=common.positive_int, default=1,
                     help="translator with batch signatures: interpreters "
                     "running batches at once (one per core is fastest)")
    run.set_defaults(handler=run_command)

    inspect = subparsers.add_parser("inspect", help="op list and size of a .tflite")
    inspect.add_argument("file", help="FILE.tflite")
    inspect.set_defaults(handler=inspect_command)
