"""`nlp-lstm card` and `nlp-lstm align`: what a model is, and what it looks at.

nlp-lstm card MODEL [--json] [--evaluate]
nlp-lstm align --model DIR [--beam-size N] [--plot OUT.png] [--text TEXT] < sentences

`card` prints the model card written with the model (a run folder's
`card.md`, a SavedModel's `assets.extra/model_card.md`, a `.tflite`'s
`FILE.card.md`); `--evaluate` first measures a run folder on its test set
again and rewrites its card and plots (runs made before cards).

`align` translates sentences (`--text`, else stdin lines) with a translator's
Keras model (a run folder, or the bundle a SavedModel carries) and prints
one JSON object a sentence: the pieces read, the pieces written and the
attention weights between them; `--plot` draws each as a heatmap (`OUT.png`
for one sentence, `OUT-1.png`, `OUT-2.png`, ... for more).
"""

from __future__ import annotations

import json
import os

from nlp_lstm.cli import common
from nlp_lstm.utils import imports


def add_commands(subparsers) -> None:
    """Adds `card` and `align` to the `nlp-lstm` parser."""
    card = subparsers.add_parser(
        "card", help="print a model's card: data, metrics per slice, limits, use"
    )
    card.add_argument("model", help="run folder, SavedModel folder or FILE.tflite")
    card.add_argument("--json", action="store_true", help="print the JSON card")
    card.add_argument("--evaluate", action="store_true",
                      help="run folder: evaluate it on its test set again and "
                           "rewrite its card and plots first (needs its data)")
    card.set_defaults(handler=card_command)

    align = subparsers.add_parser(
        "align", help="translate and show the attention (JSON, optional heatmap)"
    )
    align.add_argument("--model", required=True,
                       help="translator: run folder or SavedModel folder")
    align.add_argument("--text", help="the sentence (default: stdin lines)")
    align.add_argument("--beam-size", type=common.beam_size, default=1,
                       help="1 (default) for greedy; the attention is the best "
                            "hypothesis'")
    align.add_argument("--plot", help="write the heatmap(s) to this .png")
    align.set_defaults(handler=align_command)


def card_command(args) -> int:
    """`nlp-lstm card`: the model card as Markdown (or JSON)."""
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow.
    # The bundles import Keras: first, without its optional extras.
    imports.import_keras()
    from nlp_lstm.bundle.card import render_markdown
    from nlp_lstm.export.bundles import model_card

    if args.evaluate:
        evaluate_run(args.model)
    with common.user_errors():
        card = model_card(args.model)
    if args.json:
        print(json.dumps(card, indent=2, ensure_ascii=False))
    else:
        print(render_markdown(card), end="")
    return 0


def evaluate_run(path: str) -> None:
    """`card --evaluate`: the pipeline's `describe_run` of a run folder."""
    with common.without_native_noise(), common.user_errors():
        # Imported when the command runs: `nlp-lstm --help` starts without it.
        from nlp_lstm.bundle import is_bundle, read_bundle
        from nlp_lstm.pipelines import tagging, translation

        if not is_bundle(path):
            raise common.fail(
                f"--evaluate needs a run folder (with bundle.json), got {path}: "
                "evaluate the run the export came from, then export it again"
            )
        pipeline = {"translation": translation, "tagging": tagging}
        pipeline[read_bundle(path).task].describe_run(path, verbose=0)


def plot_paths(plot: str, count: int) -> list[str]:
    """`OUT.png` for one heatmap, `OUT-1.png` ... for more."""
    if count == 1:
        return [plot]
    stem, extension = os.path.splitext(plot)
    return [f"{stem}-{index}{extension}" for index in range(1, count + 1)]


def align_command(args) -> int:
    """`nlp-lstm align`: translations with their attention weights."""
    if args.plot is not None and not args.plot.endswith(".png"):
        raise common.fail(f"--plot must name a .png file, got {args.plot}")
    if args.plot is not None:
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            raise common.fail(f"--plot: folder not found: {folder}; create it first")
    texts = [args.text] if args.text is not None else list(common.stdin_text())
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise common.fail("no sentence to align: give --text or lines on stdin")
    with common.without_native_noise(), common.user_errors():
        # Imported when the command runs: `nlp-lstm --help` starts without it.
        imports.import_keras()
        from nlp_lstm.evaluation import plots
        from nlp_lstm.export.bundles import bundle_of

        bundle = bundle_of(args.model)
    if bundle.task != "translation":
        raise common.fail(
            f"{args.model} holds a {bundle.task} model: align shows a "
            "translator's attention; pass a translation model"
        )
    with common.user_errors():
        aligned = bundle.align(texts, beam_size=args.beam_size)
    paths = plot_paths(args.plot, len(texts)) if args.plot else [None] * len(texts)
    for text, result, path in zip(texts, aligned, paths, strict=True):
        if path is not None and result["source_pieces"]:
            plots.attention_heatmap(
                result["source_pieces"], result["target_pieces"], result["weights"],
                path, f"{text}\n-> {result['translation']}",
            )
        print(json.dumps({
            "source": text,
            "translation": result["translation"],
            "source_pieces": result["source_pieces"],
            "target_pieces": result["target_pieces"],
            "weights": [[round(float(w), 4) for w in row] for row in result["weights"]],
            **({"plot": path} if path is not None else {}),
        }, ensure_ascii=False))
    return 0
