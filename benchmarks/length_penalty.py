"""The length penalty a finished translation run would choose on its dev set
(`decoding.length_penalties`, the pipeline's own `tune_length_penalty`), and
what the test set gives with it and with the run's own penalty.

    python benchmarks/length_penalty.py --run RUN [--penalties 0 0.5 1 1.5 2] \
        [--output DIR]

The run's corpus must be where it was trained from. The run folder is not
changed. Prints a table and writes `OUTPUT/<run name>.json` and `.md`
(default output: benchmarks/results/length_penalty/). This reads the test
set: choose on dev, then look.
"""

from __future__ import annotations

import argparse
import os

from nlp_lstm.bundle.models import reopen_run
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.pipelines.translation import tune_length_penalty
from nlp_lstm.utils.files import atomic_write_bytes, atomic_write_json

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a translation run folder")
    parser.add_argument("--penalties", type=float, nargs="+",
                        default=[0.0, 0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--output", default=os.path.join(
        REPO_ROOT, "benchmarks", "results", "length_penalty"))
    args = parser.parse_args(argv)

    bundle, config = reopen_run(args.run)
    corpus, _ = load_parallel_corpus(config.data)
    sources, references = list(corpus["test"]["source"]), list(corpus["test"]["target"])
    own = config.decoding.length_penalty
    before = corpus_scores(bundle.translate(sources), references)
    bundle.set_decoding(length_penalties=args.penalties)
    chosen = tune_length_penalty(bundle.config, bundle, corpus["dev"])
    after = corpus_scores(bundle.translate(sources), references)
    result = {
        "run": os.path.abspath(args.run),
        "dev_sentences": len(corpus["dev"]["source"]),
        "dev": chosen["tried"],
        "chosen": chosen["value"],
        "test": {"own": {"length_penalty": own, **before},
                 "chosen": {"length_penalty": chosen["value"], **after}},
    }
    lines = [
        "| length penalty | dev BLEU | dev chrF |",
        "|---|---|---|",
        *(f"| {row['length_penalty']:g} | {row['bleu']} | {row['chrf']} |"
          for row in chosen["tried"]),
        "",
        "| test set | length penalty | BLEU | chrF |",
        "|---|---|---|---|",
        f"| the run's own | {own:g} | {before['bleu']} | {before['chrf']} |",
        f"| chosen on dev | {chosen['value']:g} | {after['bleu']} | {after['chrf']} |",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    os.makedirs(args.output, exist_ok=True)
    name = os.path.basename(os.path.normpath(args.run))
    atomic_write_json(os.path.join(args.output, f"{name}.json"), result)
    atomic_write_bytes(os.path.join(args.output, f"{name}.md"), table.encode("utf-8"))
    return result


if __name__ == "__main__":
    main()
