"""One-off: the UD tagger (300 steps) exported by issue 13's code and by HEAD, same weights:
SavedModel serving_default (TF, 1 thread) and .tflite (LiteRT, 1 thread), batch 1, text in,
outputs compared, latency interleaved round robin over 300 dev sentences x 3 rounds."""
import json, statistics, sys, time
import tensorflow as tf
import tensorflow_text  # noqa: F401
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from nlp_lstm.export.tflite.runtime import TFLiteTagger
texts = []
for line in open("/work/shared/data/ud_english_ewt/en_ewt-ud-test.conllu", encoding="utf-8"):
    if line.startswith("# text = "): texts.append(line[9:].strip())
texts = texts[:300]
sm = {k: tf.saved_model.load(p).signatures["serving_default"] for k, p in
      (("issue13", "/work/exp/s41/oldsm/tagger_ud_ewt_upos/1"), ("HEAD", "/work/main/saved_models/tagger_ud_ewt_upos/1"))}
tl = {k: TFLiteTagger(p, num_threads=1) for k, p in
      (("issue13", "/work/exp/s41/oldud.tflite"), ("HEAD", "/work/exp/s41/tflite/tagger_ud_ewt_upos.none.tflite"))}
def run_sm(f, t): return {k: v.numpy().tolist() for k, v in f(sentences=tf.constant([t])).items()}
def run_tl(m, t): return m.tag([t])
for label, models, run in (("SavedModel", sm, run_sm), ("tflite", tl, run_tl)):
    outs = {k: [run(m, t) for t in texts] for k, m in models.items()}
    same = sum(str(a) == str(b) for a, b in zip(*outs.values()))
    times = {k: [] for k in models}
    for r in range(3):
        for t in texts:
            for k, m in (models.items() if r % 2 == 0 else reversed(list(models.items()))):
                s = time.perf_counter(); run(m, t); times[k].append(time.perf_counter() - s)
    print(label, "identical", same, "of", len(texts), {k: round(statistics.median(v) * 1e3, 2) for k, v in times.items()}, flush=True)
