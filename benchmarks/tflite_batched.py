"""A batched greedy `.tflite` translator on LiteRT: speed, memory and outputs
beside the SavedModel's greedy search (issue 13, the path for the CLI).

    python benchmarks/tflite_batched.py --run RUN_FOLDER \\
        [--quantize none|dynamic-int8] [--batch-size 64] [--interpreters 2] \\
        [--sources ../shared/data/multi30k/test_2016_flickr.en.gz] [--copies 3]

The package's `.tflite` translators have batch-1 signatures. This converts
the same module (`TranslatorTFLite`: the model's own `translate_ids`, the
encoder as fused LSTM ops) with one greedy signature at a fixed batch, then,
in a fresh process that imports LiteRT, SentencePiece and NumPy only (as a
LiteRT command would), translates the test sources `--copies` times over,
length-sorted, one batch per interpreter at once on threads; the process's
peak resident memory is its own. The first copy's translations are compared
with the run's Keras greedy search (the SavedModel's, line for line) and
both are scored with BLEU. Writes `results.json` to `--output` (default
`benchmarks/results/tflite_batched/`). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import functools
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
import json, sys, threading, time
import numpy as np
import sentencepiece
from ai_edge_litert import interpreter as litert
from nlp_lstm.text.unicode import normalize_spaces

settings = json.loads(sys.argv[1])
batch, eos = settings["batch_size"], settings["eos_id"]
processor = sentencepiece.SentencePieceProcessor(model_file=settings["sentencepiece"])
with open(settings["sources"], encoding="utf-8") as stream:
    texts = [line.rstrip("\n") for line in stream]
start = time.perf_counter()
runners = [
    litert.Interpreter(model_path=settings["model"], num_threads=1)
    .get_signature_runner()  # the only one (a lone function converts as the default)
    for _ in range(settings["interpreters"])
]
loaded = time.perf_counter() - start
rows = [ids[: settings["max_source_tokens"]] + [eos]
        for ids in processor.encode([normalize_spaces(t) for t in texts])]
order = sorted(range(len(rows)), key=lambda index: len(rows[index]))
batches = []
for first in range(0, len(order), batch):
    chosen = order[first : first + batch]
    # Rows past the texts: a lone EOS (an empty source), never read back.
    padded = [rows[index] for index in chosen] + [[eos]] * (batch - len(chosen))
    width = max(len(row) for row in padded)
    batches.append((chosen, np.array([r + [0] * (width - len(r)) for r in padded],
                                     np.int32)))
outputs = [None] * len(texts)

def work(runner, mine):
    for chosen, ids in mine:
        result = runner(source_ids=ids, max_length=np.zeros([batch], np.int32),
                        eos_id=np.array([eos], np.int32))
        for row, index in enumerate(chosen):
            outputs[index] = result["ids"][row, : result["length"][row]].tolist()

began = time.perf_counter()
threads = [threading.Thread(target=work, args=(runner, batches[k::len(runners)]))
           for k, runner in enumerate(runners)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
seconds = time.perf_counter() - began
status = open("/proc/self/status").read()
print(json.dumps({
    "load_s": loaded,
    "translate_s": seconds,
    "sentences_per_s": len(texts) / seconds,
    "peak_rss_mb": int(status.split("VmHWM:")[1].split()[0]) / 1024,
    "translations": processor.decode(outputs),
}))
"""


def batched_file(bundle, path: str, batch_size: int, quantize: str) -> None:
    """Converts the run's `TranslatorTFLite` with one greedy signature at a
    fixed batch (the fused encoder at that batch)."""
    import tensorflow as tf

    from nlp_lstm.export.tflite import convert as convert_lib
    from nlp_lstm.export.tflite import peepholes as peepholes_lib
    from nlp_lstm.export.tflite.encoder import FusedEncoderLayers
    from nlp_lstm.export.tflite.fused_lstm import frozen_weights
    from nlp_lstm.export.tflite.translator import TranslatorTFLite

    decoding, model = bundle.config.decoding, bundle.model
    module = TranslatorTFLite(
        model,
        beam_size=max(decoding.beam_size, 2),
        max_length_ratio=decoding.max_length_ratio,
        max_length_offset=decoding.max_length_offset,
        max_source_tokens=decoding.max_source_tokens,
    )
    module.encoder_layers = FusedEncoderLayers(model.encoder, batch=batch_size)
    module.encoder_fn = functools.partial(model.encoder, layer_fn=module.encoder_layers)

    def translate_greedy_batch(source_ids, max_length, eos_id):
        with frozen_weights(module.weights):
            return module.search(source_ids, max_length, eos_id, beam=False)

    function = tf.function(translate_greedy_batch, autograph=False)
    concrete = function.get_concrete_function(
        tf.TensorSpec([batch_size, None], tf.int32, name="source_ids"),
        tf.TensorSpec([batch_size], tf.int32, name="max_length"),
        tf.TensorSpec([1], tf.int32, name="eos_id"),
    )
    data = convert_lib.convert(module, [concrete], quantize)
    if module.peepholes:
        data = peepholes_lib.add_peepholes(data, module.peepholes)
    data = peepholes_lib.remove_cell_clip(data)
    with open(path, "wb") as stream:
        stream.write(data)


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
    from nlp_lstm.utils.files import atomic_write_json

    bundle = nlp_lstm.load(args.run)
    with gzip.open(args.sources, "rt", encoding="utf-8") as stream:
        texts = [line.rstrip("\n") for line in stream]
    with gzip.open(args.references, "rt", encoding="utf-8") as stream:
        references = [line.rstrip("\n") for line in stream]
    reference_outputs = bundle.translate(texts, beam_size=1)
    work = tempfile.mkdtemp(prefix="tflite_batched_")
    model_path = os.path.join(work, "batched.tflite")
    batched_file(bundle, model_path, args.batch_size, args.quantize)
    sentencepiece_path = os.path.join(work, "target.spm.model")
    with open(sentencepiece_path, "wb") as stream:
        stream.write(bundle.tokenizers["target"])
    sources_path = os.path.join(work, "sources.txt")
    with open(sources_path, "w", encoding="utf-8") as stream:
        stream.writelines(text + "\n" for text in texts * args.copies)
    settings = {
        "model": model_path,
        "sentencepiece": sentencepiece_path,
        "sources": sources_path,
        "batch_size": args.batch_size,
        "interpreters": args.interpreters,
        "eos_id": bundle.model.eos_id,
        "max_source_tokens": bundle.config.decoding.max_source_tokens,
    }
    if bundle.tokenizers["source"] != bundle.tokenizers["target"]:
        raise SystemExit("this benchmark handles shared vocabularies only")
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
