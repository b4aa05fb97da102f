"""A batched greedy `.tflite` translator on LiteRT: speed, memory and outputs
beside the SavedModel's greedy search (issue 13, the path for the CLI).

    python benchmarks/tflite_batched.py --run RUN_FOLDER \\
        [--quantize none|dynamic-int8] [--batch-size 64] [--interpreters 2] \\
        [--sources ../shared/data/multi30k/test_2016_flickr.en.gz] [--copies 3]

Exports the run's `.tflite` with `translate_greedy_batch` (`export_tflite(...,
batch_size=)`), then, in a fresh process without TensorFlow (as `nlp-lstm
translate --model F.tflite` runs), translates the test sources `--copies`
times over with `TFLiteTranslator(workers=--interpreters).translate`
(length-sorted batches, one per interpreter at once on threads); the
process's peak resident memory is its own. The first copy's translations are compared
with the run's Keras greedy search (the SavedModel's, line for line) and
both are scored with BLEU. Writes `results.json` to `--output` (default
`benchmarks/results/tflite_batched/`). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "multi30k")

# The LiteRT side, run in a fresh process: argv = settings as JSON.
LITERT = r"""
import json, sys, time
from nlp_lstm.export.tflite.runtime import TFLiteTranslator

settings = json.loads(sys.argv[1])
with open(settings["sources"], encoding="utf-8") as stream:
    texts = [line.rstrip("\n") for line in stream]
start = time.perf_counter()
translator = TFLiteTranslator(settings["model"], workers=settings["interpreters"])
loaded = time.perf_counter() - start
began = time.perf_counter()
translations = translator.translate(texts)  # greedy: the batch signature
seconds = time.perf_counter() - began
assert "tensorflow" not in sys.modules
status = open("/proc/self/status").read()
print(json.dumps({
    "load_s": loaded,
    "translate_s": seconds,
    "sentences_per_s": len(texts) / seconds,
    "peak_rss_mb": int(status.split("VmHWM:")[1].split()[0]) / 1024,
    "translations": translations,
}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="translator run folder")
    parser.add_argument("--quantize", default="dynamic-int8",
                        choices=["none", "dynamic-int8"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--interpreters", type=int, default=2)
    parser.add_argument("--sources",
                        default=os.path.join(DATA, "test_2016_flickr.en.gz"))
    parser.add_argument("--references",
                        default=os.path.join(DATA, "test_2016_flickr.de.gz"))
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument(
        "--output",
        default=os.path.join(REPO_ROOT, "benchmarks", "results", "tflite_batched"),
    )
    args = parser.parse_args(argv)
    import sacrebleu

    import nlp_lstm
    from nlp_lstm.export.tflite.export import export_tflite
    from nlp_lstm.utils.files import atomic_write_json

    bundle = nlp_lstm.load(args.run)
    with gzip.open(args.sources, "rt", encoding="utf-8") as stream:
        texts = [line.rstrip("\n") for line in stream]
    with gzip.open(args.references, "rt", encoding="utf-8") as stream:
        references = [line.rstrip("\n") for line in stream]
    reference_outputs = bundle.translate(texts, beam_size=1)
    work = tempfile.mkdtemp(prefix="tflite_batched_")
    model_path = export_tflite(
        bundle, os.path.join(work, "batched.tflite"), quantize=args.quantize,
        batch_size=args.batch_size, measure_quality=False,
    )
    sources_path = os.path.join(work, "sources.txt")
    with open(sources_path, "w", encoding="utf-8") as stream:
        stream.writelines(text + "\n" for text in texts * args.copies)
    settings = {
        "model": model_path,
        "sources": sources_path,
        "interpreters": args.interpreters,
    }
    completed = subprocess.run(
        [sys.executable, "-c", LITERT, json.dumps(settings)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    if completed.returncode:
        raise SystemExit(completed.stderr[-3000:])
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    translations = measured.pop("translations")[: len(texts)]
    same = sum(a == b for a, b in zip(translations, reference_outputs, strict=True))
    results = {
        "run": os.path.abspath(args.run),
        "quantize": args.quantize,
        "batch_size": args.batch_size,
        "interpreters": args.interpreters,
        "sentences": len(texts) * args.copies,
        "file_mb": os.path.getsize(model_path) / 2**20,
        **measured,
        "identical_to_savedmodel_greedy": same,
        "compared": len(texts),
        "bleu": sacrebleu.corpus_bleu(translations, [references]).score,
        "bleu_savedmodel_greedy": sacrebleu.corpus_bleu(
            reference_outputs, [references]
        ).score,
    }
    os.makedirs(args.output, exist_ok=True)
    atomic_write_json(
        os.path.join(args.output, f"results_{args.quantize}.json"), results
    )
    print(f"{args.quantize}, batch {args.batch_size}, {args.interpreters} LiteRT "
          f"interpreters, {results['sentences']} sentences: "
          f"{results['sentences_per_s']:.1f} sentences/s, peak RSS "
          f"{results['peak_rss_mb']:.0f} MB, file {results['file_mb']:.1f} MB; "
          f"{same} of {len(texts)} translations identical to the SavedModel's greedy; "
          f"BLEU {results['bleu']:.2f} (SavedModel greedy "
          f"{results['bleu_savedmodel_greedy']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
